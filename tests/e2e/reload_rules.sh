#!/usr/bin/env bash
# (g) SIGUSR1 reloads the rule file. A broken file (a JSON syntax error, then
# a misspelt key) is not loaded: the old limit stays in force and the log
# names FILE:LINE:COL. A good file's new limit applies at once.
source "$(dirname "$0")/common.sh"
qm_harness_init
rules="$QM_TMP/reload.json"
sender=reload@hudedu.net

# write_rules LIMIT [QUOTA-KEY] [SEPARATOR]: the quota sits on line 9.
write_rules() {
  local limit="$1" key="${2:-messages}" sep="${3-,}"
  cat >"$rules.new" <<JSON
{
  "version": 1,
  "policies": [
    {
      "name": "reload_limit",
      "match": { "sender": ["$sender"] },
      "quotas": [
        { "track": "sender", "window": "1h", "verdict": "reject",
          "$key": $limit$sep "reply": "reload quota: {limit} messages per {window}" }
      ]
    }
  ]
}
JSON
  mv "$rules.new" "$rules"   # atomic, as an editor or deploy tool would
}

# reload_and_wait: SIGUSR1, then wait (bounded) until quotamilter has logged something.
reload_and_wait() {
  local size
  size=$(stat -c %s "$QM_LOG")
  kill -USR1 "$QM_PID" 2>/dev/null || { e2e_fail "quotamilter was gone before the reload"; return 0; }
  for ((i = 0; i < 50; i++)); do
    [ "$(stat -c %s "$QM_LOG")" -gt "$size" ] && break
    sleep 0.1
  done
  sleep 0.3
}

write_rules 3
qm_start_redis REDIS
qm_start_sink SINK
qm_start_quotamilter QM "$rules" "redis://127.0.0.1:$REDIS_PORT/0" "${E2E_STORE_TIMEOUT[@]}"
e2e_prepare_mutation
qm_start_postfix PF "$(e2e_milter_for QM)" "$SINK_PORT"

send_n 4 "$PF_PORT" "$sender" someone@ext.example
expect_eq "$SENT_OK" 3 "limit 3: 3 of 4 accepted"
expect_match "$LAST_ERROR" '^5[0-9][0-9] .*reload quota: 3 messages per' "limit 3: 4th refused"

# Broken 1: a JSON syntax error on line 9 (missing comma); the new limit would be 100.
write_rules 100 messages ""
reload_and_wait
echo "log after broken reload 1:" >&2; tail -n 3 "$QM_LOG" >&2
expect_match "$(cat "$QM_LOG")" "$rules:9:[0-9]+" "log names $rules:9:COL for the syntax error"
send_n 1 "$PF_PORT" "$sender" someone@ext.example
expect_eq "$SENT_OK" 0 "after broken reload 1: the old limit (3) still refuses"
expect_match "$LAST_ERROR" 'reload quota: 3 messages per' "after broken reload 1: old policy's text"
expect_eq "$(kill -0 "$QM_PID" 2>/dev/null && echo alive || echo dead)" alive "quotamilter alive after broken reload 1"

# Broken 2: a misspelt key on line 9 ("mesages"); valid JSON, invalid rules.
write_rules 100 mesages
reload_and_wait
echo "log after broken reload 2:" >&2; tail -n 3 "$QM_LOG" >&2
expect_eq "$(grep -Ec "$rules:9:[0-9]+.*mesages" "$QM_LOG" || true)" 1 "log names $rules:9:COL and the unknown key"
send_n 1 "$PF_PORT" "$sender" someone@ext.example
expect_eq "$SENT_OK" 0 "after broken reload 2: the old limit (3) still refuses"

# Good: limit 5. Applies at once: exactly 2 more pass.
write_rules 5
reload_and_wait
echo "log after good reload:" >&2; tail -n 2 "$QM_LOG" >&2
send_n 3 "$PF_PORT" "$sender" someone@ext.example
expect_eq "$SENT_OK" 2 "after good reload (limit 5): exactly 2 more accepted"
expect_match "$LAST_ERROR" '^5[0-9][0-9] .*reload quota: 5 messages per' "the next is refused with the new limit in the text"

e2e_done
