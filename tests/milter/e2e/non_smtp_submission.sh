#!/usr/bin/env bash
# quotamilter as a non_smtpd_milters filter (mail from the sendmail command):
# Postfix's cleanup emulates the SMTP events with a connect from 127.0.0.1
# port 0 and treats a refusal at RCPT as a configuration error. quotamilter
# recognises that connect and refuses such mail at end of message only.
# Rules: 2 recipients per hour for @hudedu.net; each message has 2.
source "$QM_SOURCE_DIR/tests/e2e/common.sh"
qm_harness_init
qm_start_redis REDIS
qm_start_sink SINK
qm_start_quotamilter QM "$QM_SOURCE_DIR/tests/milter/e2e/non_smtp_rules.json" \
  "redis://127.0.0.1:$REDIS_PORT/0" --log-level debug
qm_start_postfix PF "" "$SINK_PORT" "non_smtpd_milters = $QM_POSTFIX" "milter_default_action = tempfail"

for i in 1 2; do
  printf 'Subject: local %s\n\nbody\n' "$i" |
    sendmail -C "$PF_DIR" -f user1@hudedu.net bob@hudedu.net alice@hudedu.net
done
qm_wait_for_line "$PF_LOG" 'milter-reject: END-OF-MESSAGE' 20 || true

expect_eq "$(grep -c 'non-SMTP submission' "$QM_LOG" || true)" 2 "both submissions recognised as non-SMTP"
expect_eq "$(grep -c 'milter-reject: END-OF-MESSAGE from localhost\[127.0.0.1\]: 5.7.1 local quota 2/2' "$PF_LOG" || true)" 1 \
  "the second message is refused at end of message with the policy's text"
expect_eq "$(grep -c 'milter configuration error' "$PF_LOG" || true)" 0 "no 'milter configuration error' (no refusal at RCPT)"
expect_eq "$(grep -c 'reject: policy=local_submit .*stage=END-OF-MESSAGE' "$QM_LOG" || true)" 1 \
  "quotamilter logs one refusal, at end of message"
qm_wait_for_count "$PF_LOG" 'to=<(bob|alice)@hudedu\.net>.*status=sent' 2 20 || true
expect_eq "$(grep -Ec 'to=<(bob|alice)@hudedu\.net>.*status=sent' "$PF_LOG" || true)" 2 "the first message is delivered to both"
e2e_done
