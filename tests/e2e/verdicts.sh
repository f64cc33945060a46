#!/usr/bin/env bash
# Every verdict as Postfix carries it out (tests/e2e/rules/verdicts.json,
# 1 message per hour each; 3 messages sent per sender):
#   quarantine: accepted, then held (milter-hold; '!' in the queue), tagged
#   discard:    accepted, then dropped (milter-discard; never delivered)
#   tempfail:   451 4.7.1 with every placeholder of the reply filled in
#   reject with code/xcode overrides: 554 5.7.0
#   monitor mode: everything delivered, quotamilter logs "would reject"
source "$(dirname "$0")/common.sh"
e2e_stack "$E2E_DIR/rules/verdicts.json"

# outcomes SENDER: the three outcomes, space-separated.
outcomes() {
  probe --port "$PF_PORT" --from "$1" --to x@ext.example --messages 3 |
    "$QM_PYTHON" -c 'import json,sys; print(" ".join(json.loads(l)["outcome"] for l in sys.stdin))'
}

expect_eq "$(outcomes hold@hudedu.net)" "accepted accepted accepted" "quarantine: the client sees 3 accepted"
expect_eq "$(outcomes drop@hudedu.net)" "accepted accepted accepted" "discard: the client sees 3 accepted"
soft="$(probe --port "$PF_PORT" --from soft@hudedu.net --to x@ext.example --messages 2 | tail -n 1)"
expect_match "$soft" '"mail": 451, "mail_text": "4\.7\.1 soft: 1/1 per 1h for soft@hudedu\.net \(soft_over\), retry in [0-9]' \
  "tempfail: 451 4.7.1 at MAIL FROM, placeholders {count} {limit} {window} {key} {policy} {retry_after} filled"
custom="$(probe --port "$PF_PORT" --from custom@hudedu.net --to x@ext.example --messages 2 | tail -n 1)"
expect_match "$custom" '"mail": 554, "mail_text": "5\.7\.0 custom code"' "reject with code 554 and xcode 5.7.0"
expect_eq "$(outcomes watched@hudedu.net)" "accepted accepted accepted" "monitor mode: 3 of 3 accepted"

qm_wait_for_count "$PF_LOG" "status=sent" 7 20 || true
sleep 2
expect_eq "$(grep -c 'milter-hold: END-OF-MESSAGE.*from=<hold@hudedu\.net>' "$PF_LOG" || true)" 2 "quarantine: 2 milter-hold in Postfix's log"
expect_eq "$(postqueue -c "$PF_DIR" -p | grep -c '^[0-9A-F]\+!.*hold@hudedu\.net' || true)" 2 "quarantine: 2 messages in the hold queue"
# A held message is still accepted: it carries its tag (hold_tag).
tagged=0
for id in $(postqueue -c "$PF_DIR" -p | sed -n 's/^\([0-9A-F]\+\)!.*hold@hudedu\.net.*/\1/p'); do
  postcat -c "$PF_DIR" -hq "$id" 2>/dev/null | grep -q '^X-Held-Tag: yes' && tagged=$((tagged + 1))
done
expect_eq "$tagged" 2 "quarantine: both held messages carry the tag header"
expect_eq "$(grep -c 'milter-discard: END-OF-MESSAGE.*from=<drop@hudedu\.net>' "$PF_LOG" || true)" 2 "discard: 2 milter-discard in Postfix's log"
# Deliveries: hold 1, drop 1, soft 1, custom 1, watched 3.
expect_eq "$(grep -c 'status=sent' "$PF_LOG" || true)" 7 "7 messages delivered in total (1+1+1+1+3)"
expect_eq "$(grep -c 'would reject: policy=watched' "$QM_LOG" || true)" 2 "monitor mode: quotamilter logged 2 'would reject'"
expect_eq "$(grep -c 'milter-reject.*watched@' "$PF_LOG" || true)" 0 "monitor mode: never refused"

e2e_done
