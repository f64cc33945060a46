#!/usr/bin/env bash
# Where quotamilter's time goes at the milter level: runs qm-milter-load at
# BENCH_CONNECTIONS (8) against quotamilter (rules BENCH_PROFILE_RULES,
# default bench/rules/hudedu-bench.json) with Redis, under
#   perf record (quotamilter and redis-server, flat profiles by symbol),
# and prints: throughput, CPU ms per message of each process, Redis commands
# per message with their µs per call (INFO commandstats), and the top symbols.
# With BENCH_PROFILE_E2E=1 it profiles instead the whole machine (perf -a)
# while smtp-source sends through Postfix to quotamilter (as in benchmark
# (b)), and prints the CPU split by process name: what limits end to end.
# Not a benchmark with rounds: a diagnosis tool (docs/BENCHMARKS.md, "Profiles").
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib/bench-common.sh"

messages="${BENCH_MESSAGES:-20000}"
connections="${BENCH_CONNECTIONS:-8}"
rules="${BENCH_PROFILE_RULES:-$BENCH_RULES_DIR/hudedu-bench.json}"
senders="${BENCH_SENDERS:-uniform:1000}"
command -v perf >/dev/null || qm_die "perf missing (scripts/install-bench-deps.sh installs linux-perf)"

qm_harness_init
bench_build
qm_start_redis REDIS
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
bench_start_quotamilter QM tcp "$rules" "redis://127.0.0.1:$REDIS_PORT/0"

if [ "${BENCH_PROFILE_E2E:-0}" = 1 ]; then
  qm_start_sink SINK
  e2e_messages="${BENCH_E2E_MESSAGES:-4000}"
  bench_machine
  for milter in "" "$QM_POSTFIX"; do
    name=PF_NONE
    [ -n "$milter" ] && name=PF_QM
    bench_start_postfix "$name" "$milter"
    port_var="${name}_PORT"
    smtp-source -s 20 -m 500 -l 1024 -f bench@hudedu.net -t r0@example.com "127.0.0.1:${!port_var}"  # warm-up
    bench_wait_queue_empty "$name" 60
    perf record -a -F 499 -o "$QM_TMP/$name.perf" >/dev/null 2>&1 &
    perf_pid=$!
    start=$(date +%s%N)
    timeout 300 smtp-source -s 20 -m "$e2e_messages" -l 1024 -f bench@hudedu.net -t r0@example.com "127.0.0.1:${!port_var}"
    end=$(date +%s%N)
    kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
    echo
    echo "end to end, smtpd_milters='${milter}': $(awk -v n="$e2e_messages" -v ns=$((end - start)) 'BEGIN {printf "%.1f", n / (ns / 1e9)}') msg/s;"
    echo "whole-machine CPU samples by process (perf -a; other engineers' work shows up as cc1plus, make, ...):"
    perf report -i "$QM_TMP/$name.perf" --stdio --no-children --sort comm 2>/dev/null | grep -E '^ +[0-9]' |
      sed 's/ *$//; s/  */ /g' | head -n 15
    bench_wait_queue_empty "$name" 60
  done
  exit 0
fi
"$BENCH_TOOLS/qm-milter-load" --socket "$QM_SOCKET" --connections 8 --messages 500 --senders "$senders" >/dev/null
rcli config resetstat >/dev/null

bench_machine
qm_cpu0=$(bench_cpu_ms "$QM_PID") redis_cpu0=$(bench_cpu_ms "$REDIS_PID")
perf record -F 999 -o "$QM_TMP/qm.perf" -p "$QM_PID" >/dev/null 2>&1 &
perf_qm=$!
perf record -F 999 -o "$QM_TMP/redis.perf" -p "$REDIS_PID" >/dev/null 2>&1 &
perf_redis=$!
qm_on_exit "qm_stop_pid $perf_qm; qm_stop_pid $perf_redis"
sleep 1
out=$("$BENCH_TOOLS/qm-milter-load" --socket "$QM_SOCKET" --connections "$connections" --messages "$messages" \
  --senders "$senders" --time-limit 300)
kill -INT "$perf_qm" "$perf_redis" 2>/dev/null || true
wait "$perf_qm" "$perf_redis" 2>/dev/null || true
qm_cpu1=$(bench_cpu_ms "$QM_PID") redis_cpu1=$(bench_cpu_ms "$REDIS_PID")
printf '%s\n' "$out" | grep -v '^RESULT'
echo
echo "rules $(basename "$rules"), $connections connections, $messages messages"
awk -v q=$((qm_cpu1 - qm_cpu0)) -v r=$((redis_cpu1 - redis_cpu0)) -v n="$messages" \
  'BEGIN {printf "CPU per message: quotamilter %.3f ms, redis-server %.3f ms\n", q / n, r / n}'
echo "Redis commands per message (INFO commandstats):"
rcli info commandstats | tr -d '\r' | grep '^cmdstat_' | sed 's/^cmdstat_//; s/:calls=/ /; s/,usec=/ /; s/,usec_per_call=/ /' |
  awk -v n="$messages" '{split($4, a, ","); printf "  %-10s %6.2f calls/message, %7.2f µs per call\n", $1, $2 / n, a[1]}'
echo
top() {  # PERF_FILE SORT LINES
  perf report -i "$1" --stdio --no-children --sort "$2" 2>/dev/null | grep -E '^ +[0-9]' |
    sed 's/ *$//; s/  */ /g' | cut -c1-110 | head -n "$3"
}
echo "quotamilter: samples by object (perf, flat, % of its samples)"
top "$QM_TMP/qm.perf" dso 8
echo "quotamilter: top symbols"
top "$QM_TMP/qm.perf" dso,symbol 30
echo
echo "redis-server: samples by object, top symbols"
top "$QM_TMP/redis.perf" dso 5
top "$QM_TMP/redis.perf" dso,symbol 15
