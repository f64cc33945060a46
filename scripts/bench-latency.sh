#!/usr/bin/env bash
# Benchmark (c): one SMTP session at a time through Postfix, the milter over a
# unix socket and over TCP: the latency a milter adds per message, and the
# 40 ms TCP trap (docs/BENCHMARKS.md, docs/MILTER-TRAPS.md).
#
# One Postfix instance per configuration (identical but for smtpd_milters),
# all running side by side; qm-smtp-latency sends BENCH_MESSAGES messages, one
# session each, to each instance in turn, round after round (alternating).
#
#   none              no milter
#   null-unix/-tcp    qm-null-milter with quotamilter's stages
#   qm-unix/-tcp      quotamilter, bench/rules/sender-rate.json, Redis
#   qmtag-unix/-tcp   quotamilter, bench/rules/sender-rate-tag.json: a "tag"
#                     content rule makes it ADD A HEADER at end of message
#                     (two reply packets in a row: the trap's second half)
#   nullhdr-unix/-tcp qm-null-milter --add-header: the same without any work
#   trap-tcp          qm-null-milter without DATA and without TCP_NODELAY:
#                     the configuration that falls into the trap (must show
#                     ~40 ms; proves this benchmark can fail)
#
# Targets: quotamilter over TCP within 1 ms/message of the unix socket, also
# when it adds a header; p99 added latency < 2 ms.
# Environment: BENCH_ROUNDS (5), BENCH_MESSAGES (500 per configuration and
# round), BENCH_TIME_LIMIT (900 s for the whole benchmark).
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib/bench-common.sh"

messages="${BENCH_MESSAGES:-500}"
configs=(none null-unix null-tcp qm-unix qm-tcp qmtag-unix qmtag-tcp nullhdr-unix nullhdr-tcp trap-tcp)

qm_harness_init
bench_build
bench_deadline_set "${BENCH_TIME_LIMIT:-900}"
qm_start_redis REDIS
qm_start_sink SINK
redis_url="redis://127.0.0.1:$REDIS_PORT/0"

bench_start_null_milter NULLU unix --stages quotamilter
bench_start_null_milter NULLT tcp --stages quotamilter
bench_start_null_milter HDRU unix --stages quotamilter --add-header
bench_start_null_milter HDRT tcp --stages quotamilter --add-header
bench_start_null_milter TRAP tcp --stages quotamilter --no-data --no-nodelay
bench_start_quotamilter QMU unix "$BENCH_RULES_DIR/sender-rate.json" "$redis_url"
bench_start_quotamilter QMT tcp "$BENCH_RULES_DIR/sender-rate.json" "$redis_url"
bench_start_quotamilter QTAGU unix "$BENCH_RULES_DIR/sender-rate-tag.json" "$redis_url" --key-prefix qmtag:
bench_start_quotamilter QTAGT tcp "$BENCH_RULES_DIR/sender-rate-tag.json" "$redis_url" --key-prefix qmtag:

declare -A port_of
start_instance() {  # CONFIG MILTER
  local var="PF_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  bench_start_postfix "$var" "$2"
  local port_var="${var}_PORT"
  port_of[$1]="${!port_var}"
}
start_instance none ""
start_instance null-unix "$NULLU_POSTFIX"
start_instance null-tcp "$NULLT_POSTFIX"
start_instance qm-unix "$QMU_POSTFIX"
start_instance qm-tcp "$QMT_POSTFIX"
start_instance qmtag-unix "$QTAGU_POSTFIX"
start_instance qmtag-tcp "$QTAGT_POSTFIX"
start_instance nullhdr-unix "$HDRU_POSTFIX"
start_instance nullhdr-tcp "$HDRT_POSTFIX"
start_instance trap-tcp "$TRAP_POSTFIX"

# The tag rule must really add a header (else the qmtag rows measure nothing new).
tag_check=$("$BENCH_TOOLS/qm-milter-load" --socket "$QTAGT_SOCKET" --connections 1 --messages 10 --time-limit 30 | grep '^RESULT' || true)
echo "quotamilter with sender-rate-tag.json: $(bench_field "$tag_check" modifications) header(s) added to 10 messages"

