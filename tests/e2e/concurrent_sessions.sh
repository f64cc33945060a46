#!/usr/bin/env bash
# (e) 20 concurrent SMTP sessions race for one quota (race@hudedu.net:
# 7 messages per hour): exactly 7 get through, 13 are refused, 7 delivered.
source "$(dirname "$0")/common.sh"
e2e_stack "$E2E_DIR/rules/e2e-quotas.json"

out="$(probe --port "$PF_PORT" --from race@hudedu.net --to someone@ext.example --sessions 20)"
acc=$(printf '%s\n' "$out" | json_count accepted)
ref=$(printf '%s\n' "$out" | json_count refused)
other=$((20 - acc - ref))
echo "20 racing sessions: accepted $acc, refused $ref, other $other" >&2
printf '%s\n' "$out" | grep -v '"accepted"' | head -n 3 >&2 || true
expect_eq "$acc" 7 "exactly the limit (7) accepted"
expect_eq "$ref" 13 "the other 13 refused with 5xx"
expect_match "$(printf '%s\n' "$out" | grep '"refused"' | head -n 1)" 'race quota: 7 messages per' "refusal carries the policy's text"

qm_wait_for_count "$PF_LOG" 'status=sent' 7 20 || true
sleep 1
expect_eq "$(grep -c 'status=sent' "$PF_LOG" || true)" 7 "7 messages delivered to the sink"
expect_eq "$(grep -c 'milter-reject' "$PF_LOG" || true)" 13 "13 milter-reject lines in Postfix's log"

# A second wave after the quota is full: nothing more gets through.
out="$(probe --port "$PF_PORT" --from race@hudedu.net --to someone@ext.example --sessions 20)"
expect_eq "$(printf '%s\n' "$out" | json_count accepted)" 0 "second wave of 20: none accepted"

e2e_done
