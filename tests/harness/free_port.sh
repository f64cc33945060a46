#!/usr/bin/env bash
# qm_free_port (scripts/lib/harness.sh) never hands out a port twice: not in
# the calling shell, and not when it runs in a subshell (port=$(qm_free_port)),
# whose variables die with it. The ports handed out are recorded where the
# calling shell can read them (qm_ports_given). Needs no root and no
# services (python3, flock).
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

if [ "$failures" -ne 0 ]; then
  echo "$(basename "$0"): $failures check(s) failed" >&2
  exit 1
fi
echo "$(basename "$0"): all checks passed" >&2
