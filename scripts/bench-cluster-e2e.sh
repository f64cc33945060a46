#!/usr/bin/env bash
# Benchmark (a measurement, not a test) for issue 7: quotamilter on a 3-master
# Redis Cluster vs one standalone redis-server, at the milter level and end
# to end through Postfix, both stores measured in the same run, rounds
# alternated (order reversed every other round). Target: cluster throughput
# >= 0.90x standalone. Figures: docs/DEPLOYMENT.md, "End to end on a
# 3-master cluster". (scripts/bench-cluster.sh is the store-level benchmark.)
#
#   milter level  qm-milter-load, 8 connections, senders uniform:1000, one
#                 message per connection, straight to quotamilter (TCP)
#   end to end    smtp-source -s 20 -l 1024 (one message per session, sender
#                 bench@hudedu.net, recipient r0@example.com) through a private
#                 Postfix (delivering to discard:) with quotamilter as milter
#
# Rule files (bench/rules/), each against both stores:
#   1q  sender-rate.json   1 quota on the sender: 1 slot per message
#   4q  hudedu-bench.json  internal_outbound, 4 quotas: 3 on the sender, 1 on
#                          the client network: 2 slots per message
# so 4 quotamilter processes (1q/4q x standalone/cluster), each also behind
# its own Postfix. Limits are high enough that nothing is refused: refusals
# (load generator, Postfix logs) and store errors (quotamilter's /metrics)
# are counted and must all be 0.
#
#   scripts/bench-cluster-e2e.sh
# Environment: BENCH_ROUNDS (5), BENCH_MILTER_MESSAGES (5000 per milter-level
# run), BENCH_MESSAGES (2000 per end-to-end run), BENCH_CONNECTIONS (8),
# BENCH_SENDERS (uniform:1000), BENCH_SESSIONS (20), BENCH_BODY (1024),
# BENCH_LEVELS ("milter e2e"), BENCH_STORE_TIMEOUT_MS (250, quotamilter's
# default), BENCH_TIME_LIMIT (1800 s for the whole benchmark), BENCH_SOURCE,
# BENCH_BUILD_DIR, QM_KEEP_TMP (see scripts/lib/bench-common.sh).
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib/bench-common.sh"

milter_messages="${BENCH_MILTER_MESSAGES:-5000}"
messages="${BENCH_MESSAGES:-2000}"
connections="${BENCH_CONNECTIONS:-8}"
senders="${BENCH_SENDERS:-uniform:1000}"
sessions="${BENCH_SESSIONS:-20}"
body="${BENCH_BODY:-1024}"
levels="${BENCH_LEVELS:-milter e2e}"
store_timeout="${BENCH_STORE_TIMEOUT_MS:-250}"
configs=(1q-standalone 1q-cluster 4q-standalone 4q-cluster)

qm_harness_init
bench_build
bench_deadline_set "${BENCH_TIME_LIMIT:-1800}"
qm_start_redis REDIS
bench_start_redis_cluster CLUSTER 3
standalone_url="redis://127.0.0.1:$REDIS_PORT/0"
qm_start_sink SINK

# Per configuration: quotamilter variable prefix, its metrics address, the
# redis-server PIDs of its store, the Postfix instance in front of it.
declare -A qm_of metrics_of redis_pids_of redis_ports_of pf_of pf_port_of
for config in "${configs[@]}"; do
  case "$config" in
    1q-*) rules="$BENCH_RULES_DIR/sender-rate.json" ;;
    4q-*) rules="$BENCH_RULES_DIR/hudedu-bench.json" ;;
  esac
  case "$config" in
    *-standalone) url="$standalone_url" redis_pids_of[$config]="$REDIS_PID" redis_ports_of[$config]="$REDIS_PORT" ;;
    *-cluster) url="$CLUSTER_URL" redis_pids_of[$config]="$CLUSTER_PIDS" redis_ports_of[$config]="$CLUSTER_PORTS" ;;
  esac
  var="QM_$(echo "$config" | tr 'a-z-' 'A-Z_')"
  metrics="127.0.0.1:$(qm_free_port)"
  bench_start_quotamilter "$var" tcp "$rules" "$url" --key-prefix "${config%%-*}:" \
    --store-timeout-ms "$store_timeout" --metrics "$metrics"
  postfix_var="${var}_POSTFIX"
  qm_of[$config]="$var"
  metrics_of[$config]="$metrics"
  if [[ " $levels " == *" e2e "* ]]; then
    pf="PF_$(echo "$config" | tr 'a-z-' 'A-Z_')"
    bench_start_postfix "$pf" "${!postfix_var}"
    port_var="${pf}_PORT"
    pf_of[$config]="$pf" pf_port_of[$config]="${!port_var}"
  fi
