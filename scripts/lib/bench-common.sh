# shellcheck shell=bash
# Shared by scripts/bench-*.sh: builds the benchmark tools, starts the milters
# under test (on top of scripts/lib/harness.sh, which starts redis, smtp-sink
# and Postfix on free loopback ports and stops everything by PID at exit),
# and computes medians and ratios.
#
# Environment:
#   BENCH_BUILD_DIR  build directory (default: SOURCE/build-bench, Release)
#   BENCH_ROUNDS     rounds per benchmark (default 5, at least 5 for reported figures)
#   QM_KEEP_TMP=1    keep the temporary directory (logs) after the run
set -euo pipefail

BENCH_SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Our temporary directories live apart from the e2e tests' (/tmp/qm-e2e.*),
# so nobody's cleanup can touch the other's. 755: Postfix must traverse it.
export TMPDIR="${BENCH_TMPDIR:-/tmp/qm-bench}"
mkdir -p "$TMPDIR"
chmod 755 "$TMPDIR"
# shellcheck source=harness.sh
source "$BENCH_SOURCE_DIR/scripts/lib/harness.sh"

BENCH_BUILD_DIR="${BENCH_BUILD_DIR:-$BENCH_SOURCE_DIR/build-bench}"
BENCH_ROUNDS="${BENCH_ROUNDS:-5}"
# The binaries every benchmark runs: copies of the last successful build.
BENCH_BIN="$BENCH_BUILD_DIR/bench-bin"
BENCH_TOOLS="$BENCH_BIN"
QUOTAMILTER="${QUOTAMILTER:-$BENCH_BIN/quotamilter}"
BENCH_RULES_DIR="$BENCH_SOURCE_DIR/bench/rules"
# What to build: "head" (default) = the committed HEAD, exported to
# BUILD/head-src, so that colleagues' half-edited files in the shared tree
# never end up in (or break) a benchmark; "tree" = the working tree as it is.
BENCH_SOURCE="${BENCH_SOURCE:-head}"

bench_log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# Exports HEAD into DIR, rewriting only files whose content changed (so make
# rebuilds only what changed), and removing files HEAD no longer has.
bench_export_head() {
  local dir="$1" fresh
  fresh="$(mktemp -d)"
  git -C "$BENCH_SOURCE_DIR" archive HEAD | tar -x -C "$fresh"
  mkdir -p "$dir"
  (cd "$fresh" && find . -type f) | while IFS= read -r f; do
    if ! cmp -s "$fresh/$f" "$dir/$f"; then
      mkdir -p "$(dirname "$dir/$f")"
      cp -p "$fresh/$f" "$dir/$f"
      touch "$dir/$f"
    fi
  done
  (cd "$dir" && find . -type f) | while IFS= read -r f; do
    [ -e "$fresh/$f" ] || rm -f "$dir/$f"
  done
  rm -rf "$fresh"
  git -C "$BENCH_SOURCE_DIR" rev-parse --short HEAD
}

# Configures (Release) and builds the tools and quotamilter, then copies them
# to BENCH_BIN. A failed build (the tree is shared and edited concurrently)
# falls back to the copies of the last good build, with a warning.
bench_build() {
  local src build log="${QM_TMP:-/tmp}/bench-build.log" what tool
  if [ "$BENCH_SOURCE" = tree ]; then
    src="$BENCH_SOURCE_DIR" build="$BENCH_BUILD_DIR" what="working tree"
  else
    src="$BENCH_BUILD_DIR/head-src" build="$BENCH_BUILD_DIR/head-build"
    what="HEAD $(bench_export_head "$src")"
  fi
  if { [ -f "$build/CMakeCache.txt" ] || cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DQM_E2E=OFF >"$log" 2>&1; } &&
     cmake --build "$build" -j2 --target qm-milter-load qm-null-milter qm-smtp-latency quotamilter >>"$log" 2>&1; then
    mkdir -p "$BENCH_BIN"
    cp -p "$build/bench/qm-milter-load" "$build/bench/qm-null-milter" "$build/bench/qm-smtp-latency" \
      "$build/quotamilter" "$BENCH_BIN/"
    echo "$what" >"$BENCH_BIN/SOURCE"
    bench_log "built from the $what"
    return 0
  fi
  for tool in qm-milter-load qm-null-milter qm-smtp-latency quotamilter; do
    [ -x "$BENCH_BIN/$tool" ] || { tail -n 30 "$log" >&2; qm_die "build of the $what failed and $BENCH_BIN/$tool is missing"; }
  done
  bench_log "WARNING: build of the $what failed; using the last good binaries ($(cat "$BENCH_BIN/SOURCE" 2>/dev/null))"
  grep -m 3 -E 'Error|error:' "$log" >&2 || true
}

