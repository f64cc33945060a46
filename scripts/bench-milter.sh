#!/usr/bin/env bash
# Benchmark (a), milter level: quotamilter (with Redis) against the null
# milter, driven by qm-milter-load over the milter protocol (no MTA), at 1, 8
# and 64 concurrent connections. Configurations alternate round by round;
# medians of BENCH_ROUNDS rounds and ratios from this one run are printed.
#
#   null-all   qm-null-milter, every stage (HELO, 5 headers, EOH, body too)
#   null-qm    qm-null-milter negotiating quotamilter's stages for rules
#              without a bytes quota (connect, MAIL, RCPT, DATA, EOM): the
#              same round trips as qm-1quota, no work
#   null-bytes qm-null-milter negotiating quotamilter's stages for rules with
#              a bytes quota (also the 5 headers and the body, each answered):
#              the same round trips as qm, no work
#   null-bytes-nr  as null-bytes, but headers and body negotiated "no reply"
#              (SMFIP_NR_HDR/NR_BODY), as quotamilter negotiates them since
#              4b9af52: the same round trips as qm, no work
#   null-2rt   as null-qm, plus one synchronous Redis round trip (EVALSHA of a
#              trivial Lua script on a per-sender hash, same redis-server) at
#              MAIL and one at end of message: what quotamilter does per
#              message with sender-rate.json, without any of its code. The
#              floor of "libmilter + 2 Redis round trips per message"
#   qm         quotamilter serve, bench/rules/hudedu-bench.json (the reference
#              rules with limits high enough that nothing is refused: the
#              internal_outbound policy applies, 4 quotas per message, one of
#              them bytes), Redis
#   qm-1quota  quotamilter with bench/rules/sender-rate.json (one quota)
#   qm-mem     as qm-1quota but with the in-process store (--redis memory:):
#              quotamilter's own cost without Redis round trips
# Fair pairs: qm vs null-bytes-nr, qm-1quota vs null-qm; and qm-1quota vs
# null-2rt (same milter stages and same Redis round trips: what is left is
# quotamilter's own code).
#
# Environment: BENCH_ROUNDS (5), BENCH_MESSAGES (3000 per run),
# BENCH_CONNECTIONS ("1 8 64"), BENCH_SENDERS (uniform:1000), BENCH_SOCKET
# (tcp|unix, default tcp), BENCH_TIME_LIMIT (whole benchmark, 1200 s).
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib/bench-common.sh"

messages="${BENCH_MESSAGES:-3000}"
connection_counts="${BENCH_CONNECTIONS:-1 8 64}"
senders="${BENCH_SENDERS:-uniform:1000}"
socket_kind="${BENCH_SOCKET:-tcp}"
configs=(null-all null-qm null-bytes null-bytes-nr null-2rt qm qm-1quota qm-mem)

qm_harness_init
bench_build
bench_deadline_set "${BENCH_TIME_LIMIT:-1200}"
qm_start_redis REDIS
redis_url="redis://127.0.0.1:$REDIS_PORT/0"
bench_start_null_milter NULLALL "$socket_kind"
bench_start_null_milter NULLQM "$socket_kind" --stages quotamilter
bench_start_null_milter NULLB "$socket_kind" --stages quotamilter-bytes
bench_start_null_milter NULLBNR "$socket_kind" --stages quotamilter-bytes --no-reply-content
bench_start_null_milter NULL2RT "$socket_kind" --stages quotamilter --redis "127.0.0.1:$REDIS_PORT" --round-trips-at mail,eom
bench_start_quotamilter QM "$socket_kind" "$BENCH_RULES_DIR/hudedu-bench.json" "$redis_url"
bench_start_quotamilter QM1 "$socket_kind" "$BENCH_RULES_DIR/sender-rate.json" "$redis_url" --key-prefix "qm1:"
bench_start_quotamilter QMMEM "$socket_kind" "$BENCH_RULES_DIR/sender-rate.json" "memory:"