done
socket_of() { local v="${qm_of[$1]}_SOCKET"; echo "${!v}"; }
qm_pid_of() { local v="${qm_of[$1]}_PID"; echo "${!v}"; }
redis_cpu_ms() {  # CONFIG -> CPU ms of the redis-server(s) of its store
  local pid sum=0
  for pid in ${redis_pids_of[$1]}; do sum=$((sum + $(bench_cpu_ms "$pid"))); done
  echo "$sum"
}
redis_calls() {  # CONFIG -> scripts (EVALSHA, EVAL) its redis-server(s) ran so far: one per store round trip
  local port sum=0 n
  for port in ${redis_ports_of[$1]}; do
    n=$(redis-cli -h 127.0.0.1 -p "$port" info commandstats 2>/dev/null | tr -d '\r' |
      awk -F'[:=,]' '$1 == "cmdstat_evalsha" || $1 == "cmdstat_eval" { s += $3 } END { printf "%d\n", s }')
    sum=$((sum + n))
  done
  echo "$sum"
}
# Other engineers' work on the machine now: their compilers, linkers, builds, test runs.
others_busy() { ps -eo comm= | grep -c -x -E 'cc1plus|cc1|ld|ld.gold|collect2|make|gmake|ninja|cmake|ctest' || true; }
# What quotamilter counted so far (/metrics): failed store calls, quota refusals.
qm_store_errors() { bench_metric_sum "${metrics_of[$1]}" quotamilter_store_errors_total; }
qm_quota_refusals() { bench_metric_sum "${metrics_of[$1]}" quotamilter_refusals_total; }

bench_machine
echo "redis: $(redis-server --version | cut -d' ' -f3 | cut -d= -f2); standalone 127.0.0.1:$REDIS_PORT; cluster $CLUSTER_URL (3 masters, no replicas)"
echo "quotamilter: $(cat "$BENCH_BIN/SOURCE"), --store-timeout-ms $store_timeout"
echo "milter level: qm-milter-load --connections $connections --messages $milter_messages --senders $senders"
echo "end to end:   Postfix $(postconf -d mail_version | awk '{print $3}'), smtp-source -s $sessions -m $messages -l $body"
echo "rules: 1q = sender-rate.json (1 quota, 1 slot/message), 4q = hudedu-bench.json (4 quotas, 2 slots/message); $BENCH_ROUNDS rounds, levels: $levels"

