#!/usr/bin/env bash
# Validates qm-milter-load against milters we did not write, so that it is not
# tuned to ourselves:
#  1. opendkim (Debian's package) in signing mode: every message must come back
#     accepted with exactly one header modification (the DKIM-Signature), and
#     opendkim's own log must show one signature per message.
#  2. quotamilter with Redis: after M messages from one sender, the sender's
#     counter in Redis (read with `quotamilter status`) must say M.
# Prints the throughput seen against opendkim at 1 and 8 connections for
# reference. Exit 1 when a check fails.
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib/bench-common.sh"

messages="${BENCH_MESSAGES:-2000}"
failures=0
check() { if eval "$2"; then echo "ok:   $1"; else echo "FAIL: $1"; failures=$((failures + 1)); fi; }

qm_harness_init
bench_build
command -v opendkim >/dev/null || qm_die "opendkim missing: run scripts/install-bench-deps.sh"
bench_machine

# ---- 1. opendkim, signing
dkim_dir="$QM_TMP/opendkim"
mkdir -p "$dkim_dir"
opendkim-genkey -D "$dkim_dir" -d hudedu.net -s bench >/dev/null 2>&1
dkim_port=$(qm_free_port)
cat >"$dkim_dir/opendkim.conf" <<CONF
Syslog                 no
LogWhy                 no
Mode                   s
Domain                 hudedu.net
Selector               bench
KeyFile                $dkim_dir/bench.private
RequireSafeKeys        false
Canonicalization       relaxed/simple
InternalHosts          127.0.0.1
Socket                 inet:$dkim_port@127.0.0.1
PidFile                $dkim_dir/opendkim.pid
Background             no
CONF
opendkim -f -x "$dkim_dir/opendkim.conf" >"$dkim_dir/opendkim.log" 2>&1 &
dkim_pid=$!
qm_on_exit "qm_stop_pid $dkim_pid"
qm_wait_listening "$dkim_port" 10 "$dkim_pid" || { cat "$dkim_dir/opendkim.log" >&2; qm_die "opendkim did not start"; }
bench_log "opendkim on 127.0.0.1:$dkim_port (pid $dkim_pid)"

for k in 1 8; do
  out=$("$BENCH_TOOLS/qm-milter-load" --socket "inet:$dkim_port@127.0.0.1" --connections "$k" \
    --messages "$messages" --senders uniform:100 --time-limit 120) || true
  printf '%s\n' "$out" | grep -v '^RESULT'
  result=$(printf '%s\n' "$out" | grep '^RESULT' || true)
  check "opendkim k=$k: $messages messages answered" "[ '$(bench_field "$result" messages)' = '$messages' ]"
  check "opendkim k=$k: all accepted" "[ '$(bench_field "$result" accepted)' = '$messages' ]"
  check "opendkim k=$k: one header added per message (DKIM-Signature)" \
    "[ '$(bench_field "$result" modifications)' = '$messages' ]"
  check "opendkim k=$k: no protocol errors" "[ '$(bench_field "$result" errors)' = 0 ]"
done

# ---- 2. quotamilter counts what the generator sends
qm_start_redis REDIS
bench_start_quotamilter QM tcp "$BENCH_RULES_DIR/sender-rate.json" "redis://127.0.0.1:$REDIS_PORT/0"
out=$("$BENCH_TOOLS/qm-milter-load" --socket "$QM_SOCKET" --connections 8 --messages "$messages" \
  --sender counted --sender-domain hudedu.net --time-limit 120) || true
printf '%s\n' "$out" | grep -v '^RESULT'
status=$("$QUOTAMILTER" status --redis "redis://127.0.0.1:$REDIS_PORT/0" --rules "$BENCH_RULES_DIR/sender-rate.json" \
  counted@hudedu.net 2>&1 || true)
echo "$status"
check "quotamilter counted $messages messages of counted@hudedu.net" \
  "printf '%s' \"\$status\" | grep -Eq '(^|[^0-9])$messages(/| of |[^0-9])'"

[ "$failures" -eq 0 ] && echo "load generator validated" || { echo "$failures check(s) failed"; exit 1; }