socket_of() {
  case "$1" in
    null-all) echo "$NULLALL_SOCKET" ;;
    null-qm) echo "$NULLQM_SOCKET" ;;
    null-bytes) echo "$NULLB_SOCKET" ;;
    null-bytes-nr) echo "$NULLBNR_SOCKET" ;;
    null-2rt) echo "$NULL2RT_SOCKET" ;;
    qm) echo "$QM_SOCKET" ;;
    qm-1quota) echo "$QM1_SOCKET" ;;
    qm-mem) echo "$QMMEM_SOCKET" ;;
  esac
}
pid_of() {
  case "$1" in
    null-all) echo "$NULLALL_PID" ;;
    null-qm) echo "$NULLQM_PID" ;;
    null-bytes) echo "$NULLB_PID" ;;
    null-bytes-nr) echo "$NULLBNR_PID" ;;
    null-2rt) echo "$NULL2RT_PID" ;;
    qm) echo "$QM_PID" ;;
    qm-1quota) echo "$QM1_PID" ;;
    qm-mem) echo "$QMMEM_PID" ;;
  esac
}

bench_machine
echo "benchmark (a): milter level, $messages messages per run, senders $senders, $socket_kind sockets, $BENCH_ROUNDS rounds"

# Warm-up: every milter once (threads, Redis scripts loaded, page cache).
for config in "${configs[@]}"; do
  "$BENCH_TOOLS/qm-milter-load" --socket "$(socket_of "$config")" --connections 8 --messages 500 \
    --senders "$senders" --time-limit 60 >/dev/null
done

failures=0
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
  bench_deadline_passed && { bench_log "time limit reached after $((round - 1)) rounds"; break; }
  for k in $connection_counts; do
    # Alternate the order round by round so no configuration always runs first.
    order=("${configs[@]}")
    if ((round % 2 == 0)); then
      order=()
      for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[$i]}"); done
    fi
    for config in "${order[@]}"; do
      pid=$(pid_of "$config")
      redis_calls_before=$(bench_redis_scripts "$REDIS_PORT")
      redis_usec_before=$(bench_redis_script_usec "$REDIS_PORT")
      redis_cpu_before=$(bench_cpu_ms "$REDIS_PID")
      cpu_before=$(bench_cpu_ms "$pid")
      out=$("$BENCH_TOOLS/qm-milter-load" --socket "$(socket_of "$config")" --connections "$k" \
        --messages "$messages" --senders "$senders" --seed "$round" --time-limit 120) || {
        bench_log "round $round $config k=$k: load generator failed"; failures=$((failures + 1)); }
      cpu_after=$(bench_cpu_ms "$pid")
      redis_cpu_after=$(bench_cpu_ms "$REDIS_PID")
      redis_calls_after=$(bench_redis_scripts "$REDIS_PORT")
      redis_usec_after=$(bench_redis_script_usec "$REDIS_PORT")
      result=$(printf '%s\n' "$out" | grep '^RESULT' || true)
      [ -n "$result" ] || continue
      rejected=$(($(bench_field "$result" rejected) + $(bench_field "$result" tempfailed)))
      [ "$rejected" -eq 0 ] || bench_log "WARNING: $config refused $rejected messages"
      bench_record "$config.k$k" rate "$(bench_field "$result" msgs_per_s)"
      bench_record "$config.k$k" p50 "$(bench_field "$result" message_p50_us)"
      bench_record "$config.k$k" p99 "$(bench_field "$result" message_p99_us)"
      bench_record "$config.k$k" mailp99 "$(bench_field "$result" mail_p99_us)"
      bench_record "$config.k$k" eomp99 "$(bench_field "$result" eom_p99_us)"
      bench_record "$config.k$k" cpu "$(awk -v c=$((cpu_after - cpu_before)) -v m="$messages" 'BEGIN {printf "%.3f", c / m}')"
      bench_record "$config.k$k" rediscpu "$(awk -v c=$((redis_cpu_after - redis_cpu_before)) -v m="$messages" 'BEGIN {printf "%.3f", c / m}')"
      bench_record "$config.k$k" luausec "$(awk -v u=$((redis_usec_after - redis_usec_before)) -v c=$((redis_calls_after - redis_calls_before)) 'BEGIN {printf "%.1f", (c > 0) ? u / c : 0}')"
      bench_record "$config.k$k" rediscalls "$(awk -v c=$((redis_calls_after - redis_calls_before)) -v m="$messages" 'BEGIN {printf "%.2f", c / m}')"
      bench_log "round $round k=$k $config: $(bench_field "$result" msgs_per_s) msg/s"
    done
  done
