#!/usr/bin/env bash
# `quotamilter serve` as a process, with the memory store (no services):
# refuses bad rules/config (exit 1, FILE:LINE:COL), socket mode, a live
# instance's socket is never taken over, a stale one is cleaned up, SIGUSR1
# reload, SIGTERM stops with exit 0 and removes the socket.
#   serve_cli_test.sh QUOTAMILTER
set -uo pipefail
QM="$1"
dir="$(mktemp -d /tmp/qm-serve-cli.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
failures=0
ok() { echo "ok:   $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { if [ "$2" = "$3" ]; then ok "$1 ($2)"; else fail "$1: got '$2', expected '$3'"; fi; }
contains() { if grep -Eq -- "$2" "$3"; then ok "$1"; else fail "$1: /$2/ not in $3:"; sed 's/^/    /' "$3"; fi; }

# wait_for CONDITION-COMMAND: up to 10 s.
wait_for() {
  for ((i = 0; i < 100; i++)); do
    if eval "$1"; then return 0; fi
    sleep 0.1
  done
  return 1
}

cat >"$dir/good.json" <<'JSON'
{ "version": 1, "policies": [
  { "name": "p", "match": { "sender": ["@hudedu.net"] },
    "quotas": [ { "track": "sender", "messages": 5, "window": "1h" } ] } ] }
JSON
printf '{ "version": 1,\n  "policies": [],\n  "polices": []\n}\n' >"$dir/broken.json"

# 1. A rule file that fails check: exit 1 with FILE:LINE:COL.
"$QM" serve --rules "$dir/broken.json" --redis memory: --socket "unix:$dir/a.sock" >"$dir/out1" 2>&1
check "broken rules: exit status" "$?" 1
contains "broken rules: FILE:LINE:COL on stderr" "$dir/broken.json:3:[0-9]+" "$dir/out1"
contains "broken rules: says it does not start" "not starting" "$dir/out1"
[ -e "$dir/a.sock" ] && fail "broken rules: no socket left behind" || ok "broken rules: no socket created"

# 2. A config file with an unknown key: exit 1 naming the key.
echo '{ "sokcet": "unix:/tmp/x.sock" }' >"$dir/bad-config.json"
"$QM" serve --config "$dir/bad-config.json" --rules "$dir/good.json" --redis memory: >"$dir/out2" 2>&1
check "unknown config key: exit status" "$?" 1
contains "unknown config key: named" "unknown key 'sokcet'" "$dir/out2"

# 3. Usage errors exit 2; --help exits 0.
"$QM" serve --on-store-error sometimes >"$dir/out3" 2>&1
check "bad --on-store-error: exit status" "$?" 2
"$QM" serve --help >"$dir/out3h" 2>&1
check "--help: exit status" "$?" 0
contains "--help documents --config" "--config FILE" "$dir/out3h"

# 4. Start; the socket gets the configured mode; memory: warns.
echo "{ \"socket\": \"unix:$dir/q.sock\", \"socket_mode\": \"0600\", \"rules\": \"$dir/good.json\", \"redis\": \"memory:\" }" >"$dir/config.json"
"$QM" serve --config "$dir/config.json" >"$dir/log1" 2>&1 &
pid1=$!; pids+=("$pid1")
wait_for "[ -S '$dir/q.sock' ]" && ok "first instance listens" || fail "first instance did not create its socket"
check "socket mode" "$(stat -c %a "$dir/q.sock" 2>/dev/null)" 600
contains "memory: store warning" "warning: store memory:" "$dir/log1"

# 5. A second instance on the same socket refuses and leaves it alone.
"$QM" serve --config "$dir/config.json" >"$dir/log2" 2>&1
check "second instance: exit status" "$?" 1
contains "second instance: says the socket is in use" "in use by a running milter" "$dir/log2"
kill -0 "$pid1" 2>/dev/null && ok "first instance still running" || fail "first instance died"
[ -S "$dir/q.sock" ] && ok "live socket kept" || fail "live socket removed"

# 6. SIGUSR1 with a broken file: logged with FILE:LINE:COL, old rules kept; then a good one.
cp "$dir/broken.json" "$dir/live.json.tmp"
sed -i "s|$dir/good.json|$dir/live.json|" "$dir/config.json"
kill -TERM "$pid1"; wait "$pid1"
check "SIGTERM: exit status" "$?" 0
[ -e "$dir/q.sock" ] && fail "SIGTERM: socket removed" || ok "SIGTERM: socket removed"
cp "$dir/good.json" "$dir/live.json"
"$QM" serve --config "$dir/config.json" >"$dir/log3" 2>&1 &
pid3=$!; pids+=("$pid3")
wait_for "grep -q 'starting:' '$dir/log3'" || fail "third instance did not start"
mv "$dir/live.json.tmp" "$dir/live.json"
kill -USR1 "$pid3"
wait_for "grep -q 'the rules in force stay' '$dir/log3'" || true
contains "broken reload: FILE:LINE:COL logged" "reload: $dir/live.json:3:[0-9]+" "$dir/log3"
contains "broken reload: old rules stay" "the rules in force stay" "$dir/log3"
cp "$dir/good.json" "$dir/live.json"
kill -USR1 "$pid3"
wait_for "grep -q 'in force: 1 policies' '$dir/log3'" || true
contains "good reload applied" "reload: rules from $dir/live.json in force: 1 policies" "$dir/log3"
kill -0 "$pid3" 2>/dev/null && ok "alive after reloads" || fail "died during reloads"

# 7. A crashed instance leaves a stale socket: the next one removes it and starts.
kill -KILL "$pid3"; wait "$pid3" 2>/dev/null
[ -S "$dir/q.sock" ] && ok "stale socket left by SIGKILL" || fail "expected a stale socket after SIGKILL"
"$QM" serve --config "$dir/config.json" >"$dir/log4" 2>&1 &
pid4=$!; pids+=("$pid4")
wait_for "grep -q 'starting:' '$dir/log4'" && ok "starts over a stale socket" || fail "did not start over a stale socket"
contains "stale socket removal logged" "removed stale socket $dir/q.sock" "$dir/log4"
kill -INT "$pid4"; wait "$pid4"
status=$?
check "SIGINT: exit status" "$status" 0
[ "$status" = 0 ] || sed 's/^/    /' "$dir/log4"

if [ "$failures" -ne 0 ]; then echo "serve_cli_test: $failures failure(s)"; exit 1; fi
echo "serve_cli_test: all passed"