# Prints the machine: nproc, CPU model, memory, load (for the report header).
bench_machine() {
  printf 'machine: %s cores, %s, %s memory; load average %s; %s UTC\n' \
    "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
    "$(free -h | awk '/^Mem:/ {print $2}')" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%H:%M)"
}

# ---------------------------------------------------------------- milters
# bench_start_milter KIND PATH RUN [ARG...]: starts a milter with
# `RUN SOCKET ARG...` (RUN starts it in the background on the libmilter
# socket SOCKET and sets QM_SVC_PID): for tcp on a free loopback port
# (qm_start_on_free_port: retried on a new port), for unix on PATH.
#   -> QM_SVC_PID, BENCH_SOCKET (libmilter syntax), BENCH_POSTFIX (Postfix
#      syntax); returns 1 (the process stopped) if it did not come up.
bench_start_milter() {
  local kind="$1" path="$2"
  shift 2
  if [ "$kind" = tcp ]; then
    qm_start_on_free_port qm_with_inet_socket "$@" || return 1
    BENCH_SOCKET="inet:$QM_SVC_PORT@127.0.0.1" BENCH_POSTFIX="inet:127.0.0.1:$QM_SVC_PORT"
    return 0
  fi
  QM_SVC_PID=""
  if ! "$1" "unix:$path" "${@:2}" || ! bench_wait_unix_socket "$path" "$QM_SVC_PID"; then
    qm_stop_pid "$QM_SVC_PID"
    return 1
  fi
  BENCH_SOCKET="unix:$path" BENCH_POSTFIX="unix:$path"
}

bench_run_null_milter() {  # SOCKET LOG [qm-null-milter args...]; sets QM_SVC_PID
  local socket="$1" log="$2"
  shift 2
  "$BENCH_TOOLS/qm-null-milter" --socket "$socket" "$@" >>"$log" 2>&1 &
  QM_SVC_PID=$!
}

# bench_start_null_milter NAME tcp|unix [qm-null-milter args...]
#   -> NAME_PID NAME_POSTFIX (Postfix syntax) NAME_SOCKET (libmilter syntax)
bench_start_null_milter() {
  local name="$1" kind="$2"
  shift 2
  local lower log
  lower="$(echo "$name" | tr 'A-Z' 'a-z')"
  log="$QM_TMP/$lower.log"
  bench_start_milter "$kind" "$QM_TMP/$lower.sock" bench_run_null_milter "$log" "$@" ||
    { cat "$log" >&2; qm_die "null milter $name did not start"; }
  # libmilter needs 5-7 s to notice SIGTERM (its listener's poll
  # timeout); the null milter holds no state, so KILL it at once.
  qm_on_exit "bench_kill_now $QM_SVC_PID"
  printf -v "${name}_PID" '%s' "$QM_SVC_PID"
  printf -v "${name}_SOCKET" '%s' "$BENCH_SOCKET"
  printf -v "${name}_POSTFIX" '%s' "$BENCH_POSTFIX"
  bench_log "null milter $name on $BENCH_SOCKET (pid $QM_SVC_PID) $*"
}

# bench_start_quotamilter NAME tcp|unix RULES REDIS_URL [serve args...]
#   -> NAME_PID NAME_POSTFIX NAME_SOCKET NAME_LOG
# (The harness's qm_start_quotamilter listens on TCP only.)
bench_start_quotamilter() {
  local name="$1" kind="$2" rules="$3" redis_url="$4"
  shift 4
  local lower log
  lower="$(echo "$name" | tr 'A-Z' 'a-z')"
  log="$QM_TMP/$lower.log"
  bench_start_milter "$kind" "$QM_TMP/$lower.sock" qm_run_quotamilter "$log" "$rules" "$redis_url" \
    --socket-mode 0666 --log-level warning "$@" ||
    { tail -n 20 "$log" >&2; qm_die "quotamilter $name did not start"; }
  qm_on_exit "qm_stop_pid $QM_SVC_PID"
  printf -v "${name}_PID" '%s' "$QM_SVC_PID"
  printf -v "${name}_SOCKET" '%s' "$BENCH_SOCKET"
  printf -v "${name}_POSTFIX" '%s' "$BENCH_POSTFIX"
  printf -v "${name}_LOG" '%s' "$log"
  bench_log "quotamilter $name on $BENCH_SOCKET (pid $QM_SVC_PID, rules $(basename "$rules"))"
}

