#!/usr/bin/env bash
# Content rules through Postfix (tests/e2e/rules/content_rules.json):
#   - a forged internal From from outside is refused with the policy's text;
#   - Precedence: bulk is delivered with X-Quota-Policy: tag_bulk (read at
#     the sink's dump file), other mail without it;
#   - a header:From quota: 2 per From, the 3rd refused, another From passes;
#   - a 100 KB header and 1000 headers are delivered, decided, and fast;
#     quotamilter is still running afterwards.
source "$(dirname "$0")/common.sh"
RULES="$E2E_DIR/rules/content_rules.json"

# A sink that appends every message it receives to DUMP_FILE (smtp-sink -D),
# so the headers Postfix delivered can be read.
start_dump_sink() {
  local dir="$QM_TMP/dump-sink"
  mkdir -p "$dir"
  chown postfix "$dir"
  DUMP_FILE="$dir/messages"
  qm_start_on_free_port qm_run_sink "$dir/sink.log" 64 -D "$DUMP_FILE" || qm_die "dump sink did not start"
  qm_own_pid "$QM_SVC_PID"
  SINK_PORT="$QM_SVC_PORT"
}

qm_harness_init
qm_start_redis REDIS
start_dump_sink
# shellcheck disable=SC2086
qm_start_quotamilter QM "$RULES" "redis://127.0.0.1:$REDIS_PORT/0" "${E2E_STORE_TIMEOUT[@]}" ${QM_E2E_SERVE_ARGS:-}
e2e_prepare_mutation
qm_start_postfix PF "$(e2e_milter_for QM)" "$SINK_PORT"

# 1. Forged internal From from outside: refused after DATA with the policy's text.
swaks_send "$PF_PORT" spoof@outside.example boss@hudedu.net --header "From: The Boss <boss@hudedu.net>" \
  --header "Subject: forged"
expect_eq "$(swaks_error_reply)" "550 5.7.1 External mail may not claim to be from hudedu.net" \
  "forged From from outside: refused with the policy's reply"
swaks_send "$PF_PORT" spoof@outside.example boss@hudedu.net \
  --header "From: =?UTF-8?Q?The_Boss?= <BOSS@HUDEDU.NET>" --header "Subject: forged, encoded display name"
expect_eq "$(swaks_error_reply)" "550 5.7.1 External mail may not claim to be from hudedu.net" \
  "forged From with an encoded display name and upper case: refused too"
swaks_send "$PF_PORT" boss@hudedu.net friend@outside.example --header "From: The Boss <boss@hudedu.net>" \
  --header "Subject: genuine"
expect_eq "$SWAKS_RC" 0 "the same From with an internal envelope sender: accepted"

# 2. Tagging: delivered with the header; plain mail without it.
swaks_send "$PF_PORT" news@list.example reader@hudedu.net --header "Precedence: bulk" --header "Subject: newsletter-1"
expect_eq "$SWAKS_RC" 0 "Precedence: bulk accepted"
swaks_send "$PF_PORT" person@list.example reader@hudedu.net --header "Subject: personal-1"
expect_eq "$SWAKS_RC" 0 "plain mail accepted"

# 3. header:From quota: 2 per From per hour (the envelope sender is always webmail@).
send_from() {
  swaks_send "$PF_PORT" webmail@hudedu.net x@outside.example --header "From: $1" --header "Subject: webmail"
}
send_from "Alice <alice@hudedu.net>"
expect_eq "$SWAKS_RC" 0 "webmail: Alice's 1st message accepted"
send_from "alice+x@HUDEDU.net"
expect_eq "$SWAKS_RC" 0 "webmail: Alice's 2nd message (another spelling) accepted"
send_from "\"Alice\" <alice@hudedu.net>"
expect_eq "$(swaks_error_reply)" "550 5.7.1 quota for alice@hudedu.net: 2/2" "webmail: Alice's 3rd message refused"
send_from "Bob <bob@hudedu.net>"
expect_eq "$SWAKS_RC" 0 "webmail: Bob (another From) accepted"
expect_eq "$(redis-cli -p "$REDIS_PORT" --scan --pattern '*alice@hudedu.net*webmail_per_from:header:from*' | wc -l)" 1 \
  "one Redis counter for Alice's From"

# 4. Hostile headers: a 100 KB header the rules look at, and 1000 headers.
big="$QM_TMP/big-header.eml"
many="$QM_TMP/many-headers.eml"
"$QM_PYTHON" - "$big" "$many" <<'PY'
import sys
big, many = sys.argv[1], sys.argv[2]
with open(big, "w") as f:
    f.write("From: big@outside.example\r\nTo: reader@hudedu.net\r\nSubject: big-header\r\n")
    f.write("Precedence: " + "\r\n ".join(["a" * 70] * 1450) + "\r\n\r\nbody\r\n")
with open(many, "w") as f:
    f.write("From: many@outside.example\r\nTo: reader@hudedu.net\r\nSubject: many-headers\r\n")
    f.write("Precedence: bulk\r\n")
    for i in range(1000):
        f.write("Precedence: list-%d\r\n" % i)
    f.write("\r\nbody\r\n")
PY
expect_le 100000 "$(stat -c %s "$big")" "the big header message is over 100 KB"
start=$(date +%s%N)
swaks_send "$PF_PORT" big@outside.example reader@hudedu.net --data "$big"
big_ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "$SWAKS_RC" 0 "a 100 KB header: accepted"
start=$(date +%s%N)
swaks_send "$PF_PORT" many@outside.example reader@hudedu.net --data "$many"
many_ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "$SWAKS_RC" 0 "1000 headers: accepted"
# Far below milter_content_timeout (30 s here, 300 s by default).
expect_le "$big_ms" 5000 "a 100 KB header: the SMTP transaction took ms"
expect_le "$many_ms" 5000 "1000 headers: the SMTP transaction took ms"
if kill -0 "$QM_PID" 2>/dev/null; then e2e_pass "quotamilter still running"; else e2e_fail "quotamilter died"; fi

# At the sink: wait for the deliveries (genuine, newsletter, personal, 3 webmail, big, many = 8).
qm_wait_for_count "$PF_LOG" "status=sent" 8 30 || true
sleep 1
expect_eq "$(grep -c 'status=sent' "$PF_LOG" || true)" 8 "8 messages delivered"
dump="$(tr -d '\r' <"$DUMP_FILE" 2>/dev/null || true)"
newsletter="$(printf '%s\n' "$dump" | awk '/^X-Quota-Policy: tag_bulk$/ {tag=1} /^Subject: / {subject=$0} /^$/ && subject {print subject "|" tag; subject=""; tag=0}' || true)"
expect_match "$newsletter" 'Subject: newsletter-1\|1' "the newsletter arrived with X-Quota-Policy: tag_bulk"
expect_match "$newsletter" 'Subject: personal-1\|0' "the personal message arrived without it"
expect_match "$newsletter" 'Subject: many-headers\|1' "the 1000-header message (first Precedence: bulk) was tagged"
expect_eq "$(printf '%s\n' "$dump" | grep -c '^X-Quota-Policy: ' || true)" 2 "exactly 2 tagged messages at the sink"
expect_eq "$(grep -c 'milter-reject: END-OF-MESSAGE.*5.7.1 External mail may not claim' "$PF_LOG" || true)" 2 \
  "Postfix logged the 2 content-rule rejections"
expect_eq "$(grep -c 'reject: policy=no_forged_internal_from content-rule' "$QM_LOG" || true)" 2 \
  "quotamilter logged the 2 content-rule rejections"

e2e_done
