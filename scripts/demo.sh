#!/usr/bin/env bash
# The README's "run it" command: quotamilter in front of a real Postfix, with
# counters in a real Redis, enforcing the reference rules
# (rules/examples/hudedu.json). Everything runs privately on loopback, on free
# ports, in a temp directory, and is stopped when the demo ends (or fails).
#   sudo scripts/demo.sh        (about a minute; needs root for Postfix)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

bold() { if [ -t 1 ]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }
say() { printf '   %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (a private Postfix instance needs it): sudo $0" >&2
  exit 1
fi

bold "1. Installing dependencies and building quotamilter (build/)"
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target quotamilter >/dev/null
QUOTAMILTER="$root/build/quotamilter"
say "built $QUOTAMILTER ($("$QUOTAMILTER" --version 2>/dev/null || echo '?'))"
rules="$root/rules/examples/hudedu.json"
"$QUOTAMILTER" check "$rules"
say "rules: $rules (valid)"

bold "2. Starting a private Redis, Postfix and quotamilter on loopback"
# shellcheck source=lib/harness.sh
source "$root/scripts/lib/harness.sh"
qm_harness_init
qm_start_redis REDIS 2>/dev/null
qm_start_sink SINK 2>/dev/null
qm_start_quotamilter QM "$rules" "redis://127.0.0.1:$REDIS_PORT/0" 2>/dev/null
qm_start_postfix PF "$QM_POSTFIX" "$SINK_PORT" 2>/dev/null
say "redis-server      127.0.0.1:$REDIS_PORT (no persistence)"
say "quotamilter       $QM_SOCKET  (log: $QM_LOG)"
say "Postfix smtpd     127.0.0.1:$PF_PORT  (smtpd_milters = $QM_POSTFIX, milter_default_action = tempfail)"
say "delivery          smtp-sink on 127.0.0.1:$SINK_PORT"
say "What the rules say (quotamilter explain):"
"$QUOTAMILTER" explain --rules "$rules" --sender user1@hudedu.net --rcpt bob@hudedu.net |
  sed -n '/^result/,$p' | sed 's/^/      /'
"$QUOTAMILTER" explain --rules "$rules" --sender user2@hudedu.net --rcpt bob@hudedu.net |
  sed -n '/^result/p' | sed 's/^/      /'

# send FROM: one message with swaks; sets RC and OUT. A 4xx ("try again
# later", e.g. Redis slow to answer on a busy machine) is retried like a real
# client would, at most 3 times, and said so.
send() {
  local try
  for try in 1 2 3 4; do
    set +e
    OUT="$(swaks --server "127.0.0.1:$PF_PORT" --from "$1" --to "${2:-bob@hudedu.net}" \
        --helo demo.test.invalid --timeout 20 --hide-informational 2>&1)"
    RC=$?
    set -e
    [ "$RC" -ne 0 ] && printf '%s\n' "$OUT" | grep -E '^<\*\* +4[0-9][0-9]' >/dev/null || return 0
    say "(temporary refusal, retrying: $(reply_of '^<\*\*'))"
    sleep 0.5
  done
}
reply_of() { { printf '%s\n' "$OUT" | grep -E '^<(\*\*|-) +[0-9]{3}' | grep -E "${1:-.}" | tail -n 1 | sed -E 's/^<(\*\*|-) +//'; } || true; }

bold "3. user1@hudedu.net sends 51 messages (limit: 50 per 1800 s)"
accepted=0
for i in $(seq 1 51); do
  send user1@hudedu.net
  if [ "$RC" -eq 0 ]; then
    accepted=$((accepted + 1))
    if [ "$i" -eq 1 ] || [ "$i" -eq 50 ]; then
      say "message $i: accepted -> $(reply_of 'queued as')"
    fi
  else
    say "message $i: REFUSED. The SMTP dialogue:"
    printf '%s\n' "$OUT" | grep -E '^ *(~>|<~|->|<-|<\*\*|\*\*>) *(MAIL|RCPT|[0-9]{3})' | grep -Ev '^ *<- +250[- ](vm|qm-|PIPELINING|SIZE|VRFY|ETRN|ENHANCED|8BIT|DSN|CHUNKING)' | sed 's/^/      /'
  fi
done
say "=> user1: $accepted accepted, $((51 - accepted)) refused"
say "(windows are counted in buckets of 1/60 of the window, 30 s here, never"
say " under-counting: so 'retry in' may exceed the 30m window by up to 30 s)"
[ "$accepted" -eq 50 ] || { echo "demo: expected 50 accepted for user1, got $accepted" >&2; exit 1; }

bold "4. User1+x@HUDEDU.NET tries to dodge the quota (case and +tag)"
send 'User1+x@HUDEDU.NET'
if [ "$RC" -ne 0 ]; then
  say "refused, the same counter applies: $(reply_of '^<\*\*')"
else
  echo "demo: User1+x@HUDEDU.NET was accepted: the quota was dodged" >&2
  exit 1
fi

bold "5. user2@hudedu.net (exempt: bypass_users_ratelimit) sends 60 messages"
accepted=0
for i in $(seq 1 60); do
  send user2@hudedu.net
  [ "$RC" -eq 0 ] && accepted=$((accepted + 1))
done
say "=> user2: $accepted of 60 accepted, $((60 - accepted)) refused"
[ "$accepted" -eq 60 ] || { echo "demo: expected 60 accepted for user2" >&2; exit 1; }

bold "6. The counters in Redis"
say "\$ redis-cli -p $REDIS_PORT --scan --pattern 'qm:*'"
redis-cli -p "$REDIS_PORT" --scan --pattern 'qm:*' | sed 's/^/      /'
key='qm:{user1@hudedu.net}:user1_ratelimit:sender:messages:1800s'
say "\$ redis-cli -p $REDIS_PORT --eval store/lua/count.lua '$key' , 1800"
say "   (the documented read of one counter, docs/STORE.md: messages admitted in the trailing window)"
redis-cli -p "$REDIS_PORT" --eval store/lua/count.lua "$key" , 1800 | sed 's/^/      /'
say "\$ quotamilter status --redis redis://127.0.0.1:$REDIS_PORT/0 --rules $rules user1@hudedu.net"
# (status exits 1 when a quota is full: the answer to "may user1 send?" is no)
{ "$QUOTAMILTER" status --redis "redis://127.0.0.1:$REDIS_PORT/0" --rules "$rules" user1@hudedu.net || true; } |
  sed 's/^/      /'
say "(user2 is exempt: no counter at all)"

bold "7. Postfix's log: the milter-reject lines"
qm_wait_for_count "$PF_LOG" 'milter-reject' 2 10 || true
grep 'milter-reject' "$PF_LOG" | sed -E 's/^[A-Z][a-z]{2} +[0-9]+ //; s/^/   /'
qm_wait_for_count "$PF_LOG" 'status=sent' 110 20 || true
say "delivered to the sink: $(grep -c 'status=sent' "$PF_LOG" || true) messages (50 from user1 + 60 from user2)"

bold "8. quotamilter's own log (last lines)"
tail -n 4 "$QM_LOG" | sed 's/^/   /'

bold "Done: stopping quotamilter, Postfix, smtp-sink and Redis"
