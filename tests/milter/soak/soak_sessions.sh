#!/usr/bin/env bash
# Soak: SESSIONS concurrent SMTP sessions through a private Postfix into
# quotamilter (Redis store) for DURATION seconds; samples quotamilter's thread
# count and RSS every 10 s. Boundedness means: no growth after the first
# minute. A measurement tool (not a ctest test): prints a table and a verdict.
#   QUOTAMILTER=build/quotamilter tests/milter/soak/soak_sessions.sh [DURATION] [SESSIONS]
set -euo pipefail
DURATION="${1:-300}"
SESSIONS="${2:-20}"
QM_SOURCE_DIR="${QM_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}"
source "$QM_SOURCE_DIR/scripts/lib/harness.sh"
qm_harness_init
qm_start_redis REDIS
qm_start_sink SINK
qm_start_quotamilter QM "$QM_SOURCE_DIR/tests/milter/soak/soak_rules.json" "redis://127.0.0.1:$REDIS_PORT/0"
qm_start_postfix PF "$QM_POSTFIX" "$SINK_PORT" "in_flow_delay = 0s" "smtpd_client_connection_count_limit = 0" \
  "default_process_limit = 200" "smtpd_client_connection_rate_limit = 0"

end=$((SECONDS + DURATION))
# Load: SESSIONS parallel smtp-source loops (several messages per session,
# several recipients), plus a trickle of refused mail.
load() {
  while [ $SECONDS -lt $end ]; do
    smtp-source -s "$SESSIONS" -m $((SESSIONS * 20)) -r 3 -l 2048 -f soak@hudedu.net -t rcpt@ext.example \
      "127.0.0.1:$PF_PORT" >/dev/null 2>&1 || true
    smtp-source -s 2 -m 4 -f refused@hudedu.net -t rcpt@ext.example "127.0.0.1:$PF_PORT" >/dev/null 2>&1 || true
  done
}
load &
load_pid=$!
qm_on_exit "kill $load_pid 2>/dev/null || true"

printf '%6s %8s %10s\n' "t(s)" threads "rss(kB)"
start=$SECONDS
first_minute_threads=0 first_minute_rss=0 max_threads_after=0 max_rss_after=0
while [ $SECONDS -lt $end ]; do
  sleep 10
  t=$((SECONDS - start))
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$QM_PID/status")
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$QM_PID/status")
  printf '%6d %8d %10d\n' "$t" "$threads" "$rss"
  if [ "$t" -le 60 ]; then
    [ "$threads" -gt "$first_minute_threads" ] && first_minute_threads=$threads
    [ "$rss" -gt "$first_minute_rss" ] && first_minute_rss=$rss
  else
    [ "$threads" -gt "$max_threads_after" ] && max_threads_after=$threads
    [ "$rss" -gt "$max_rss_after" ] && max_rss_after=$rss
  fi
done
wait "$load_pid" || true
sent=$(grep -c 'status=sent' "$PF_LOG" || true)
refused=$(grep -c 'milter-reject' "$PF_LOG" || true)
echo "delivered $sent recipients, $refused milter refusals"
echo "first minute: max threads $first_minute_threads, max RSS ${first_minute_rss} kB"
echo "after:        max threads $max_threads_after, max RSS ${max_rss_after} kB"
# Allow 10% RSS noise (allocator arenas), no extra threads beyond the first minute's peak + 2.
if [ "$max_threads_after" -le $((first_minute_threads + 2)) ] && [ "$max_rss_after" -le $((first_minute_rss * 110 / 100)) ]; then
  echo "bounded: yes"
else
  echo "bounded: NO"
  exit 1
fi
