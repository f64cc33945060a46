#!/usr/bin/env bash
# SIGTERM with SMTP sessions open: sessions are still served during the drain
# (shutdown_timeout_ms, 2 s here); a session still open after it gets
# Postfix's milter_default_action (451) at once, not after a stall.
source "$QM_SOURCE_DIR/tests/e2e/common.sh"
qm_harness_init
echo '{ "shutdown_timeout_ms": 2000 }' >"$QM_TMP/drain.json"
qm_start_redis REDIS
qm_start_sink SINK

# probe_after_term PORT PID DELAY: MAIL, SIGTERM, wait DELAY s, RCPT, DATA.
probe_after_term() {
  "$QM_PYTHON" - "$1" "$2" "$3" <<'PY'
import os, signal, smtplib, sys, time
port, pid, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
s = smtplib.SMTP('127.0.0.1', port, timeout=60)
s.ehlo('drain.test')
s.mail('user3@hudedu.net')
os.kill(pid, signal.SIGTERM)
time.sleep(delay)
t = time.time()
code, _ = s.rcpt('bob@ext.example')
took = time.time() - t
data = 0
if code == 250:
    data, _ = s.data(b'Subject: drain\r\n\r\nbody\r\n')
print(f"{code} {data} {took:.2f}")
try:
    s.quit()
except Exception:
    pass
PY
}

# 1. RCPT 0.5 s after SIGTERM: still served, the message is queued.
qm_start_quotamilter QM1 "$(e2e_reference_rules)" "redis://127.0.0.1:$REDIS_PORT/0" --config "$QM_TMP/drain.json"
qm_start_postfix PF1 "$QM1_POSTFIX" "$SINK_PORT" "milter_default_action = tempfail"
read -r rcpt data took <<<"$(probe_after_term "$PF1_PORT" "$QM1_PID" 0.5)"
expect_eq "$rcpt/$data" 250/250 "during the drain: RCPT and DATA accepted"
qm_wait_for_line "$QM1_LOG" '^quotamilter\[[0-9]+\]: stopped$' 10 || true
expect_eq "$(grep -c 'draining: serving 1 open sessions' "$QM1_LOG" || true)" 1 "drain logged"
expect_eq "$(grep -Ec '^quotamilter\[[0-9]+\]: stopped$' "$QM1_LOG" || true)" 1 "stopped cleanly once the session ended"

# 2. RCPT 4 s after SIGTERM (drain 2 s): the milter is gone, 451 at once.
qm_start_quotamilter QM2 "$(e2e_reference_rules)" "redis://127.0.0.1:$REDIS_PORT/0" --config "$QM_TMP/drain.json"
qm_start_postfix PF2 "$QM2_POSTFIX" "$SINK_PORT" "milter_default_action = tempfail"
read -r rcpt data took <<<"$(probe_after_term "$PF2_PORT" "$QM2_PID" 4)"
expect_eq "$rcpt" 451 "after the drain: RCPT gets Postfix's 451"
expect_le "$(printf '%.0f' "$(echo "$took * 1000" | bc)")" 1500 "after the drain: answered within 1.5 s (ms)"
expect_eq "$(grep -c 'closing 1 open milter connections' "$QM2_LOG" || true)" 1 "the closed session is logged"
e2e_done
