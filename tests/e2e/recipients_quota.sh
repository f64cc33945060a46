#!/usr/bin/env bash
# (c) A message to 5 external recipients counts 1 message and 5 recipients.
# bulk@hudedu.net, to external recipients: 2 messages and 7 recipients per hour
# (tests/e2e/rules/e2e-quotas.json). With 2 recipients left, the 3rd RCPT of a
# message is refused and the message goes to the first 2 only.
source "$(dirname "$0")/common.sh"
e2e_stack "$E2E_DIR/rules/e2e-quotas.json"
sender=bulk@hudedu.net

# Message 1: 5 external recipients and one internal (the internal one is not
# matched by the policy's recipient list, so it does not count).
rcpts=()
for i in 1 2 3 4 5; do rcpts+=(--to "m1-r$i@ext.example"); done
out1="$(probe --port "$PF_PORT" --from "$sender" "${rcpts[@]}" --to bob@hudedu.net)"
echo "message 1: $out1" >&2
expect_match "$out1" '"outcome": "accepted"' "message 1 (5 external + 1 internal recipients) accepted"
expect_eq "$(printf '%s' "$out1" | grep -o '", 250, "' | wc -l | tr -d ' ')" 6 "message 1: all 6 RCPTs accepted"
echo "counters after message 1:" >&2; redis_digest "*$sender*" >&2
msg_key="qm:{$sender}:bulk_outbound:sender:messages:3600s"
rcpt_key="qm:{$sender}:bulk_outbound:sender:recipients:3600s"
expect_eq "$(redis_count "$msg_key")" 1 "after message 1: messages counter"
expect_eq "$(redis_count "$rcpt_key")" 5 "after message 1: recipients counter (external ones only)"

# Message 2: 3 external recipients with 2 recipients left.
out2="$(probe --port "$PF_PORT" --from "$sender" --to m2-r1@ext.example --to m2-r2@ext.example --to m2-r3@ext.example)"
echo "message 2: $out2" >&2
rcpt_codes="$("$QM_PYTHON" -c 'import json,sys; r=json.loads(sys.stdin.read()); print(" ".join(str(x[1]) for x in r["rcpt"]))' <<<"$out2")"
expect_match "$rcpt_codes" '^250 250 5[0-9][0-9]$' "message 2: RCPT replies 250 250 5xx"
expect_match "$out2" '"m2-r3@ext.example", 5[0-9][0-9], "[0-9. ]*bulk recipients quota: 7 per' "message 2: 3rd RCPT refused with the recipients policy text"
expect_match "$out2" '"outcome": "accepted"' "message 2 accepted for the first 2 recipients"

# Delivered to exactly the accepted recipients (Postfix's log of the sink delivery).
qm_wait_for_count "$PF_LOG" 'to=<m[12]-r[0-9]@ext\.example>.*status=sent' 7 20 || true
for r in m1-r1 m1-r2 m1-r3 m1-r4 m1-r5 m2-r1 m2-r2; do
  expect_eq "$(grep -c "to=<$r@ext\.example>.*status=sent" "$PF_LOG" || true)" 1 "delivered to $r"
done
expect_eq "$(grep -c 'to=<m2-r3@ext\.example>.*status=sent' "$PF_LOG" || true)" 0 "nothing delivered to m2-r3"
expect_eq "$(grep -Ec 'milter-reject: RCPT from .*bulk recipients quota.*to=<m2-r3@ext\.example>' "$PF_LOG" || true)" 1 \
  "Postfix logged the milter-reject of RCPT m2-r3"
echo "counters after message 2:" >&2; redis_digest "*$sender*" >&2
expect_eq "$(redis_count "$msg_key")" 2 "after message 2: messages counter"
expect_eq "$(redis_count "$rcpt_key")" 7 "after message 2: recipients counter"

# Message 3: 2 messages were counted (not 5+2 = 7): the messages quota is now
# full and refuses, the recipients quota too; the messages quota must be named.
out3="$(probe --port "$PF_PORT" --from "$sender" --to m3-r1@ext.example)"
echo "message 3: $out3" >&2
expect_match "$out3" '"outcome": "refused"' "message 3 refused"
expect_match "$out3" 'bulk (messages|recipients) quota' "message 3 refused by a bulk quota"

e2e_done
