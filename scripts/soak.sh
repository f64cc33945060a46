#!/usr/bin/env bash
# Soak: quotamilter behind a private Postfix with a private Redis, under 20
# concurrent SMTP sessions for SECONDS (default 300). Samples the quotamilter
# process's VmRSS, Threads and open fds every 10 s and checks that none of
# them grows beyond the first minute (criteria at the verdict below).
#   sudo scripts/soak.sh [SECONDS]          (QUOTAMILTER=path overrides build/quotamilter)
# Load (all on loopback, every client bounded in count and time):
#   9 sessions  smtp-source, a@soak.example  -> external: counted by 3 quotas
#   9 sessions  smtp-source, exempt@soak.example -> internal: exempt policy
#   2 sessions  smtp_probe.py, over@soak.example: refused (5xx) at MAIL FROM
# Not a ctest test: it takes minutes and measures; figures go to docs/E2E.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
duration="${1:-${SOAK_SECONDS:-300}}"
interval=10
QUOTAMILTER="${QUOTAMILTER:-$root/build/quotamilter}"
[ -x "$QUOTAMILTER" ] || { echo "soak: build first (cmake --build build --target quotamilter) or set QUOTAMILTER" >&2; exit 2; }

# shellcheck source=lib/harness.sh
source "$root/scripts/lib/harness.sh"
qm_harness_init
qm_start_redis REDIS
qm_start_sink SINK
qm_start_quotamilter QM "$root/tests/e2e/rules/soak.json" "redis://127.0.0.1:$REDIS_PORT/0"
qm_start_postfix PF "$QM_POSTFIX" "$SINK_PORT"

start=$(date +%s)
deadline=$((start + duration))

# load_loop NAME CMD...: repeats CMD (itself bounded) until the deadline,
# at most 10000 rounds; each round is killed if it outlives the deadline.
load_loop() {
  local name="$1" round left
  shift
  for ((round = 0; round < 10000; round++)); do
    left=$((deadline - $(date +%s)))
    [ "$left" -gt 0 ] || break
    timeout "$left" "$@" >>"$QM_TMP/load-$name.log" 2>&1 || true
  done
}
load_loop counted smtp-source -s 9 -m 2000 -f a@soak.example -t x@ext.example "127.0.0.1:$PF_PORT" &
pid_a=$!
load_loop exempt smtp-source -s 9 -m 2000 -f exempt@soak.example -t bob@hudedu.net "127.0.0.1:$PF_PORT" &
pid_b=$!
load_loop refused "$QM_PYTHON" "$root/scripts/lib/smtp_probe.py" --port "$PF_PORT" \
  --from over@soak.example --to x@ext.example --sessions 2 --messages 500 --summary &
pid_c=$!
qm_on_exit "qm_stop_pid $pid_a; qm_stop_pid $pid_b; qm_stop_pid $pid_c"

field() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$QM_PID/status"; }
samples="$QM_TMP/samples.tsv"
printf '%6s %10s %8s %6s %10s %10s\n' t_s VmRSS_kB Threads fds delivered refused | tee "$samples"
for ((i = 0; i <= duration / interval + 1; i++)); do
  now=$(date +%s)
  t=$((now - start))
  kill -0 "$QM_PID" 2>/dev/null || { echo "soak: quotamilter died (see $QM_LOG)" >&2; exit 1; }
  printf '%6d %10d %8d %6d %10d %10d\n' "$t" "$(field VmRSS)" "$(field Threads)" \
    "$(find "/proc/$QM_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)" \
    "$(grep -c 'status=sent' "$PF_LOG" || true)" "$(grep -c 'milter-reject' "$PF_LOG" || true)" | tee -a "$samples"
  [ "$now" -ge "$deadline" ] && break
  sleep $((interval - ($(date +%s) - now) > 0 ? interval - ($(date +%s) - now) : 1))
done
wait "$pid_a" "$pid_b" "$pid_c" 2>/dev/null || true

# Verdict. libmilter's worker pool starts and retires threads with the load,
# and fds follow the open milter connections, so their samples wobble; a leak
# shows as a rising floor. Per minute of load (samples from t=10 s on):
#   VmRSS:   the last minute's peak at most 10 % above the first minute's peak
#   Threads, fds: the last minute's lowest sample at most 2 above the first
#            minute's lowest, and no sample above a ceiling (64) at any time.
awk -v slack=1.10 -v ceiling=64 '
  NR == 1 || $1 < 10 { next }
  {
    m = int(($1 - 1) / 60); if (m > last) last = m
    if (!(m in seen)) { seen[m] = 1; rmax[m] = $2; tmin[m] = tmax[m] = $3; fmin[m] = fmax[m] = $4 }
    if ($2 > rmax[m]) rmax[m] = $2
    if ($3 < tmin[m]) tmin[m] = $3; if ($3 > tmax[m]) tmax[m] = $3
    if ($4 < fmin[m]) fmin[m] = $4; if ($4 > fmax[m]) fmax[m] = $4
    if ($3 > ceiling || $4 > ceiling) over = 1
  }
  END {
    printf "%-8s %12s %15s %11s\n", "minute", "VmRSS max kB", "Threads min-max", "fds min-max"
    for (m = 0; m <= last; m++) printf "%-8d %12d %10d-%-4d %6d-%-4d\n", m + 1, rmax[m], tmin[m], tmax[m], fmin[m], fmax[m]
    bad = (rmax[last] > rmax[0] * slack) || (tmin[last] > tmin[0] + 2) || (fmin[last] > fmin[0] + 2) || over
    print (bad ? "GROWTH: quotamilter grew after the first minute" : "STABLE: no growth after the first minute")
    exit bad
  }' "$samples" && verdict=0 || verdict=1

delivered=$(grep -c 'status=sent' "$PF_LOG" || true)
refused=$(grep -c 'milter-reject' "$PF_LOG" || true)
deferred=$(grep -Ec 'milter-reject: [A-Z-]+ from [^:]+: 4' "$PF_LOG" || true)
echo "in ${duration} s: delivered $delivered, milter-reject $refused (4xx among them: $deferred), $((delivered / duration)) delivered/s"
echo "quotamilter errors/warnings logged: $(grep -Eci '(error|warning):' "$QM_LOG" || true)"
grep -Ei '(error|warning):' "$QM_LOG" | head -n 5 | sed 's/^/  /' || true
if [ "$deferred" -gt 0 ]; then
  echo "first 4xx refusals in Postfix's log:"
  grep -E 'milter-reject: [A-Z-]+ from [^:]+: 4' "$PF_LOG" | head -n 3 | sed 's/^/  /' || true
fi
exit "$verdict"