# Stops a stateless process we started, at once.
bench_kill_now() {
  kill -KILL "$1" 2>/dev/null || return 0
  wait "$1" 2>/dev/null || true
}

# bench_wait_unix_socket PATH PID: waits (10 s at most) until the unix socket
# PATH exists; gives up early if PID dies.
bench_wait_unix_socket() {
  local path="$1" pid="$2" i
  for ((i = 0; i < 100; i++)); do
    [ -S "$path" ] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Resident set size of PID in KiB.
bench_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------- numbers
# bench_field "RESULT k=v k=v" KEY  ->  v
bench_field() { printf '%s\n' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2; exit}'; }

# bench_median NUMBER...  ->  the median (mean of the two middle ones when even)
bench_median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_ratio A B  ->  A/B with 3 decimals
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "nan"; else printf "%.3f\n", a / b }'; }

# bench_diff A B  ->  A-B with 3 decimals
bench_diff() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a - b }'; }

# Values of one configuration are kept in files: QM_TMP/values/CONFIG.METRIC,
# one number per line, one line per round.
bench_record() { mkdir -p "$QM_TMP/values"; printf '%s\n' "$3" >>"$QM_TMP/values/$1.$2"; }
bench_values() { cat "$QM_TMP/values/$1.$2" 2>/dev/null | tr '\n' ' '; }
bench_median_of() {
  # shellcheck disable=SC2046
  bench_median $(bench_values "$1" "$2")
}

# bench_redis_scripts PORT: Lua scripts (EVAL, EVALSHA and their _ro forms)
# the redis-server on 127.0.0.1:PORT has run so far, from INFO commandstats:
# one per round trip for quotamilter and null-2rt (the commands a script calls
# are counted apart, under their own names, so they are left out); 0 if
# unreachable.
bench_redis_scripts() {
  redis-cli -h 127.0.0.1 -p "$1" info commandstats 2>/dev/null | tr -d '\r' |
    awk -F'[:=,]' '$1 ~ /^cmdstat_eval(sha)?(_ro)?$/ {s += $3} END {printf "%d\n", s}'
}

# bench_redis_script_usec PORT: microseconds the redis-server on
# 127.0.0.1:PORT has spent in Lua scripts so far (EVAL, EVALSHA, _ro forms;
# the commands they call included), from INFO commandstats; 0 if unreachable.
bench_redis_script_usec() {
  redis-cli -h 127.0.0.1 -p "$1" info commandstats 2>/dev/null | tr -d '\r' |
    awk -F'[:=,]' '$1 ~ /^cmdstat_eval(sha)?(_ro)?$/ {s += $5} END {printf "%d\n", s}'
}

# A deadline for a whole benchmark: bench_deadline_set SECONDS; bench_deadline_passed
bench_deadline_set() { BENCH_DEADLINE=$(($(date +%s) + $1)); }
bench_deadline_passed() { [ "$(date +%s)" -ge "${BENCH_DEADLINE:-0}" ]; }

# CPU time (user+system) of PID so far, in milliseconds (threads included).
bench_cpu_ms() {
  local ticks
  ticks=$(awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0)
  echo $((ticks * 1000 / $(getconf CLK_TCK)))
}

# bench_start_postfix NAME MILTER [extra main.cf lines...]: a harness Postfix
# (needs SINK_PORT from qm_start_sink) that then delivers nothing (discard:),
# so that delivery work does not compete with the SMTP side being measured.
bench_start_postfix() {
  local name="$1" milter="$2"
  shift 2
  qm_start_postfix "$name" "$milter" "$SINK_PORT" "$@"
  qm_postfix_set "$name" "default_transport = discard:benchmark" "local_transport = discard:benchmark" \
    "relay_transport = discard:benchmark"
}

# Waits (bounded) until the queue of Postfix NAME is empty, so that one
# round's deliveries do not run during the next round's measurement.
bench_wait_queue_empty() {
  local name="$1" timeout="${2:-60}" base_var="${1}_BASE" i n
  local queue="${!base_var}/queue"
  for ((i = 0; i < timeout * 10; i++)); do
    n=$(find "$queue/incoming" "$queue/active" "$queue/maildrop" "$queue/deferred" -type f 2>/dev/null | wc -l)
    [ "$n" -eq 0 ] && return 0
    sleep 0.1
  done
  bench_log "WARNING: queue of $name still holds $n message(s) after ${timeout}s"
  return 0
}

# Number of refusals Postfix NAME logged so far (milter or policy).
bench_refusals() {
  local log_var="${1}_LOG"
  grep -Ec 'reject: |milter-reject|milter-discard' "${!log_var}" 2>/dev/null || true
}

