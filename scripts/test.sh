#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, runs every test.
#   scripts/test.sh            all tests (unit, integration, e2e) + sanitizer job + fuzz job
#   QM_SKIP_ASAN=1 scripts/test.sh   skip the ASan/UBSan build
#   QM_SKIP_FUZZ=1 scripts/test.sh   skip the fuzz job (FUZZ_SECONDS=N: seconds per target)
# Exits non-zero on any failure; ctest's summary line is the verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/install-deps.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
status=0
(cd build && ctest --output-on-failure --timeout 900) || status=1

if [ "${QM_SKIP_ASAN:-0}" != 1 ]; then
  # The sanitizer job: unit and integration tests under ASan/UBSan.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DQM_SANITIZE=ON -DQM_E2E=OFF >/dev/null
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure --timeout 900 -L 'unit|integration') || status=1
fi
if [ "${QM_SKIP_FUZZ:-0}" != 1 ]; then
  # The fuzz job: every libFuzzer target for a bounded time under ASan/UBSan
  # (scripts/fuzz.sh; FUZZ_SECONDS per target, default 60).
  FUZZ_SECONDS="${FUZZ_SECONDS:-60}" scripts/fuzz.sh || status=1
fi
exit $status
