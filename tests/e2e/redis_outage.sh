#!/usr/bin/env bash
# (f) Redis killed, and Redis hung (SIGSTOP): the client gets 4xx within
# 2 seconds, quotamilter stays alive, and mail is accepted again, without
# restarting quotamilter, once Redis is back.
source "$(dirname "$0")/common.sh"
# The default store timeout (250 ms): the outage must be noticed that fast.
e2e_stack "$E2E_DIR/rules/e2e-quotas.json" --store-timeout-ms 250
sender=outage@hudedu.net
max_seconds=2.0

# try_once: one message; prints "OUTCOME SECONDS FIRST-ERROR-REPLY".
try_once() {
  probe --port "$PF_PORT" --from "$sender" --to someone@ext.example --timeout 30 |
    "$QM_PYTHON" -c '
import json, sys
r = json.loads(sys.stdin.readline())
err = ""
if r.get("mail", 250) >= 400: err = "%s %s" % (r["mail"], r.get("mail_text", ""))
elif any(x[1] >= 400 for x in r.get("rcpt", [])): err = next("%s %s" % (x[1], x[2]) for x in r["rcpt"] if x[1] >= 400)
elif r.get("data", 250) >= 400: err = "%s %s" % (r["data"], r.get("data_text", ""))
print(r["outcome"], r.get("seconds", 0), err)'
}
# expect_fast_tempfail WHAT: 3 attempts, each deferred (4xx) within max_seconds.
expect_fast_tempfail() {
  local what="$1" i res outcome secs
  for i in 1 2 3; do
    res="$(try_once)"
    read -r outcome secs _ <<<"$res"
    echo "$what, attempt $i: $res" >&2
    expect_eq "$outcome" deferred "$what: attempt $i gets 4xx"
    expect_eq "$(awk -v s="$secs" -v m="$max_seconds" 'BEGIN { print (s <= m) ? "fast" : "slow (" s " s)" }')" fast \
      "$what: attempt $i answered within $max_seconds s"
  done
  expect_eq "$(kill -0 "$QM_PID" 2>/dev/null && echo alive || echo dead)" alive "$what: quotamilter still running"
}
# expect_recovery WHAT: accepted again within 15 s (bounded retries).
expect_recovery() {
  local what="$1" i outcome=none
  for ((i = 0; i < 30; i++)); do
    read -r outcome _ <<<"$(try_once)"
    [ "$outcome" = accepted ] && break
    sleep 0.5
  done
  echo "$what: accepted again after $i retries" >&2
  expect_eq "$outcome" accepted "$what: mail accepted again without restarting quotamilter"
}

expect_recovery "baseline (Redis up)"   # bounded retries: a busy machine may tempfail once
qm_pid_before="$QM_PID"

# 1. Redis dies.
kill -KILL "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
expect_fast_tempfail "Redis killed"
qm_restart_redis REDIS
expect_recovery "Redis restarted"

# 2. Redis hangs: the TCP connection stays open, nothing answers.
kill -STOP "$REDIS_PID"
expect_fast_tempfail "Redis hung (SIGSTOP)"
kill -CONT "$REDIS_PID"
expect_recovery "Redis resumed (SIGCONT)"

expect_eq "$QM_PID" "$qm_pid_before" "the same quotamilter process throughout"
expect_eq "$(kill -0 "$QM_PID" 2>/dev/null && echo alive || echo dead)" alive "quotamilter alive at the end"
# The 4xx came from quotamilter, not from Postfix giving up on a silent milter.
expect_eq "$(grep -c 'warning: milter' "$PF_LOG" || true)" 0 "no milter timeout/failure warnings in Postfix's log"

e2e_done