failures=0
# run_milter CONFIG ROUND: one milter-level run, recorded under milter.CONFIG
run_milter() {
  local config="$1" round="$2" key="milter.$1" qpid rpid_cpu0 qcpu0 errors0 quota0 calls0 out result n refused
  qpid=$(qm_pid_of "$config")
  errors0=$(qm_store_errors "$config") quota0=$(qm_quota_refusals "$config") calls0=$(redis_calls "$config")
  qcpu0=$(bench_cpu_ms "$qpid") rpid_cpu0=$(redis_cpu_ms "$config")
  out=$("$BENCH_TOOLS/qm-milter-load" --socket "$(socket_of "$config")" --connections "$connections" \
    --messages "$milter_messages" --senders "$senders" --seed "$round" --time-limit 120) || {
    bench_log "round $round milter $config: load generator failed"; failures=$((failures + 1)); }
  result=$(printf '%s\n' "$out" | grep '^RESULT' || true)
  [ -n "$result" ] || { failures=$((failures + 1)); return 0; }
  n=$(bench_field "$result" messages)
  refused=$(($(bench_field "$result" rejected) + $(bench_field "$result" tempfailed) + $(bench_field "$result" errors)))
  bench_record "$key" rate "$(bench_field "$result" msgs_per_s)"
  bench_record "$key" p50 "$(bench_field "$result" message_p50_us)"
  bench_record "$key" p99 "$(bench_field "$result" message_p99_us)"
  bench_record "$key" qmcpu "$(awk -v c=$(($(bench_cpu_ms "$qpid") - qcpu0)) -v m="$n" 'BEGIN {printf "%.3f", c / m}')"
  bench_record "$key" rediscpu "$(awk -v c=$(($(redis_cpu_ms "$config") - rpid_cpu0)) -v m="$n" 'BEGIN {printf "%.3f", c / m}')"
  bench_record "$key" calls "$(awk -v c=$(($(redis_calls "$config") - calls0)) -v m="$n" 'BEGIN {printf "%.2f", c / m}')"
  bench_record "$key" refused "$refused"
  bench_record "$key" storeerr "$(($(qm_store_errors "$config") - errors0))"
  bench_record "$key" quotaref "$(($(qm_quota_refusals "$config") - quota0))"
  [ "$n" -eq "$milter_messages" ] || bench_log "WARNING: milter $config answered $n of $milter_messages messages"
  bench_log "round $round milter $config: $(bench_field "$result" msgs_per_s) msg/s"
}
# run_e2e CONFIG ROUND: one end-to-end run, recorded under e2e.CONFIG
run_e2e() {
  local config="$1" round="$2" key="e2e.$1" qpid qcpu0 rcpu0 errors0 quota0 calls0 accepted0 rate m="${metrics_of[$1]}"
  qpid=$(qm_pid_of "$config")
  errors0=$(qm_store_errors "$config") quota0=$(qm_quota_refusals "$config") calls0=$(redis_calls "$config")
  qcpu0=$(bench_cpu_ms "$qpid") rcpu0=$(redis_cpu_ms "$config")
  accepted0=$(bench_metric_sum "$m" quotamilter_messages_accepted_total)
  if rate=$(bench_smtp_source "${pf_port_of[$config]}" "$messages" "$sessions" "$body" "$QM_TMP/source-$config.out"); then
    bench_record "$key" rate "$rate"
    bench_log "round $round e2e $config: $rate msg/s"
  else
    failures=$((failures + 1))
    bench_log "round $round e2e $config FAILED: $(tail -n 1 "$QM_TMP/source-$config.out")"
  fi
  bench_record "$key" qmcpu "$(awk -v c=$(($(bench_cpu_ms "$qpid") - qcpu0)) -v m="$messages" 'BEGIN {printf "%.3f", c / m}')"
  bench_record "$key" rediscpu "$(awk -v c=$(($(redis_cpu_ms "$config") - rcpu0)) -v m="$messages" 'BEGIN {printf "%.3f", c / m}')"
  bench_record "$key" calls "$(awk -v c=$(($(redis_calls "$config") - calls0)) -v m="$messages" 'BEGIN {printf "%.2f", c / m}')"
  bench_record "$key" accepted "$(($(bench_metric_sum "$m" quotamilter_messages_accepted_total) - accepted0))"
  bench_record "$key" storeerr "$(($(qm_store_errors "$config") - errors0))"
  bench_record "$key" quotaref "$(($(qm_quota_refusals "$config") - quota0))"
  bench_wait_queue_empty "${pf_of[$config]}" 60
}

# Warm-up: every configuration once (threads, pools, Redis scripts, slot map).
for config in "${configs[@]}"; do
  if [[ " $levels " == *" milter "* ]]; then
    "$BENCH_TOOLS/qm-milter-load" --socket "$(socket_of "$config")" --connections "$connections" --messages 1000 \
      --senders "$senders" --time-limit 60 >/dev/null || bench_log "warm-up milter $config failed"
  fi
  if [[ " $levels " == *" e2e "* ]]; then
    bench_smtp_source "${pf_port_of[$config]}" 300 "$sessions" "$body" "$QM_TMP/source-$config.out" >/dev/null ||
      bench_log "warm-up e2e $config failed: $(tail -n 1 "$QM_TMP/source-$config.out")"
    bench_wait_queue_empty "${pf_of[$config]}" 60
  fi
done

for ((round = 1; round <= BENCH_ROUNDS; round++)); do
  bench_deadline_passed && { bench_log "time limit reached after $((round - 1)) rounds"; break; }
  bench_record load load1 "$(cut -d' ' -f1 /proc/loadavg)"
  bench_record load others "$(others_busy)"
  order=("${configs[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[$i]}"); done
  fi
  for level in $levels; do
    for config in "${order[@]}"; do
      "run_$level" "$config" "$round"
    done
  done
done
bench_record load load1 "$(cut -d' ' -f1 /proc/loadavg)"
bench_record load others "$(others_busy)"

echo
echo "load average (1 min) at each round start and at the end: $(bench_values load load1)"
echo "  (this benchmark alone drives it to ~15-20: 20 SMTP sessions, their smtpd, cleanup and milter threads)"
echo "other work at the same moments (build and test processes: cc1plus, ld, make, ctest, ...): $(bench_values load others)"
echo "keys per cluster master (both rule files, every round): $(for p in $CLUSTER_PORTS; do
  printf '%s ' "$(redis-cli -h 127.0.0.1 -p "$p" dbsize)"; done)"
