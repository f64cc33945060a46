#!/usr/bin/env bash
# (d) Two Postfix instances, each with its own quotamilter, sharing one Redis:
# one global quota. Senders of pool.example share 10 messages per hour
# (track "policy"); senders and MTAs alternate, exactly 10 pass in total.
# Then 2 x 10 concurrent sessions on the two MTAs race for racepool.example's
# 9 messages: exactly 9 pass.
source "$(dirname "$0")/common.sh"
rules="$E2E_DIR/rules/e2e-quotas.json"
qm_harness_init
qm_start_redis REDIS
qm_start_sink SINK
redis_url="redis://127.0.0.1:$REDIS_PORT/0"
qm_start_quotamilter QM1 "$rules" "$redis_url" "${E2E_STORE_TIMEOUT[@]}"
qm_start_quotamilter_unix QM2 "$rules" "$redis_url" "${E2E_STORE_TIMEOUT[@]}"   # one TCP, one unix socket
e2e_prepare_mutation
qm_start_postfix PF1 "$(e2e_milter_for QM1)" "$SINK_PORT"
qm_start_postfix PF2 "$(e2e_milter_for QM2)" "$SINK_PORT"

senders=(a@pool.example b@pool.example c@pool.example)
ok1=0 ok2=0 last_error=""
for ((i = 0; i < 24; i++)); do
  if ((i % 2 == 0)); then port="$PF1_PORT"; else port="$PF2_PORT"; fi
  swaks_send "$port" "${senders[i % 3]}" someone@ext.example
  if [ "$SWAKS_RC" -eq 0 ]; then
    if ((i % 2 == 0)); then ok1=$((ok1 + 1)); else ok2=$((ok2 + 1)); fi
  else
    last_error="$(swaks_error_reply)"
  fi
done
echo "accepted via MTA 1: $ok1, via MTA 2: $ok2; last refusal: $last_error" >&2
expect_eq "$((ok1 + ok2))" 10 "pool.example: exactly 10 of 24 accepted across both MTAs"
expect_eq "$ok1/$ok2" 5/5 "pool.example: 5 accepted by each MTA (first 10 in turn)"
expect_match "$last_error" '^5[0-9][0-9] .*pool quota: 10 messages per' "refusals carry the pool's text"
expect_eq "$(grep -c 'milter-reject' "$PF1_LOG" || true)/$(grep -c 'milter-reject' "$PF2_LOG" || true)" 7/7 \
  "each MTA logged 7 milter-rejects"

# Concurrent round across both MTAs.
out1="$QM_TMP/race1.json" out2="$QM_TMP/race2.json"
probe --port "$PF1_PORT" --from x@racepool.example --to someone@ext.example --sessions 10 >"$out1" &
p1=$!
probe --port "$PF2_PORT" --from y@racepool.example --to someone@ext.example --sessions 10 >"$out2" &
p2=$!
wait "$p1" "$p2"
acc=$(cat "$out1" "$out2" | json_count accepted)
ref=$(cat "$out1" "$out2" | json_count refused)
echo "racepool.example: accepted $acc, refused $ref (MTA 1: $(json_count accepted <"$out1"), MTA 2: $(json_count accepted <"$out2"))" >&2
expect_eq "$acc" 9 "racepool.example: exactly 9 of 20 concurrent messages accepted"
expect_eq "$ref" 11 "racepool.example: the other 11 refused with 5xx"

e2e_done
