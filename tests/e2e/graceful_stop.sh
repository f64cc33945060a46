#!/usr/bin/env bash
# SIGTERM drains: a transaction in flight when quotamilter gets SIGTERM is
# still served to its end (RCPT and DATA answered 250, the message counted
# and delivered), quotamilter exits 0 within the drain time (5 s default),
# and afterwards Postfix tempfails (milter_default_action) instead of hanging.
source "$(dirname "$0")/common.sh"
e2e_stack "$E2E_DIR/rules/e2e-quotas.json"
go="$QM_TMP/go" out="$QM_TMP/inflight.out"

# A session that stops after MAIL FROM until $go exists (at most 20 s).
"$QM_PYTHON" - "$PF_PORT" "$go" >"$out" 2>&1 <<'PY' &
import os, smtplib, sys, time
c = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
c.ehlo("inflight.test.invalid")
print("MAIL", c.mail("race@hudedu.net")[0], flush=True)
for _ in range(200):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.1)
t = time.monotonic()
print("RCPT", c.rcpt("someone@ext.example")[0], flush=True)
print("DATA", c.data(b"Subject: in flight\r\n\r\nbody\r\n")[0], flush=True)
print("SECONDS %.1f" % (time.monotonic() - t), flush=True)
c.quit()
PY
client=$!
qm_wait_for_line "$out" '^MAIL 250' 10 || e2e_fail "the in-flight session did not get 250 to MAIL FROM"

start=$(date +%s%N)
kill -TERM "$QM_PID"
sleep 0.5            # quotamilter is now stopping
touch "$go"          # the client carries on: RCPT, DATA
wait "$client" || true
cat "$out" >&2
expect_match "$(cat "$out")" 'RCPT 250' "in flight: RCPT answered 250 after SIGTERM"
expect_match "$(cat "$out")" 'DATA 250' "in flight: message accepted after SIGTERM"

status=0
for ((i = 0; i < 100; i++)); do kill -0 "$QM_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$QM_PID" 2>/dev/null; then status=running; else wait "$QM_PID" 2>/dev/null || status=$?; fi
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
echo "quotamilter exit status $status after $elapsed_ms ms" >&2
expect_eq "$status" 0 "quotamilter exits 0 after SIGTERM"
expect_le "$elapsed_ms" 8000 "quotamilter gone within 8 s of SIGTERM (drain 5 s)"
expect_match "$(grep -c 'stopped' "$QM_LOG" || true)" '^[1-9]' "quotamilter logged 'stopped'"

# After it is gone, Postfix answers 4xx at once (nothing passes unchecked).
after="$(probe --port "$PF_PORT" --from race@hudedu.net --to someone@ext.example --timeout 15)"
expect_match "$after" '"mail": 451' "after the stop: 451 from Postfix's milter_default_action"
expect_match "$after" '"seconds": [0-1]\.' "after the stop: answered within 2 s"

# The in-flight message was counted (Redis) and delivered (sink).
expect_eq "$(redis_count 'qm:{race@hudedu.net}:race_limit:sender:messages:3600s')" 1 "the in-flight message was counted"
qm_wait_for_count "$PF_LOG" 'status=sent' 1 20 || true
expect_eq "$(grep -c 'status=sent' "$PF_LOG" || true)" 1 "the in-flight message was delivered"

e2e_done
