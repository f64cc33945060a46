#!/usr/bin/env bash
# qm_free_port (scripts/lib/harness.sh) never hands out a port twice: not in
# the calling shell, and not when it runs in a subshell (port=$(qm_free_port)),
# whose variables die with it. The ports handed out are recorded where the
# calling shell can read them (qm_ports_given). And qm_start_on_free_port
# retries a service that does not come up on a new port. Needs no root and no
# mail services (python3, ss, flock).
set -uo pipefail
source "$(cd "$(dirname "$0")/../.." && pwd)/scripts/lib/harness.sh"
# The temp dir qm_harness_init would make (it needs root, this test does not).
QM_TMP="$(mktemp -d "${TMPDIR:-/tmp}/qm-harness-test.XXXXXX")"
trap 'rm -rf "$QM_TMP"' EXIT

failures=0
fail() { printf 'FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }
pass() { printf 'ok:   %s\n' "$*" >&2; }

# check_ports WHAT PORT...: every PORT a number in 20000-31999, none twice.
check_ports() {
  local what="$1" port dups
  shift
  for port in "$@"; do
    if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 20000 ] || [ "$port" -gt 31999 ]; then
      fail "$what: '$port' is not a port in 20000-31999"
      return
    fi
  done
  dups="$(printf '%s\n' "$@" | sort | uniq -d | paste -sd' ')"
  if [ -n "$dups" ]; then
    fail "$what: handed out twice: $dups"
  else
    pass "$what: $# ports, all different"
  fi
}

# check_recorded WHAT PORT...: the calling shell sees every PORT in the record.
check_recorded() {
  local what="$1" given port missing=""
  shift
  given=" $(qm_ports_given | paste -sd' ') "
  for port in "$@"; do
    case "$given" in *" ${port:-none} "*) ;; *) missing+=" ${port:-(empty)}" ;; esac
  done
  if [ -n "$missing" ]; then
    fail "$what: not in the record this shell sees:$missing"
  else
    pass "$what: all $# in the record this shell sees"
  fi
}

# 1. In subshells, as port=$(qm_free_port) runs. Each subshell draws the same
#    random numbers (RANDOM seeded alike), so only a record that outlives the
#    subshell keeps the second and later ones from taking the first one's port.
sub=()
for ((i = 0; i < 20; i++)); do
  sub+=("$(RANDOM=42; qm_free_port)")
done
check_ports "qm_free_port in 20 subshells" "${sub[@]}"
check_recorded "ports given in subshells" "${sub[@]}"

# 2. In this shell, into a variable (no subshell): many ports, also none of
#    those given in the subshells above.
own=()
for ((i = 0; i < 150; i++)); do
  port=""
  qm_free_port port >/dev/null
  own+=("$port")
done
check_ports "qm_free_port VAR in this shell, with the subshells' ports" "${sub[@]}" "${own[@]}"
check_recorded "ports given in this shell" "${own[@]}"

# 3. qm_start_on_free_port: a try whose service never listens is stopped and
#    retried on another port; when every try fails it says so.
tries=0 first_pid="" first_port=""
start_flaky() {  # PORT: the first try does not listen, later ones do
  tries=$((tries + 1))
  if [ "$tries" = 1 ]; then
    sleep 60 &
    QM_SVC_PID=$! first_pid=$! first_port="$1"
  else
    "$QM_PYTHON" -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$1" &
    QM_SVC_PID=$!
  fi
}
if qm_start_on_free_port --wait 1 start_flaky; then
  trap 'qm_stop_pid "$QM_SVC_PID"; rm -rf "$QM_TMP"' EXIT
  if [ "$tries" = 2 ] && [ "$QM_SVC_PORT" != "$first_port" ] && ! kill -0 "$first_pid" 2>/dev/null &&
     qm_wait_listening "$QM_SVC_PORT" 1 "$QM_SVC_PID"; then
    pass "qm_start_on_free_port: the silent first try stopped, the second listens on a new port"
  else
    fail "qm_start_on_free_port: tries $tries, port $QM_SVC_PORT (first $first_port), first pid $first_pid"
  fi
  qm_stop_pid "$QM_SVC_PID"
else
  fail "qm_start_on_free_port: did not start on the second try"
fi
start_never() { return 1; }
if qm_start_on_free_port --tries 2 start_never; then
  fail "qm_start_on_free_port: succeeded with a START that always fails"
else
  pass "qm_start_on_free_port: returns 1 when every try fails"
fi

if [ "$failures" -ne 0 ]; then
  echo "$(basename "$0"): $failures check(s) failed" >&2
  exit 1
fi
echo "$(basename "$0"): all checks passed" >&2
