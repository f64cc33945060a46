#!/usr/bin/env bash
# Day two (issue 5), through real Postfix and Redis: `status` and `reset`
# after real traffic, /metrics after traffic, the privilege drop (euid, socket
# owner and mode), and the global monitor switch letting mail through while
# logging what it would refuse.
source "$(dirname "$0")/common.sh"
qm_harness_init
rules="$QM_TMP/operations.json"
cat >"$rules" <<'JSON'
{
  "version": 1,
  "policies": [
    { "name": "user1_ratelimit",
      "match": { "sender": ["user1@hudedu.net"] },
      "quotas": [ { "track": "sender", "messages": 7, "window": "30m", "verdict": "reject",
                    "reply": "Sending quota exceeded: {limit} messages per {window}" } ] }
  ]
}
JSON
chmod 644 "$rules"
to=bob@ext.example

# metrics_of PORT: the /metrics text (HTTP/1.0 over bash's /dev/tcp, bounded).
metrics_of() {
  timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3' _ "$1" || true
}
# sample TEXT SERIES: the value of one sample line, or "none".
sample() { { printf '%s\n' "$1" | grep -F "$2 " | tail -n 1 | awk '{print $NF}'; } || true; }
# status ARGS...: runs `quotamilter status` against this test's Redis; sets STATUS_RC, STATUS_OUT.
status() {
  set +e
  STATUS_OUT="$("$QUOTAMILTER" status --redis "redis://127.0.0.1:$REDIS_PORT/0" --rules "$rules" "$@" 2>&1)"
  STATUS_RC=$?
  set -e
}

qm_start_redis REDIS
qm_start_sink SINK
metrics_port=$(qm_free_port)
# Started as root, runs as nobody:postfix once the unix socket is open.
qm_start_quotamilter_unix QM "$rules" "redis://127.0.0.1:$REDIS_PORT/0" --user nobody \
  --metrics "127.0.0.1:$metrics_port" --store-timeout-ms 2000 ${QM_E2E_SERVE_ARGS:-}
e2e_prepare_mutation
qm_start_postfix PF "$(e2e_milter_for QM)" "$SINK_PORT"

# --- privilege drop
sock="${QM_SOCKET#unix:}"
expect_eq "$(ps -o euid= -p "$QM_PID" | tr -d ' ')" "$(id -u nobody)" "quotamilter runs as nobody after start"
expect_eq "$(stat -c '%U:%G %a' "$sock")" "nobody:postfix 660" "socket owned by nobody:postfix, mode 660"

# --- status after 3 messages under a 7-message quota
send_n 3 "$PF_PORT" user1@hudedu.net "$to"
expect_eq "$SENT_OK" 3 "3 messages from user1 accepted"
status user1@hudedu.net
expect_eq "$STATUS_RC" 0 "status exits 0 while the quota has room"
expect_match "$STATUS_OUT" 'user1_ratelimit +sender +user1@hudedu.net +3/7 +messages +30m +in ' "status shows 3 of 7 for user1_ratelimit"

# --- fill it: 4 more pass, the 8th is refused; status says full
send_n 5 "$PF_PORT" User1+x@HUDEDU.NET "$to"
expect_eq "$SENT_OK" 4 "4 more accepted, then refused"
expect_match "$LAST_ERROR" '^550 .*Sending quota exceeded: 7 messages per 30m' "the refusal carries the policy's text"
status user1@hudedu.net --json
expect_eq "$STATUS_RC" 1 "status exits 1 when the quota is full"
expect_match "$STATUS_OUT" '"count": 7' "status --json: count 7"

# --- /metrics after that traffic
text="$(metrics_of "$metrics_port")"
expect_eq "$(sample "$text" 'quotamilter_refusals_total{policy="user1_ratelimit",verdict="reject"}')" 1 \
  "/metrics: one refusal by user1_ratelimit"
expect_eq "$(sample "$text" quotamilter_messages_accepted_total)" 7 "/metrics: 7 messages accepted"
expect_match "$(sample "$text" 'quotamilter_store_call_seconds_count{operation="charge"}')" '^[0-9]+$' \
  "/metrics: store charge latency histogram present"

# --- reset lets 7 more through
"$QUOTAMILTER" reset --redis "redis://127.0.0.1:$REDIS_PORT/0" user1@hudedu.net
expect_eq "$?" 0 "reset exits 0"
send_n 8 "$PF_PORT" user1@hudedu.net "$to"
expect_eq "$SENT_OK" 7 "after reset: 7 more accepted, the 8th refused"

# --- the global monitor switch: the quota is full, yet mail passes and the log says what would happen
qm_start_quotamilter MON "$rules" "redis://127.0.0.1:$REDIS_PORT/0" --monitor \
  --metrics "127.0.0.1:$(qm_free_port)" --store-timeout-ms 2000 ${QM_E2E_SERVE_ARGS:-}
qm_postfix_set PF "smtpd_milters = $(e2e_milter_for MON)"
sleep 1
send_n 3 "$PF_PORT" user1@hudedu.net "$to"
expect_eq "$SENT_OK" 3 "--monitor: 3 messages over quota all accepted"
expect_eq "$(grep -c 'would reject: policy=user1_ratelimit' "$MON_LOG" || true)" 3 \
  "--monitor: each logged as 'would reject'"
status user1@hudedu.net --json
expect_match "$STATUS_OUT" '"count": 7' "--monitor: a full quota is not charged past its limit"

e2e_done