bench_machine
echo "benchmark (c): one SMTP session at a time, $messages messages per configuration and round, $BENCH_ROUNDS rounds, 1 KiB bodies"

failures=0
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
  bench_deadline_passed && { bench_log "time limit reached after $((round - 1)) rounds"; break; }
  order=("${configs[@]}")
  if ((round % 2 == 0)); then  # reversed every other round
    order=()
    for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[$i]}"); done
  fi
  for config in "${order[@]}"; do
    # The trap costs ~40 ms per message: fewer messages keep the run short.
    n="$messages"
    [ "$config" = trap-tcp ] && n=$((messages / 4 > 20 ? messages / 4 : 20))
    out=$("$BENCH_TOOLS/qm-smtp-latency" --server "127.0.0.1:${port_of[$config]}" --messages "$n" --warmup 5 \
      --from bench@hudedu.net --to r0@example.com --time-limit 120) || {
      bench_log "round $round $config: failures"; printf '%s\n' "$out" | head -n 1 >&2; failures=$((failures + 1)); }
    result=$(printf '%s\n' "$out" | grep '^RESULT' || true)
    [ -n "$result" ] || continue
    for metric in session_mean_us session_p50_us session_p99_us transaction_p50_us transaction_p99_us; do
      bench_record "$config" "$metric" "$(awk -v v="$(bench_field "$result" "$metric")" 'BEGIN {printf "%.3f", v / 1000}')"
    done
    bench_log "round $round $config: mean $(bench_field "$result" session_mean_us) µs"
  done
done

ms() { bench_median_of "$1" "$2"; }
echo
echo "medians over the rounds, per message (one whole SMTP session: connect to QUIT), milliseconds"
printf '%-13s %8s %8s %8s %12s %12s %12s\n' config mean p50 p99 "+mean vs none" "+p50 vs none" "+p99 vs none"
for config in "${configs[@]}"; do
  printf '%-13s %8s %8s %8s %12s %12s %12s\n' "$config" "$(ms "$config" session_mean_us)" "$(ms "$config" session_p50_us)" \
    "$(ms "$config" session_p99_us)" "$(bench_diff "$(ms "$config" session_mean_us)" "$(ms none session_mean_us)")" \
    "$(bench_diff "$(ms "$config" session_p50_us)" "$(ms none session_p50_us)")" \
    "$(bench_diff "$(ms "$config" session_p99_us)" "$(ms none session_p99_us)")"
done
echo
echo "TCP minus unix socket, per message, milliseconds (medians over rounds of the per-round mean and p50); target < 1 ms"
for pair in null qm qmtag nullhdr; do
  d=$(bench_diff "$(ms "$pair-tcp" session_mean_us)" "$(ms "$pair-unix" session_mean_us)")
  d50=$(bench_diff "$(ms "$pair-tcp" session_p50_us)" "$(ms "$pair-unix" session_p50_us)")
  verdict=$(awk -v d="$d" -v e="$d50" 'BEGIN {print (d < 1.0 && e < 1.0) ? "ok" : (e < 1.0 ? "p50 ok, mean over (outliers)" : "TRAP")}')
  printf '%-8s tcp-unix mean %7s ms  p50 %7s ms  (%s)\n' "$pair" "$d" "$d50" "$verdict"
done
trap_added=$(bench_diff "$(ms trap-tcp session_mean_us)" "$(ms none session_mean_us)")
echo "trap-tcp (no DATA stage, Nagle on) adds $trap_added ms per message: the benchmark $(awk -v d="$trap_added" 'BEGIN {print (d > 20) ? "sees the trap" : "did NOT see the trap (check it)"}')"
echo
for config in qm-unix qm-tcp qmtag-unix qmtag-tcp; do
  added=$(bench_diff "$(ms "$config" session_p99_us)" "$(ms none session_p99_us)")
  printf 'target: p99 added latency of %-10s < 2 ms: %s (%s)\n' "$config" "$added" \
    "$(awk -v d="$added" 'BEGIN {print (d < 2.0) ? "met" : "MISSED"}')"
done
[ "$failures" -eq 0 ] || { echo "$failures run(s) had failures" >&2; exit 1; }