done

echo
echo "medians over the rounds (msg/s; latency of a whole message, MAIL to end-of-message answer, in µs;"
echo "CPU ms per message of the milter process and of redis-server; Lua scripts (Redis round trips) per message and Redis µs per script)"
printf '%-13s %4s %9s %9s %9s %9s %9s %8s %9s %7s %7s %7s\n' config conns "msg/s" "p50 µs" "p99 µs" "MAIL p99" "EOM p99" "cpu ms" "redis ms" "lua/msg" "µs/lua" "rounds"
for k in $connection_counts; do
  for config in "${configs[@]}"; do
    printf '%-13s %4s %9s %9s %9s %9s %9s %8s %9s %7s %7s %7s\n' "$config" "$k" \
      "$(bench_median_of "$config.k$k" rate)" "$(bench_median_of "$config.k$k" p50)" \
      "$(bench_median_of "$config.k$k" p99)" "$(bench_median_of "$config.k$k" mailp99)" \
      "$(bench_median_of "$config.k$k" eomp99)" "$(bench_median_of "$config.k$k" cpu)" \
      "$(bench_median_of "$config.k$k" rediscpu)" "$(bench_median_of "$config.k$k" rediscalls)" "$(bench_median_of "$config.k$k" luausec)" \
      "$(bench_values "$config.k$k" rate | wc -w)"
  done
done
echo
echo "ratios of medians (throughput); fair pairs: qm/null-bytes-nr and qm-1quota/null-qm (same milter stages);"
echo "qm-1quota/null-2rt: same stages and same 2 Redis round trips (quotamilter's own cost); null-2rt/null-qm: what 2 round trips cost"
for k in $connection_counts; do
  m() { bench_median_of "$1.k$k" rate; }
  printf 'k=%-3s qm/null-bytes-nr %s  qm-1quota/null-qm %s  qm-1quota/null-2rt %s  null-2rt/null-qm %s  qm-mem/null-qm %s  qm/null-all %s  null-bytes-nr/null-bytes %s\n' "$k" \
    "$(bench_ratio "$(m qm)" "$(m null-bytes-nr)")" "$(bench_ratio "$(m qm-1quota)" "$(m null-qm)")" \
    "$(bench_ratio "$(m qm-1quota)" "$(m null-2rt)")" "$(bench_ratio "$(m null-2rt)" "$(m null-qm)")" \
    "$(bench_ratio "$(m qm-mem)" "$(m null-qm)")" \
    "$(bench_ratio "$(m qm)" "$(m null-all)")" "$(bench_ratio "$(m null-bytes-nr)" "$(m null-bytes)")"
done
# Per-round ratios of the decisive pair (rounds alternate, so each round's
# pair ran seconds apart): how much one noisy round moves the median.
for k in $connection_counts; do
  paste -d' ' <(bench_values "qm-1quota.k$k" rate | tr ' ' '\n') <(bench_values "null-2rt.k$k" rate | tr ' ' '\n') |
    awk -v k="$k" 'NF == 2 && $2 > 0 {r = r sprintf(" %.2f", $1 / $2)} END {print "k=" k " qm-1quota/null-2rt per round:" r}'
done
null2rt_errors=$(grep -c 'redis error' "$QM_TMP/null2rt.log" 2>/dev/null || true)
[ "${null2rt_errors:-0}" -eq 0 ] || { bench_log "WARNING: null-2rt logged Redis errors (see $QM_TMP/null2rt.log): its figures are void"; failures=$((failures + 1)); }
if [[ " $connection_counts " == *" 8 "* ]]; then
  for pair in "qm null-bytes-nr" "qm-1quota null-qm" "qm-1quota null-2rt"; do
    set -- $pair
    target=$(bench_ratio "$(bench_median_of "$1.k8" rate)" "$(bench_median_of "$2.k8" rate)")
    verdict=$(awk -v r="$target" 'BEGIN {print (r >= 0.8) ? "met" : "MISSED"}')
    echo "target: $1 >= 0.8x $2 at 8 connections: $target ($verdict)"
  done
fi
[ "$failures" -eq 0 ] || { echo "$failures run(s) failed" >&2; exit 1; }
