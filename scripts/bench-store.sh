#!/usr/bin/env bash
# Benchmark of the Redis store (a measurement, not a test): decisions per
# second for a message with 4 quotas from 8 threads against a private local
# redis-server, and Redis memory per (key, quota). Figures: docs/STORE.md.
#   scripts/bench-store.sh [SECONDS]      (default 5; at most 2 million decisions)
#   BENCH_BUILD_DIR  build directory (default: build-bench, Release; shared
#                    with the other scripts/bench-*.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BENCH_BUILD_DIR:-build-bench}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j2 --target store_bench >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "redis:   $(redis-server --version | cut -d' ' -f3)"
"$build"/tests/store/store_bench "${1:-5}"
