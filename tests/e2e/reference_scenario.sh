#!/usr/bin/env bash
# (a) The reference deployment (rules/examples/hudedu.json): user1 may send 50
# messages per 1800 s, the 51st is refused with the policy's text (seen by the
# client and as milter-reject in Postfix's log); user2 is exempt (60 pass);
# case and +tag do not dodge user1's quota.
source "$(dirname "$0")/common.sh"

rules="$(e2e_reference_rules)"
e2e_stack "$rules"

send_n 50 "$PF_PORT" user1@hudedu.net bob@hudedu.net
expect_eq "$SENT_OK" 50 "user1: first 50 messages accepted"

swaks_send "$PF_PORT" user1@hudedu.net bob@hudedu.net
reply="$(swaks_error_reply)"
echo "51st message of user1: swaks exit $SWAKS_RC, reply: $reply" >&2
expect_eq "$([ "$SWAKS_RC" -ne 0 ] && echo refused || echo accepted)" refused "user1: 51st message"
expect_match "$reply" '^5[0-9][0-9] 5\.[0-9]+\.[0-9]+ Sending quota exceeded: 50 messages per [^,]+, retry in [0-9]' \
  "user1: 51st refused with 5xx and the policy's text"

qm_wait_for_line "$PF_LOG" 'milter-reject: MAIL from .*Sending quota exceeded: 50 messages per.*from=<user1@hudedu\.net>' 10 || true
expect_eq "$(grep -Ec 'milter-reject: .*from=<user1@hudedu\.net>' "$PF_LOG" || true)" 1 \
  "Postfix log: one milter-reject for user1"

swaks_send "$PF_PORT" 'User1+x@HUDEDU.NET' bob@hudedu.net
reply="$(swaks_error_reply)"
echo "User1+x@HUDEDU.NET: swaks exit $SWAKS_RC, reply: $reply" >&2
expect_match "$reply" '^5[0-9][0-9] .*Sending quota exceeded' "User1+x@HUDEDU.NET does not dodge user1's quota"

send_n 60 "$PF_PORT" user2@hudedu.net bob@hudedu.net
expect_eq "$SENT_OK" 60 "user2 (exempt): 60 of 60 accepted"
expect_eq "$(grep -Ec 'milter-reject: .*from=<user2@hudedu\.net>' "$PF_LOG" || true)" 0 \
  "Postfix log: no milter-reject for user2"

# Exactly the 110 accepted messages reach the sink.
qm_wait_for_count "$PF_LOG" 'status=sent' 110 30 || true
expect_eq "$(grep -c 'status=sent' "$PF_LOG" || true)" 110 "messages delivered to the sink"

# Counters: user1's live under its normalised address, and nothing for the
# exempt user2 nor for the +tag / upper-case spelling.
keys="$(redis-cli -p "$REDIS_PORT" --scan --pattern '*' | sort)"
echo "redis keys:" >&2; printf '  %s\n' $keys >&2
expect_match "$keys" 'user1@hudedu\.net' "a counter key names user1@hudedu.net"
expect_eq "$(printf '%s\n' "$keys" | grep -Ec 'user2|\+x|User1|HUDEDU' || true)" 0 \
  "no counter for user2, +x or the upper-case spelling"

e2e_done
