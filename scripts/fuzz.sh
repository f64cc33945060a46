#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang++, ASan+UBSan, own build dir
# build-fuzz) and runs each one for a bounded time; fails on any crash, leak,
# timeout (a single input slower than FUZZ_TIMEOUT s) or memory blow-up.
# -len_control=0: long inputs from the start (the caps on header values and
# tracked keys are only reached by long ones).
#   scripts/fuzz.sh                    every target, FUZZ_SECONDS (default 60) each
#   FUZZ_SECONDS=10 scripts/fuzz.sh fuzz_address   one target, 10 s
# Seeds: fuzz/corpus/TARGET/ (read only); what the fuzzer finds goes to
# build-fuzz/corpus/TARGET/, crashes to build-fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
per_input_timeout="${FUZZ_TIMEOUT:-10}"
rss_limit_mb="${FUZZ_RSS_MB:-2048}"
build=build-fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_rules_parser fuzz_address fuzz_header_decode fuzz_milter_session)

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
cmake -S fuzz -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"${FUZZ_BUILD_JOBS:-2}" --target "${targets[@]}"

status=0
for target in "${targets[@]}"; do
  mkdir -p "$build/corpus/$target" "$build/artifacts/$target"
  echo "== $target: ${seconds}s" >&2
  # The outer timeout bounds the run even if libFuzzer itself got stuck.
  if ! timeout --kill-after=10 $((seconds + 60)) "$build/$target" \
      -max_total_time="$seconds" -timeout="$per_input_timeout" -rss_limit_mb="$rss_limit_mb" \
      -max_len=65536 -len_control=0 -print_final_stats=1 -artifact_prefix="$build/artifacts/$target/" \
      "$build/corpus/$target" "fuzz/corpus/$target" >"$build/$target.log" 2>&1; then
    echo "FAIL: $target (see $build/$target.log; reproduce with $build/$target $build/artifacts/$target/<file>)" >&2
    grep -E 'ERROR|SUMMARY|Test unit written' "$build/$target.log" | head -n 10 >&2 || true
    status=1
  else
    grep -E '^stat::number_of_executed_units|^Done' "$build/$target.log" | tr '\n' ' ' >&2
    echo >&2
  fi
done
exit $status
