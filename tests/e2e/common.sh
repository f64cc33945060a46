# shellcheck shell=bash
# Shared by the e2e tests: the harness, assertions, and SMTP helpers.
# Each test script: source this, start what it needs, assert, then `e2e_done`.
# Environment (set by tests/e2e/CMakeLists.txt):
#   QUOTAMILTER   the binary under test
#   QM_SOURCE_DIR the source tree
# Mutation switch, to prove the tests can fail:
#   QM_E2E_MUTATION=no-milter   Postfix runs without any milter
#   QM_E2E_MUTATION=accept-all  Postfix talks to scripts/lib/fake_milter.py,
#                               which accepts everything (quotamilter idles)
#   QM_E2E_SERVE_ARGS="..."     extra `quotamilter serve` flags (e.g.
#                               "--on-store-error accept" must fail redis_outage)
set -euo pipefail

QM_SOURCE_DIR="${QM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck source=../../scripts/lib/harness.sh
source "$QM_SOURCE_DIR/scripts/lib/harness.sh"
E2E_DIR="$QM_SOURCE_DIR/tests/e2e"
PROBE="$QM_SOURCE_DIR/scripts/lib/smtp_probe.py"
E2E_FAILURES=0
# quotamilter flags for a store timeout that tolerates busy cores (see e2e_stack).
E2E_STORE_TIMEOUT=(--store-timeout-ms "${QM_E2E_STORE_TIMEOUT_MS:-2000}")

e2e_fail() { printf 'FAIL: %s\n' "$*" >&2; E2E_FAILURES=$((E2E_FAILURES + 1)); }
e2e_pass() { printf 'ok:   %s\n' "$*" >&2; }

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
  if [ "$1" = "$2" ]; then e2e_pass "$3 ($1)"; else e2e_fail "$3: got '$1', expected '$2'"; fi
}
# expect_match TEXT EXTENDED-REGEX WHAT
expect_match() {
  # (no grep -q: its early exit would SIGPIPE printf and fail under pipefail)
  if printf '%s' "$1" | grep -E -- "$2" >/dev/null; then e2e_pass "$3"; else e2e_fail "$3: '$1' does not match /$2/"; fi
}
# expect_le A B WHAT  (integers)
expect_le() {
  if [ "$1" -le "$2" ]; then e2e_pass "$3 ($1 <= $2)"; else e2e_fail "$3: $1 > $2"; fi
}

e2e_done() {
  if [ "$E2E_FAILURES" -ne 0 ]; then
    echo "$(basename "$0"): $E2E_FAILURES assertion(s) failed" >&2
    exit 1
  fi
  echo "$(basename "$0"): all assertions passed" >&2
}

# The reference rule file: the rules room's copy, or the spec's example kept here.
e2e_reference_rules() {
  if [ -f "$QM_SOURCE_DIR/rules/examples/hudedu.json" ]; then
    echo "$QM_SOURCE_DIR/rules/examples/hudedu.json"
  else
    echo "$E2E_DIR/rules/hudedu-spec-copy.json"
  fi
}

# The Postfix milter setting for a quotamilter instance NAME (honours the mutation).
# Under the accept-all mutation, call e2e_prepare_mutation first (it starts
# the fake milter, outside any command substitution).
e2e_milter_for() {
  local var="${1}_POSTFIX"
  case "${QM_E2E_MUTATION:-}" in
    no-milter) echo "" ;;
    accept-all) echo "$FAKE_POSTFIX" ;;
    *) echo "${!var}" ;;
  esac
}
e2e_prepare_mutation() {
  if [ "${QM_E2E_MUTATION:-}" = accept-all ] && [ -z "${FAKE_PORT:-}" ]; then
    qm_start_fake_milter FAKE
  fi
}

