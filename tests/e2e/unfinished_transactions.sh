#!/usr/bin/env bash
# (b) Only accepted mail counts: transactions that QUIT after RCPT, drop the
# connection, RSET, or vanish in the middle of DATA consume nothing.
# unfinished@hudedu.net may send 3 messages per hour (tests/e2e/rules/e2e-quotas.json).
source "$(dirname "$0")/common.sh"
e2e_stack "$E2E_DIR/rules/e2e-quotas.json"
sender=unfinished@hudedu.net
ext=someone@ext.example

# One real message first, so that the counter exists.
swaks_send "$PF_PORT" "$sender" "$ext"
expect_eq "$SWAKS_RC" 0 "first message accepted"
before="$(redis_digest "*$sender*")"
echo "counter before: $before" >&2
expect_match "$before" "$sender" "a counter exists for $sender after one message"
key="qm:{$sender}:unfinished_limit:sender:messages:3600s"
expect_eq "$(redis_count "$key")" 1 "counter is 1 after one message"

quit_ok=0
for i in 1 2 3 4 5; do
  swaks_send "$PF_PORT" "$sender" "$ext" --quit-after RCPT
  [ "$SWAKS_RC" -eq 0 ] && quit_ok=$((quit_ok + 1))
done
expect_eq "$quit_ok" 5 "5 transactions quit after RCPT (RCPT accepted each time)"
for i in 1 2; do swaks_send "$PF_PORT" "$sender" "$ext" --drop-after RCPT; done
rset_out="$(probe --port "$PF_PORT" --from "$sender" --to "$ext" --to other@ext.example --rset-after rcpt --messages 4)"
expect_eq "$(printf '%s\n' "$rset_out" | grep -c '"rcpt": \[\["[^"]*", 250' || true)" 4 \
  "4 transactions RSET after 2 accepted RCPTs, in one session"
drop_out="$(probe --port "$PF_PORT" --from "$sender" --to "$ext" --drop-in-data)"
expect_match "$drop_out" '"data": 354' "a transaction dropped in the middle of DATA"
sleep 1  # let Postfix tell the milter about the dropped sessions

after="$(redis_digest "*$sender*")"
echo "counter after:  $after" >&2
expect_eq "$after" "$before" "counter unchanged by 12 unfinished transactions"
expect_eq "$(redis_count "$key")" 1 "counter still 1 (documented read)"

# And the quota still has exactly 2 messages left.
send_n 3 "$PF_PORT" "$sender" "$ext"
expect_eq "$SENT_OK" 2 "exactly 2 more messages accepted (limit 3)"
expect_match "$LAST_ERROR" '^5[0-9][0-9] .*unfinished quota: 3 messages per' "the 4th is refused with the policy's text"

e2e_done
