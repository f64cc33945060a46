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

# ---- 1. opendkim, signing; over TCP and over a unix socket
dkim_dir="$QM_TMP/opendkim"
mkdir -p "$dkim_dir"
opendkim-genkey -D "$dkim_dir" -d hudedu.net -s bench >/dev/null 2>&1
start_opendkim() {  # SOCKET NAME: opendkim in the background on SOCKET; sets QM_SVC_PID
  cat >"$dkim_dir/$2.conf" <<CONF
Syslog                 no
LogWhy                 no
Mode                   s
Domain                 hudedu.net
Selector               bench
KeyFile                $dkim_dir/bench.private
RequireSafeKeys        false
Canonicalization       relaxed/simple
InternalHosts          127.0.0.1
Socket                 $1
PidFile                $dkim_dir/$2.pid
Background             no
CONF
  opendkim -f -x "$dkim_dir/$2.conf" >"$dkim_dir/$2.log" 2>&1 &
  QM_SVC_PID=$!
}
qm_start_on_free_port qm_with_inet_socket start_opendkim tcp || { cat "$dkim_dir/tcp.log" >&2; qm_die "opendkim did not start"; }
dkim_port="$QM_SVC_PORT" dkim_tcp_pid="$QM_SVC_PID"
qm_on_exit "qm_stop_pid $dkim_tcp_pid"
start_opendkim "local:$dkim_dir/opendkim.sock" unix
dkim_unix_pid="$QM_SVC_PID"
qm_on_exit "qm_stop_pid $dkim_unix_pid"
bench_wait_unix_socket "$dkim_dir/opendkim.sock" "$dkim_unix_pid" || { cat "$dkim_dir/unix.log" >&2; qm_die "opendkim (unix) did not start"; }
bench_log "opendkim on 127.0.0.1:$dkim_port (pid $dkim_tcp_pid) and $dkim_dir/opendkim.sock (pid $dkim_unix_pid)"

for run in "tcp 1" "tcp 8" "unix 1" "unix 8"; do
  set -- $run
  socket="inet:$dkim_port@127.0.0.1"
  [ "$1" = unix ] && socket="unix:$dkim_dir/opendkim.sock"
  out=$("$BENCH_TOOLS/qm-milter-load" --socket "$socket" --connections "$2" \
    --messages "$messages" --senders uniform:100 --time-limit 120) || true
  printf '%s\n' "$out" | grep -v '^RESULT'
  result=$(printf '%s\n' "$out" | grep '^RESULT' || true)
  what="opendkim $1 k=$2"
  check "$what: $messages messages answered" "[ '$(bench_field "$result" messages)' = '$messages' ]"
  check "$what: all accepted" "[ '$(bench_field "$result" accepted)' = '$messages' ]"
  check "$what: one header added per message (DKIM-Signature)" \
    "[ '$(bench_field "$result" modifications)' = '$messages' ]"
  check "$what: no protocol errors" "[ '$(bench_field "$result" errors)' = 0 ]"
  echo "$what: $(bench_field "$result" msgs_per_s) msg/s, end-of-message p50 $(bench_field "$result" eom_p50_us) µs"
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
