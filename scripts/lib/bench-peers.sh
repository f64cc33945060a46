# shellcheck shell=bash
# Private instances of the peers quotamilter is compared with, each on free
# loopback ports under QM_TMP, started in the foreground or tracked by their
# pidfile, and stopped by PID at exit (scripts/lib/harness.sh's cleanup).
# All are configured to the same rule as bench/rules/sender-rate.json: per
# envelope sender, BENCH_PEER_LIMIT messages per 1800 s, a limit high enough
# that nothing is refused during a benchmark.
# Needs: scripts/install-bench-deps.sh (rspamd, postfwd, policyd-rate-limit).

BENCH_PEER_LIMIT="${BENCH_PEER_LIMIT:-1000000}"

# Waits until FILE holds a pid of a live process; prints it.
bench_pid_from_file() {
  local file="$1" timeout="${2:-30}" i pid
  for ((i = 0; i < timeout * 10; i++)); do
    pid="$(tr -dc '0-9' <"$file" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      echo "$pid"
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- rspamd
bench_run_rspamd() {  # PORT DIR REDIS_PORT: a START for qm_start_on_free_port
  local port="$1" dir="$2" redis_port="$3"
  cat >"$dir/rspamd.conf" <<EOF
options {
  pidfile = "$dir/rspamd.pid";
  dbdir = "$dir/db";
  tempdir = "$dir";
  # no resolver on this machine; nothing here needs DNS
  dns { nameserver = ["127.0.0.1:1"]; timeout = 1s; retransmits = 1; }
}
logging { type = "file"; filename = "$dir/rspamd.log"; level = "warning"; }
modules { path = "\${PLUGINSDIR}/ratelimit.lua"; }
redis { servers = "127.0.0.1:$redis_port"; }
worker "rspamd_proxy" {
  bind_socket = "127.0.0.1:$port";
  milter = yes;
  timeout = 120s;
  count = 2;
  upstream "local" { default = yes; self_scan = yes; }
}
ratelimit {
  rates {
    sender_rate {
      selector = "from('smtp'):addr";
      bucket = { burst = $BENCH_PEER_LIMIT; rate = "$BENCH_PEER_LIMIT / 30m"; }
    }
  }
  max_rate_mult = 1;
  max_bucket_mult = 1;
}
actions { reject = 1000; add_header = 500; greylist = 400; }
EOF
  rspamd -f -c "$dir/rspamd.conf" -u _rspamd -g _rspamd >"$dir/rspamd.out" 2>&1 &
  QM_SVC_PID=$!
}

# bench_start_rspamd NAME REDIS_PORT  ->  NAME_PORT NAME_PID NAME_POSTFIX NAME_SOCKET
# rspamd 3.4: only its proxy worker, in milter mode, scanning by itself
# (self_scan, no normal worker), only the ratelimit module (the module path
# names ratelimit.lua alone), counters in our Redis. The ratelimit module's
# "dynamic" multipliers are pinned to 1 so the limit does not grow with ham.
# Two proxy processes: one per core, as quotamilter's threads can use both.
bench_start_rspamd() {
  local name="$1" redis_port="$2" dir port pid
  dir="$QM_TMP/$(echo "$name" | tr 'A-Z' 'a-z')"
  mkdir -p "$dir/db"
  chown _rspamd "$dir/db"
  # rspamd compiles its configuration first: on a busy 2-core machine ~30 s.
  qm_start_on_free_port --wait 120 bench_run_rspamd "$dir" "$redis_port" ||
    { tail -n 20 "$dir/rspamd.out" "$dir/rspamd.log" >&2; qm_die "rspamd $name did not start"; }
  port="$QM_SVC_PORT" pid="$QM_SVC_PID"
  qm_on_exit "qm_stop_pid $pid"
  printf -v "${name}_PORT" '%s' "$port"
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_SOCKET" '%s' "inet:$port@127.0.0.1"
  printf -v "${name}_POSTFIX" '%s' "inet:127.0.0.1:$port"
  bench_log "rspamd $name (proxy, milter mode, ratelimit) on 127.0.0.1:$port (pid $pid)"
}

# ---------------------------------------------------------------- postfwd
bench_run_postfwd() {  # PORT DIR: a START for qm_start_on_free_port
  local port="$1" dir="$2"
  rm -f "$dir/postfwd.pid"
  postfwd --file "$dir/postfwd.cf" --interface 127.0.0.1 --port "$port" --pidfile "$dir/postfwd.pid" \
    --user nobody --group nogroup -c 0 --nodns --noidlestats --perfmon >"$dir/postfwd.out" 2>&1 || return 1
  QM_SVC_PID=$(bench_pid_from_file "$dir/postfwd.pid" 30)
}

# bench_start_postfwd NAME  ->  NAME_PORT NAME_PID NAME_POLICY (Postfix check_policy_service target)
# postfwd 1.35 (postfwd2) always daemonizes: tracked by its pidfile. The
# request cache is off (-c 0): every request is evaluated, like a milter.
bench_start_postfwd() {
  local name="$1" dir port pid
  dir="$QM_TMP/$(echo "$name" | tr 'A-Z' 'a-z')"
  mkdir -p "$dir"
  cat >"$dir/postfwd.cf" <<EOF
id=SENDER_RATE; action=rate(sender/$BENCH_PEER_LIMIT/1800/450 4.7.1 Sending quota exceeded)
EOF
  qm_start_on_free_port --wait 30 bench_run_postfwd "$dir" ||
    { cat "$dir/postfwd.out" >&2; qm_die "postfwd $name did not start"; }
  port="$QM_SVC_PORT" pid="$QM_SVC_PID"
  qm_on_exit "qm_stop_pid $pid"
  printf -v "${name}_PORT" '%s' "$port"
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_POLICY" '%s' "inet:127.0.0.1:$port"
  bench_log "postfwd $name on 127.0.0.1:$port (pid $pid)"
}

# ---------------------------------------------------------------- policyd-rate-limit
bench_run_policyd() {  # PORT DIR: a START for qm_start_on_free_port
  local port="$1" dir="$2"
  cat >"$dir/policyd.yaml" <<EOF
debug: False
user: "nobody"
group: "nogroup"
pidfile: "$dir/policyd.pid"
sqlite_config:
    database: "$dir/db.sqlite3"
backend: 0
SOCKET: ["127.0.0.1", $port]
limits:
    - [$BENCH_PEER_LIMIT, 1800]
limits_by_id: {}
limit_by_sasl: False
limit_by_sender: True
limit_by_ip: False
limited_networks: []
success_action: "dunno"
fail_action: "defer_if_permit Sending quota exceeded"
db_error_action: "dunno"
report: False
delay_to_close: 300
EOF
  policyd-rate-limit --file "$dir/policyd.yaml" >"$dir/policyd.out" 2>&1 &
  QM_SVC_PID=$!
}

# bench_start_policyd NAME  ->  NAME_PORT NAME_PID NAME_POLICY
# policyd-rate-limit 1.0.1.1: limits by sender, sqlite in our directory.
bench_start_policyd() {
  local name="$1" dir port pid
  dir="$QM_TMP/$(echo "$name" | tr 'A-Z' 'a-z')"
  mkdir -p "$dir"
  chown nobody:nogroup "$dir"
  qm_start_on_free_port --wait 30 bench_run_policyd "$dir" ||
    { cat "$dir/policyd.out" >&2; qm_die "policyd-rate-limit $name did not start"; }
  port="$QM_SVC_PORT" pid="$QM_SVC_PID"
  qm_on_exit "qm_stop_pid $pid"
  printf -v "${name}_PORT" '%s' "$port"
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_POLICY" '%s' "inet:127.0.0.1:$port"
  bench_log "policyd-rate-limit $name on 127.0.0.1:$port (pid $pid)"
}

# main.cf line that asks a policy service at RCPT, before anything can permit.
bench_policy_restrictions() {
  echo "smtpd_recipient_restrictions = check_policy_service $1, permit_mynetworks, reject_unauth_destination"
}
