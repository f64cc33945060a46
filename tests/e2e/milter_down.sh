#!/usr/bin/env bash
# Deployment behaviour around quotamilter itself: while it is down, Postfix
# (milter_default_action = tempfail) answers 4xx, so nothing passes unchecked;
# counters live in Redis, so a restarted quotamilter still knows what was
# sent (race@hudedu.net: 7 messages per hour).
source "$(dirname "$0")/common.sh"
rules="$E2E_DIR/rules/e2e-quotas.json"
e2e_stack "$rules"
sender=race@hudedu.net

send_n 5 "$PF_PORT" "$sender" someone@ext.example
expect_eq "$SENT_OK" 5 "5 of 7 sent before the crash"

kill -KILL "$QM_PID"
wait "$QM_PID" 2>/dev/null || true
down="$(probe --port "$PF_PORT" --from "$sender" --to someone@ext.example --messages 3)"
echo "while quotamilter is down: $(printf '%s\n' "$down" | head -n 1)" >&2
expect_eq "$(printf '%s\n' "$down" | json_count deferred)" 3 "quotamilter down: 3 of 3 attempts get 4xx from Postfix"
expect_match "$(grep 'warning:' "$PF_LOG" || true)" 'connect to Milter service inet:127\.0\.0\.1:[0-9]+: Connection refused' \
  "Postfix logs that the milter is unreachable"

qm_restart_quotamilter QM "$rules" "redis://127.0.0.1:$REDIS_PORT/0"
send_n 3 "$PF_PORT" "$sender" someone@ext.example
expect_eq "$SENT_OK" 2 "after the restart: exactly the 2 remaining messages pass (counters kept in Redis)"
expect_match "$LAST_ERROR" '^5[0-9][0-9] .*race quota: 7 messages per' "the 8th is refused with the policy's text"

e2e_done
