#!/usr/bin/env bash
# Benchmark (b), end to end through Postfix with smtp-source: no filter vs the
# null milter vs quotamilter vs rspamd (ratelimit only, milter mode, dynamic
# multipliers pinned to 1) vs postfwd vs policyd-rate-limit, all configured to
# the same rule: per envelope sender, 1,000,000 messages per 1800 s — high
# enough that nothing is refused during the run (checked: refusals counted in
# each Postfix log and printed).
#
# One Postfix instance per configuration (identical but for smtpd_milters or
# the policy service in smtpd_recipient_restrictions), all side by side,
# delivering to discard:. Each round runs smtp-source against every instance
# in turn (order alternates round by round); between runs the queues drain.
#
#   none      no filter
#   null      qm-null-milter --stages quotamilter, TCP
#   qm        quotamilter serve, bench/rules/sender-rate.json, Redis, TCP
#   rspamd    rspamd proxy (milter mode, self_scan, 2 processes), ratelimit, Redis, TCP
#   postfwd   postfwd 1.35 rate(sender/1000000/1800), check_policy_service at RCPT
#   policyd   policyd-rate-limit 1.0.1.1, limit_by_sender, sqlite, at RCPT
#
# Environment: BENCH_ROUNDS (5), BENCH_MESSAGES (2000 per run), BENCH_SESSIONS
# (20 parallel sessions), BENCH_BODY (1024 bytes), BENCH_PEERS (1; 0 = only
# none/null/qm), BENCH_TIME_LIMIT (1500 s for the whole benchmark).
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib/bench-common.sh"
source "$(cd "$(dirname "$0")" && pwd)/lib/bench-peers.sh"

messages="${BENCH_MESSAGES:-2000}"
sessions="${BENCH_SESSIONS:-20}"
body="${BENCH_BODY:-1024}"
configs=(none null qm)
[ "${BENCH_PEERS:-1}" = 1 ] && configs+=(rspamd postfwd policyd)

qm_harness_init
bench_build
bench_deadline_set "${BENCH_TIME_LIMIT:-1500}"
qm_start_redis REDIS
qm_start_sink SINK
redis_url="redis://127.0.0.1:$REDIS_PORT/0"

declare -A port_of name_of
add_instance() {  # CONFIG MILTER [main.cf lines...]
  local config="$1" milter="$2" var
  shift 2
  var="PF_$(echo "$config" | tr 'a-z-' 'A-Z_')"
  bench_start_postfix "$var" "$milter" "$@"
  local port_var="${var}_PORT"
  port_of[$config]="${!port_var}"
  name_of[$config]="$var"
}

bench_start_null_milter NULL tcp --stages quotamilter
bench_start_quotamilter QM tcp "$BENCH_RULES_DIR/sender-rate.json" "$redis_url"
add_instance none ""
add_instance null "$NULL_POSTFIX"
add_instance qm "$QM_POSTFIX"
if [ "${BENCH_PEERS:-1}" = 1 ]; then
  bench_start_rspamd RSPAMD "$REDIS_PORT"
  bench_start_postfwd POSTFWD
  bench_start_policyd POLICYD
  add_instance rspamd "$RSPAMD_POSTFIX"
  add_instance postfwd "" "$(bench_policy_restrictions "$POSTFWD_POLICY")"
  add_instance policyd "" "$(bench_policy_restrictions "$POLICYD_POLICY")"
fi

bench_machine
echo "benchmark (b): end to end through Postfix $(postconf -d mail_version | awk '{print $3}'), smtp-source -s $sessions -m $messages -l $body (one message per session), $BENCH_ROUNDS rounds"

run_source() {  # CONFIG -> prints msg/s; exit 1 on failure
  local config="$1" start end
  start=$(date +%s%N)
  timeout 300 smtp-source -s "$sessions" -m "$messages" -l "$body" -f bench@hudedu.net -t r0@example.com \
    "127.0.0.1:${port_of[$config]}" >"$QM_TMP/source-$config.out" 2>&1 || return 1
  end=$(date +%s%N)
  awk -v n="$messages" -v ns=$((end - start)) 'BEGIN {printf "%.1f\n", n / (ns / 1e9)}'
}

# Warm-up: every instance once (process pools, milter threads, Redis scripts).
for config in "${configs[@]}"; do
  run_source "$config" >/dev/null || bench_log "warm-up of $config failed: $(tail -n 1 "$QM_TMP/source-$config.out")"
  bench_wait_queue_empty "${name_of[$config]}" 60
done

failures=0
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
  bench_deadline_passed && { bench_log "time limit reached after $((round - 1)) rounds"; break; }
  order=("${configs[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[$i]}"); done
  fi
  for config in "${order[@]}"; do
    if rate=$(run_source "$config"); then
      bench_record "$config" rate "$rate"
      bench_log "round $round $config: $rate msg/s"
    else
      failures=$((failures + 1))
      bench_log "round $round $config FAILED: $(tail -n 1 "$QM_TMP/source-$config.out")"
    fi
    bench_wait_queue_empty "${name_of[$config]}" 60
  done
done

echo
echo "medians over the rounds (messages accepted per second by Postfix, smtp-source wall clock)"
none_rate=$(bench_median_of none rate)
null_rate=$(bench_median_of null rate)
qm_rate=$(bench_median_of qm rate)
printf '%-9s %9s %10s %10s %10s %8s   %s\n' config "msg/s" "vs none" "vs null" "qm / this" refused "rounds (msg/s)"
for config in "${configs[@]}"; do
  rate=$(bench_median_of "$config" rate)
  printf '%-9s %9s %10s %10s %10s %8s   %s\n' "$config" "$rate" "$(bench_ratio "$rate" "$none_rate")" \
    "$(bench_ratio "$rate" "$null_rate")" "$(bench_ratio "$qm_rate" "$rate")" \
    "$(bench_refusals "${name_of[$config]}")" "$(bench_values "$config" rate)"
done
echo
printf 'target: quotamilter >= 0.90x no filter: %s (%s)\n' "$(bench_ratio "$qm_rate" "$none_rate")" \
  "$(awk -v r="$(bench_ratio "$qm_rate" "$none_rate")" 'BEGIN {print (r >= 0.9) ? "met" : "MISSED"}')"
printf 'target: quotamilter >= 0.95x null milter: %s (%s)\n' "$(bench_ratio "$qm_rate" "$null_rate")" \
  "$(awk -v r="$(bench_ratio "$qm_rate" "$null_rate")" 'BEGIN {print (r >= 0.95) ? "met" : "MISSED"}')"
for peer in rspamd postfwd policyd; do
  [[ " ${configs[*]} " == *" $peer "* ]] || continue
  r=$(bench_ratio "$qm_rate" "$(bench_median_of "$peer" rate)")
  printf 'target: quotamilter ahead of %-8s %s (%s)\n' "$peer:" "$r" "$(awk -v r="$r" 'BEGIN {print (r > 1) ? "met" : "MISSED"}')"
done
[ "$failures" -eq 0 ] || { echo "$failures run(s) failed" >&2; exit 1; }
