#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, runs every test.
#   scripts/test.sh                   every test: unit, integration, e2e, fuzz (ctest), and the
#                                     unit + integration tests again under ASan/UBSan (build-asan)
#   QM_SKIP_ASAN=1 scripts/test.sh    without the ASan/UBSan job
#   FUZZ_SECONDS=N scripts/test.sh    seconds per fuzz target (default 60)
# Exits non-zero on any failure. The last ctest summary line printed (the main
# build's) is the verdict of everything but the sanitizer job, which runs first.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/install-deps.sh
status=0

if [ "${QM_SKIP_ASAN:-0}" != 1 ]; then
  # The sanitizer job: unit and integration tests under ASan/UBSan.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DQM_SANITIZE=ON -DQM_E2E=OFF >/dev/null
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure --timeout 900 -L 'unit|integration') || status=1
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure --timeout 900) || status=1
exit $status