# ---------------------------------------------------------------- redis cluster
# bench_run_cluster_node PORT DIR: a START for qm_start_on_free_port: one
# cluster-enabled redis-server (qm_run_redis) on PORT, unless its bus port,
# PORT+10000, is taken; a fresh nodes.conf each try.
bench_run_cluster_node() {
  local port="$1" dir="$2"
  rm -f "$dir/nodes.conf"
  # grep without -q: an early exit would SIGPIPE ss under pipefail
  if ss -Htan "sport = :$((port + 10000))" 2>/dev/null | grep -F ":$((port + 10000))" >/dev/null; then
    return 1
  fi
  qm_run_redis "$port" "$dir" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000
}

# bench_start_redis_cluster NAME [MASTERS]: MASTERS (default 3) redis-server
# with cluster-enabled yes on free loopback ports (the bus port, PORT+10000,
# must be free too), `redis-cli --cluster create ... --cluster-replicas 0`,
# then waits (30 s at most) until every node says cluster_state:ok with all
# 16384 slots assigned and every node known. Each node is stopped by PID at exit.
#   -> NAME_URL (redis+cluster://127.0.0.1:P1,...), NAME_PORTS, NAME_PIDS
#      (space-separated), NAME_DIR
bench_start_redis_cluster() {
  local name="$1" count="${2:-3}" lower dir i port ok
  local ports=() pids=() addrs=()
  lower="$(echo "$name" | tr 'A-Z' 'a-z')"
  for ((i = 1; i <= count; i++)); do
    dir="$QM_TMP/$lower/node$i"
    mkdir -p "$dir"
    qm_start_on_free_port --tries 5 --ready qm_redis_pongs bench_run_cluster_node "$dir" ||
      qm_die "cluster node $i of $name did not start (see $dir/redis.log)"
    qm_own_pid "$QM_SVC_PID"
    ports+=("$QM_SVC_PORT") pids+=("$QM_SVC_PID") addrs+=("127.0.0.1:$QM_SVC_PORT")
  done
  timeout 60 redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes \
    >"$QM_TMP/$lower/create.log" 2>&1 || { tail -n 20 "$QM_TMP/$lower/create.log" >&2; qm_die "redis-cli --cluster create failed for $name"; }
  for ((i = 0; i < 300; i++)); do
    ok=1
    for port in "${ports[@]}"; do
      redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | tr -d '\r' | awk -F: -v n="$count" '
        $1 == "cluster_state" { s = $2 } $1 == "cluster_slots_assigned" { a = $2 } $1 == "cluster_known_nodes" { k = $2 }
        END { exit !(s == "ok" && a == 16384 && k == n) }' || { ok=0; break; }
    done
    [ "$ok" = 1 ] && break
    sleep 0.1
  done
  [ "$ok" = 1 ] || qm_die "cluster $name not cluster_state:ok after 30 s"
  local url="redis+cluster://$(IFS=,; echo "${addrs[*]}")"
  printf -v "${name}_URL" '%s' "$url"
  printf -v "${name}_PORTS" '%s' "${ports[*]}"
  printf -v "${name}_PIDS" '%s' "${pids[*]}"
  printf -v "${name}_DIR" '%s' "$QM_TMP/$lower"
  qm_log "redis cluster $name: $count masters, $url (pids ${pids[*]})"
}

# bench_metric_sum HOST:PORT METRIC: the sum of every series of METRIC (all
# labels) on quotamilter's /metrics; 0 when the series does not exist yet.
bench_metric_sum() {
  curl -s --max-time 5 "http://$1/metrics" 2>/dev/null |
    awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d\n", s }'
}

# bench_smtp_source PORT MESSAGES SESSIONS BODY OUTFILE: smtp-source against
# 127.0.0.1:PORT (sender bench@hudedu.net, recipient r0@example.com, one
# message per session, 300 s at most); prints messages per second (wall
# clock); returns 1 if smtp-source failed.
bench_smtp_source() {
  local port="$1" messages="$2" sessions="$3" body="$4" out="$5" start end
  start=$(date +%s%N)
  timeout 300 smtp-source -s "$sessions" -m "$messages" -l "$body" -f bench@hudedu.net -t r0@example.com \
    "127.0.0.1:$port" >"$out" 2>&1 || return 1
  end=$(date +%s%N)
  awk -v n="$messages" -v ns=$((end - start)) 'BEGIN {printf "%.1f\n", n / (ns / 1e9)}'
}
