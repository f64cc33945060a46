#!/usr/bin/env bash
# Benchmark of the store on a Redis Cluster (a measurement, not a test):
# decisions per second from 8 threads against three local cluster masters vs
# one local standalone redis-server, same messages, rounds alternated.
# Figures: docs/DEPLOYMENT.md.
#   scripts/bench-cluster.sh [SECONDS]    (per round, default 3; 2 rounds per case)
#   BENCH_BUILD_DIR  build directory (default: build-bench, Release; shared
#                    with the other scripts/bench-*.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BENCH_BUILD_DIR:-build-bench}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j2 --target store_cluster_bench >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "redis:   $(redis-server --version | cut -d' ' -f3)"
echo "build:   $build ($(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" | cut -d= -f2))"
"$build"/tests/store/store_cluster_bench "${1:-3}"