# e2e_stack RULES: one redis, one sink, one quotamilter, one Postfix.
e2e_stack() {
  local rules="$1"
  shift
  qm_harness_init
  qm_start_redis REDIS
  qm_start_sink SINK
  # A generous store timeout: on 2 busy cores a Redis reply can take longer
  # than the 250 ms default, and the resulting (correct) 451 would make exact
  # counts flaky. redis_outage passes the default back explicitly.
  # shellcheck disable=SC2086  # word splitting of the mutation flags is wanted
  qm_start_quotamilter QM "$rules" "redis://127.0.0.1:$REDIS_PORT/0" \
    "${E2E_STORE_TIMEOUT[@]}" "$@" ${QM_E2E_SERVE_ARGS:-}
  e2e_prepare_mutation
  qm_start_postfix PF "$(e2e_milter_for QM)" "$SINK_PORT"
}

# swaks_send PORT FROM TO [swaks args...]: runs swaks, sets SWAKS_RC and
# SWAKS_OUT (its transcript); never fails the script.
swaks_send() {
  local port="$1" from="$2" to="$3"
  shift 3
  set +e
  SWAKS_OUT="$(swaks --server "127.0.0.1:$port" --from "$from" --to "$to" \
      --helo e2e.test.invalid --timeout 20 --hide-informational "$@" 2>&1)"
  SWAKS_RC=$?
  set -e
}

# The last server reply line swaks printed that is an error (4xx/5xx), or "".
# (Never fails: under pipefail a grep without match would end the test early.)
swaks_error_reply() {
  { printf '%s\n' "$SWAKS_OUT" | grep -E '^<\*\* +[45][0-9][0-9]' | tail -n 1 | sed -E 's/^<\*\* +//'; } || true
}

# send_n N PORT FROM TO: N messages with swaks, one session each;
# sets SENT_OK (accepted count) and LAST_ERROR (last refusal reply).
send_n() {
  local n="$1" port="$2" from="$3" to="$4" i
  SENT_OK=0
  LAST_ERROR=""
  for ((i = 0; i < n; i++)); do
    swaks_send "$port" "$from" "$to"
    if [ "$SWAKS_RC" -eq 0 ]; then
      SENT_OK=$((SENT_OK + 1))
    else
      LAST_ERROR="$(swaks_error_reply)"
    fi
  done
}

# probe ARGS...: smtp_probe.py against the given args (JSON lines on stdout).
probe() { "$QM_PYTHON" "$PROBE" "$@"; }

# json_count OUTCOME: counts JSON lines on stdin with that outcome.
json_count() { grep -c "\"outcome\": \"$1\"" || true; }

# The state of every counter key matching PATTERN (type and content, sorted;
# no TTLs), so "counter unchanged" can be asserted whatever the store's data
# structure is.
redis_digest() {
  local pattern="$1" key type
  redis-cli -p "$REDIS_PORT" --scan --pattern "$pattern" | sort | while read -r key; do
    type="$(redis-cli -p "$REDIS_PORT" type "$key")"
    printf '%s %s: ' "$key" "$type"
    case "$type" in
      string) redis-cli -p "$REDIS_PORT" get "$key" ;;
      hash) redis-cli -p "$REDIS_PORT" hgetall "$key" | paste -sd' ' ;;
      zset) redis-cli -p "$REDIS_PORT" zrange "$key" 0 -1 withscores | paste -sd' ' ;;
      list) redis-cli -p "$REDIS_PORT" lrange "$key" 0 -1 | paste -sd' ' ;;
      set) redis-cli -p "$REDIS_PORT" smembers "$key" | sort | paste -sd' ' ;;
      *) echo "?" ;;
    esac
  done
}

# The current value of one counter, read the documented way (docs/STORE.md):
#   redis-cli --eval store/lua/count.lua KEY , WINDOW_SECONDS
# redis_count KEY  (the window is the number before the key's final "s")
redis_count() {
  local key="$1" window
  window="${key##*:}"
  window="${window%s}"
  redis-cli -p "$REDIS_PORT" --eval "$QM_SOURCE_DIR/store/lua/count.lua" "$key" , "$window"
}
