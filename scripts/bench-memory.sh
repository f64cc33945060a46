#!/usr/bin/env bash
# Benchmark (d): 10,000 distinct senders. Sends one message from each of
# BENCH_SENDERS (10000) senders (qm-milter-load --senders cycle:N, 8
# connections) through quotamilter, then reports Redis memory (used_memory,
# keys) and quotamilter's resident set size, before and after, per rule file:
#   sender-rate.json   one quota per sender
#   hudedu-bench.json  the reference rules (internal_outbound: 3 quotas per
#                      sender + 1 per client network)
# Each round starts from an empty Redis (FLUSHALL) and a fresh quotamilter;
# medians of BENCH_ROUNDS rounds.
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib/bench-common.sh"

senders="${BENCH_SENDERS:-10000}"
rule_files=(sender-rate hudedu-bench)

qm_harness_init
bench_build
bench_deadline_set "${BENCH_TIME_LIMIT:-900}"
qm_start_redis REDIS
redis_url="redis://127.0.0.1:$REDIS_PORT/0"
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
redis_info() { rcli info memory | tr -d '\r' | awk -F: -v k="$1" '$1 == k {print $2}'; }

bench_machine
echo "benchmark (d): $senders distinct senders, one message each, $BENCH_ROUNDS rounds; redis $(redis-server --version | awk '{print $3}')"

failures=0
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
  bench_deadline_passed && { bench_log "time limit reached after $((round - 1)) rounds"; break; }
  for rules in "${rule_files[@]}"; do
    rcli flushall >/dev/null
    name="QM_${round}_$(echo "$rules" | tr 'a-z-' 'A-Z_')"
    bench_start_quotamilter "$name" tcp "$BENCH_RULES_DIR/$rules.json" "$redis_url"
    pid_var="${name}_PID" socket_var="${name}_SOCKET"
    pid="${!pid_var}"
    # One message first: connections to Redis and the Lua script exist, so
    # "before" is the idle working size of a running milter.
    "$BENCH_TOOLS/qm-milter-load" --socket "${!socket_var}" --connections 8 --messages 8 --sender warmup >/dev/null
    rss_before=$(bench_rss_kib "$pid")
    mem_before=$(redis_info used_memory)
    out=$("$BENCH_TOOLS/qm-milter-load" --socket "${!socket_var}" --connections 8 --messages "$senders" \
      --senders "cycle:$senders" --time-limit 300) || { failures=$((failures + 1)); bench_log "load failed"; }
    result=$(printf '%s\n' "$out" | grep '^RESULT' || true)
    sleep 0.5
    rss_after=$(bench_rss_kib "$pid")
    mem_after=$(redis_info used_memory)
    keys=$(rcli dbsize)
    qm_stop_pid "$pid"
    accepted=$(bench_field "$result" accepted)
    [ "$accepted" = "$senders" ] || bench_log "WARNING: $rules: $accepted of $senders accepted"
    bench_record "$rules" keys "$keys"
    bench_record "$rules" redis_mib "$(awk -v a="$mem_after" -v b="$mem_before" 'BEGIN {printf "%.2f", (a - b) / 1048576}')"
    bench_record "$rules" bytes_per_sender "$(awk -v a="$mem_after" -v b="$mem_before" -v n="$senders" 'BEGIN {printf "%.0f", (a - b) / n}')"
    bench_record "$rules" rss_before_mib "$(awk -v k="$rss_before" 'BEGIN {printf "%.1f", k / 1024}')"
    bench_record "$rules" rss_after_mib "$(awk -v k="$rss_after" 'BEGIN {printf "%.1f", k / 1024}')"
    bench_record "$rules" rate "$(bench_field "$result" msgs_per_s)"
    bench_log "round $round $rules: keys $keys, redis +$(((mem_after - mem_before) / 1024)) KiB, RSS ${rss_before} -> ${rss_after} KiB"
  done
done

echo
echo "medians over the rounds"
printf '%-14s %8s %14s %16s %14s %14s %9s\n' rules "keys" "redis +MiB" "redis B/sender" "qm RSS before" "qm RSS after" "msg/s"
for rules in "${rule_files[@]}"; do
  printf '%-14s %8.0f %14s %16s %14s %14s %9s\n' "$rules" "$(bench_median_of "$rules" keys)" \
    "$(bench_median_of "$rules" redis_mib)" "$(bench_median_of "$rules" bytes_per_sender)" \
    "$(bench_median_of "$rules" rss_before_mib)" "$(bench_median_of "$rules" rss_after_mib)" \
    "$(bench_median_of "$rules" rate)"
done
[ "$failures" -eq 0 ] || exit 1