echo
echo "medians over the rounds: msg/s; p99 of a whole message (milter level); CPU ms per message of quotamilter"
echo "and of its redis-server(s) (the 3 masters summed for the cluster); Lua scripts (EVALSHA) run per message;"
echo "st.err = failed store calls, q.ref = quota refusals (both counted by quotamilter, /metrics); refused = the load"
echo "generator's rejected + tempfailed + protocol errors, or the refusals in that Postfix's log; sums over the rounds."
echo "A round marked ! had store errors: its messages were partly answered tempfail, its figure is not comparable"
printf '%-7s %-14s %9s %8s %8s %8s %7s %6s %6s %7s   %s\n' level config "msg/s" "p99 µs" "qm cpu" "redis" scripts st.err q.ref refused "rounds (msg/s)"
total_trouble=0
for level in $levels; do
  for config in "${configs[@]}"; do
    key="$level.$config"
    store_errors=$(bench_values "$key" storeerr | awk '{s = 0; for (i = 1; i <= NF; i++) s += $i; print s}')
    quota_refusals=$(bench_values "$key" quotaref | awk '{s = 0; for (i = 1; i <= NF; i++) s += $i; print s}')
    read -r -a r <<<"$(bench_values "$key" rate)"
    read -r -a e <<<"$(bench_values "$key" storeerr)"
    rounds=()
    for ((i = 0; i < ${#r[@]}; i++)); do rounds+=("${r[$i]}$([ "${e[$i]:-0}" -eq 0 ] || echo '!')"); done
    if [ "$level" = milter ]; then
      refused=$(bench_values "$key" refused | awk '{s = 0; for (i = 1; i <= NF; i++) s += $i; print s}')
      p99=$(printf '%.0f' "$(bench_median_of "$key" p99)")
    else
      refused=$(bench_refusals "${pf_of[$config]}")
      p99="-"
      accepted=$(bench_values "$key" accepted | awk '{s = 0; for (i = 1; i <= NF; i++) s += $i; print s}')
      expect=$(($(bench_values "$key" rate | wc -w) * messages))
      [ "$accepted" -eq "$expect" ] || bench_log "WARNING: e2e $config: quotamilter accepted $accepted messages, $expect sent"
    fi
    total_trouble=$((total_trouble + store_errors + quota_refusals + refused))
    printf '%-7s %-14s %9.0f %8s %8s %8s %7.2f %6s %6s %7s   %s\n' "$level" "$config" "$(bench_median_of "$key" rate)" "$p99" \
      "$(bench_median_of "$key" qmcpu)" "$(bench_median_of "$key" rediscpu)" "$(bench_median_of "$key" calls)" \
      "$store_errors" "$quota_refusals" "$refused" "${rounds[*]:-}"
  done
done
echo
echo "cluster / standalone, measured in this run (target >= 0.90): ratio of the medians, and the median of"
echo "the per-round ratios (each round's cluster run divided by the same round's standalone run)"
for level in $levels; do
  for q in 1q 4q; do
    median_ratio=$(bench_ratio "$(bench_median_of "$level.$q-cluster" rate)" "$(bench_median_of "$level.$q-standalone" rate)")
    read -r -a c <<<"$(bench_values "$level.$q-cluster" rate)"
    read -r -a s <<<"$(bench_values "$level.$q-standalone" rate)"
    read -r -a ce <<<"$(bench_values "$level.$q-cluster" storeerr)"
    read -r -a se <<<"$(bench_values "$level.$q-standalone" storeerr)"
    per_round=() shown=()
    for ((i = 0; i < ${#c[@]} && i < ${#s[@]}; i++)); do
      per_round+=("$(bench_ratio "${c[$i]}" "${s[$i]}")")
      shown+=("${per_round[-1]}$([ "${ce[$i]:-0}" -eq 0 ] && [ "${se[$i]:-0}" -eq 0 ] || echo '!')")
    done
    case "$q" in 1q) what="sender-rate.json, 1 slot " ;; 4q) what="hudedu-bench.json, 2 slots" ;; esac
    printf '%-7s %s: %s (%s); per round %s, median %s\n' "$level" "$what" "$median_ratio" \
      "$(awk -v r="$median_ratio" 'BEGIN {print (r >= 0.9) ? "met" : "MISSED"}')" "${shown[*]:-}" \
      "$(bench_median "${per_round[@]:-}")"
  done
done
status=0
if [ "$total_trouble" -ne 0 ]; then
  echo "CHECK FAILED: $total_trouble store errors/refusals (expected 0; see the quotamilter logs in $QM_TMP)"
  status=1
else
  echo "store errors and refusals: 0 everywhere"
fi
[ "$failures" -eq 0 ] || { echo "$failures run(s) failed" >&2; status=1; }
exit "$status"
