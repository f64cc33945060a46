# shellcheck shell=bash
# A private, throw-away mail system on loopback: redis-server, smtp-sink,
# Postfix instances and quotamilter, each on a free port, all under one temp
# directory, all stopped by PID (and `postfix -c DIR stop`) when the calling
# script exits, fails or is interrupted. Nothing here uses system services or
# fixed ports, so several harnesses (and several Postfix instances inside one
# harness) run side by side.
#
# Use:   source scripts/lib/harness.sh
#        qm_harness_init                    # temp dir + exit trap
#        qm_start_redis          REDIS      # sets REDIS_PORT, REDIS_PID
#        qm_start_sink           SINK       # sets SINK_PORT
#        qm_start_quotamilter    QM RULES "redis://127.0.0.1:$REDIS_PORT/0"
#        qm_start_postfix        PF "inet:127.0.0.1:$QM_PORT" "$SINK_PORT"
#                                           # sets PF_PORT, PF_DIR, PF_LOG
# Each start function takes a NAME and exports NAME_* variables, so a second
# instance is just another name (QM2, PF2, ...). Also: qm_start_quotamilter_unix,
# qm_start_fake_milter, qm_restart_redis, qm_restart_quotamilter,
# qm_postfix_set, qm_wait_listening, qm_wait_for_line, qm_wait_for_count.
# Another service on a free port: qm_start_on_free_port (pick, start, wait,
# retry); a bare port: qm_free_port VAR (or port=$(qm_free_port)).
# Needs root (Postfix), postfix, smtp-sink, redis-server, redis-cli, ss, flock, python3.

QM_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
QM_PYTHON="${QM_PYTHON:-/usr/bin/python3}"
[ -x "$QM_PYTHON" ] || QM_PYTHON=python3

# ---------------------------------------------------------------- bookkeeping
QM_CLEANUP=()        # commands run in reverse order at exit
QM_TMP=""
QM_SVC_STARTING=""   # a service qm_start_on_free_port has started but not handed over

qm_log() { printf '[harness %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
qm_die() { printf '[harness] FATAL: %s\n' "$*" >&2; exit 1; }

qm_harness_init() {
  [ "$(id -u)" -eq 0 ] || qm_die "needs root (a private Postfix instance runs as root)"
  QM_TMP="$(mktemp -d "${TMPDIR:-/tmp}/qm-e2e.XXXXXX")"
  chmod 755 "$QM_TMP"   # the postfix user must reach data dirs and sockets below
  trap 'qm_harness_cleanup' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  qm_start_watchdog
}

qm_on_exit() { QM_CLEANUP+=("$*"); }

# qm_own_pid PID: stop PID at exit, and let the watchdog stop it if this
# shell dies without running its trap.
qm_own_pid() {
  QM_CLEANUP+=("qm_stop_pid $1")
  echo "pid $1 $(cat "/proc/$1/comm" 2>/dev/null || echo '?')" >>"$QM_TMP/.owned"
}

# If this shell is killed without running its EXIT trap (SIGKILL, e.g. a
# ctest TIMEOUT), its services would live on; Postfix's master is not even our
# child. A detached watchdog (reparented to init, so it survives the kill)
# then stops what QM_TMP/.owned lists: Postfix instances, and PIDs whose
# command name still matches (never a reused PID). A normal exit empties the
# list first. One check per second, at most 6 hours.
qm_start_watchdog() {
  : >"$QM_TMP/.owned"
  (
    setsid bash -c '
      owner=$1 list=$2
      for ((i = 0; i < 21600; i++)); do
        kill -0 "$owner" 2>/dev/null || break
        [ -f "$list" ] || exit 0
        sleep 1
      done
      [ -f "$list" ] || exit 0
      while read -r kind what comm; do
        case "$kind" in
          postfix) postfix -c "$what" stop >/dev/null 2>&1 ;;
          pid) if [ "$(cat "/proc/$what/comm" 2>/dev/null)" = "$comm" ]; then
                 kill -TERM "$what" 2>/dev/null; kill -CONT "$what" 2>/dev/null
               fi ;;
        esac
      done <"$list"
      sleep 5   # then KILL whatever ignored TERM
      while read -r kind what comm; do
        if [ "$kind" = pid ] && [ "$(cat "/proc/$what/comm" 2>/dev/null)" = "$comm" ]; then
          kill -KILL "$what" 2>/dev/null
        fi
      done <"$list"
      exit 0' qm-harness-watchdog "$$" "$QM_TMP/.owned" </dev/null >/dev/null 2>&1 &
  )
}

qm_harness_cleanup() {
  local status=$?
  set +e
  local i
  rm -f "$QM_TMP/.owned"   # the watchdog has nothing left to do
  qm_stop_pid "$QM_SVC_STARTING" >/dev/null 2>&1   # caught in qm_start_on_free_port's wait
  for ((i = ${#QM_CLEANUP[@]} - 1; i >= 0; i--)); do
    eval "${QM_CLEANUP[$i]}" >/dev/null 2>&1
  done
  if [ -n "$QM_TMP" ] && [ -d "$QM_TMP" ]; then
    if [ "$status" -ne 0 ] || [ "${QM_KEEP_TMP:-0}" = 1 ]; then
      qm_log "kept $QM_TMP for inspection (logs: */maillog, *.log)"
    else
      rm -rf "$QM_TMP"
    fi
  fi
  return "$status"
}

# Stops one process we started: TERM (and CONT, in case a test SIGSTOPped
# it), up to 5 s, then KILL. Never touches anything we did not start.
qm_stop_pid() {
  local pid="$1" i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  kill -CONT "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# ---------------------------------------------------------------- ports
# qm_free_port [VAR]: a free loopback TCP port below the kernel's ephemeral
# range (so outgoing connections cannot take it meanwhile), never 25 or 6379,
# bind-tested, and never handed out twice by this harness. Sets VAR, or prints
# the port when no VAR is given. The ports given are recorded in
# QM_TMP/.ports (under a lock), not in a variable: a call in a subshell, as in
# port=$(qm_free_port), counts for the calling shell too.
qm_free_port() {
  local _qfp_var="${1:-}" _qfp_port _qfp_try
  [ -n "$QM_TMP" ] && [ -d "$QM_TMP" ] || qm_die "qm_free_port: no QM_TMP (call qm_harness_init first)"
  {
    flock 9
    for ((_qfp_try = 0; _qfp_try < 200; _qfp_try++)); do
      _qfp_port=$((20000 + RANDOM % 12000))
      grep -qxF "$_qfp_port" "$QM_TMP/.ports" && continue
      if "$QM_PYTHON" - "$_qfp_port" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
      then
        echo "$_qfp_port" >&9
        if [ -n "$_qfp_var" ]; then printf -v "$_qfp_var" '%s' "$_qfp_port"; else echo "$_qfp_port"; fi
        return 0
      fi
    done
  } 9>>"$QM_TMP/.ports"
  qm_die "no free loopback port found"
}

# The ports qm_free_port handed out so far, one a line.
qm_ports_given() { cat "$QM_TMP/.ports" 2>/dev/null || true; }

# qm_start_on_free_port [--tries N] [--wait S] [--ready CHECK] START [ARG...]
# The pick/start/wait/retry loop of every service on a loopback TCP port.
# Each try (N, default 3): a new port from qm_free_port, then `START PORT
# ARG...` in this shell, which starts the service on 127.0.0.1:PORT and sets
# QM_SVC_PID to the process to watch (or leaves it "" for a daemon it cannot
# name), and returns non-zero if it could not start it; START also clears
# whatever an earlier try left behind. Then waits S seconds (default 10) at
# most until the port listens (giving up early if QM_SVC_PID dies) and, with
# --ready, until `CHECK PORT` succeeds. Returns 0 with QM_SVC_PORT and
# QM_SVC_PID set; the caller takes ownership of the process (qm_own_pid,
# qm_on_exit) and sets its NAME_* variables. A failed try stops QM_SVC_PID;
# after the last one it returns 1 and the caller says what did not start.
qm_start_on_free_port() {
  local _qsp_tries=3 _qsp_wait=10 _qsp_ready="" _qsp_try _qsp_started
  while :; do
    case "${1:-}" in
      --tries) _qsp_tries="$2"; shift 2 ;;
      --wait) _qsp_wait="$2"; shift 2 ;;
      --ready) _qsp_ready="$2"; shift 2 ;;
      *) break ;;
    esac
  done
  [ $# -ge 1 ] || qm_die "qm_start_on_free_port: no START command"
  for ((_qsp_try = 1; _qsp_try <= _qsp_tries; _qsp_try++)); do
    qm_free_port QM_SVC_PORT
    QM_SVC_PID=""
    "$1" "$QM_SVC_PORT" "${@:2}" && _qsp_started=1 || _qsp_started=0
    QM_SVC_STARTING="$QM_SVC_PID"   # the exit trap stops it if the script ends meanwhile
    if [ "$_qsp_started" = 1 ] &&
       qm_wait_listening "$QM_SVC_PORT" "$_qsp_wait" "$QM_SVC_PID" &&
       { [ -z "$_qsp_ready" ] || "$_qsp_ready" "$QM_SVC_PORT"; }; then
      QM_SVC_STARTING=""
      return 0
    fi
    qm_stop_pid "$QM_SVC_PID"
    QM_SVC_STARTING=""
  done
  return 1
}

# qm_restart_on_port NAME WHAT WAIT START [ARG...]: starts service NAME (a
# WHAT, for the log) again on its old port NAME_PORT, after a test stopped or
# killed it: `START NAME_PORT ARG...` as for qm_start_on_free_port, then
# waits WAIT seconds at most until it listens. Sets NAME_PID.
qm_restart_on_port() {
  local name="$1" what="$2" wait="$3" port_var="${1}_PORT"
  shift 3
  local port="${!port_var}"
  QM_SVC_PID=""
  "$1" "$port" "${@:2}"
  qm_wait_listening "$port" "$wait" "$QM_SVC_PID" || qm_die "$what $name did not restart on $port"
  qm_own_pid "$QM_SVC_PID"
  printf -v "${name}_PID" '%s' "$QM_SVC_PID"
  qm_log "$what $name restarted on 127.0.0.1:$port (pid $QM_SVC_PID)"
}

# qm_with_inet_socket PORT RUN [ARG...]: `RUN inet:PORT@127.0.0.1 ARG...`,
# a START for qm_start_on_free_port when RUN takes a libmilter socket spec.
qm_with_inet_socket() {
  local port="$1" run="$2"
  shift 2
  "$run" "inet:$port@127.0.0.1" "$@"
}

# Waits until something listens on 127.0.0.1:PORT (checked with ss, so no
# stray connection reaches the service). Fails after TIMEOUT seconds or when
# PID (if given) dies.
qm_wait_listening() {
  local port="$1" timeout="${2:-10}" pid="${3:-}" i
  for ((i = 0; i < timeout * 10; i++)); do
    # grep without -q: an early exit would SIGPIPE ss and, under pipefail, fail the test
    if ss -Hltn "sport = :$port" 2>/dev/null | grep -F "127.0.0.1:$port" >/dev/null; then
      return 0
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.1
  done
  return 1
}

# Waits until FILE contains a line matching the extended regex; prints nothing.
qm_wait_for_line() {
  local file="$1" regex="$2" timeout="${3:-10}" i
  for ((i = 0; i < timeout * 10; i++)); do
    grep -Eq -- "$regex" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Waits until FILE has at least N lines matching the regex.
qm_wait_for_count() {
  local file="$1" regex="$2" want="$3" timeout="${4:-20}" i n
  for ((i = 0; i < timeout * 10; i++)); do
    n=$(grep -Ec -- "$regex" "$file" 2>/dev/null || true)
    [ "${n:-0}" -ge "$want" ] && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- redis
# qm_run_redis PORT DIR [redis-server flags...]: redis-server in the
# background on 127.0.0.1:PORT, data and log in DIR; sets QM_SVC_PID.
qm_run_redis() {
  local port="$1" dir="$2"
  shift 2
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir" --daemonize no --logfile "$dir/redis.log" --protected-mode yes "$@" &
  QM_SVC_PID=$!
}

# qm_redis_pongs PORT: the redis-server on 127.0.0.1:PORT answers PING.
qm_redis_pongs() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }

# qm_start_redis NAME  ->  NAME_PORT NAME_PID NAME_DIR
qm_start_redis() {
  local name="$1" dir
  dir="$QM_TMP/$(echo "$name" | tr 'A-Z' 'a-z')"
  mkdir -p "$dir"
  qm_start_on_free_port --ready qm_redis_pongs qm_run_redis "$dir" ||
    qm_die "redis-server $name did not start (see $dir/redis.log)"
  qm_own_pid "$QM_SVC_PID"
  printf -v "${name}_PORT" '%s' "$QM_SVC_PORT"
  printf -v "${name}_PID" '%s' "$QM_SVC_PID"
  printf -v "${name}_DIR" '%s' "$dir"
  qm_log "redis-server $name on 127.0.0.1:$QM_SVC_PORT (pid $QM_SVC_PID)"
}

# Restarts a stopped/killed redis NAME on its old port (same flags).
qm_restart_redis() {
  local dir_var="${1}_DIR"
  qm_restart_on_port "$1" redis-server 10 qm_run_redis "${!dir_var}"
}

# ---------------------------------------------------------------- smtp-sink
# qm_run_sink PORT LOG BACKLOG [smtp-sink flags...]: smtp-sink in the
# background on 127.0.0.1:PORT, output to LOG; sets QM_SVC_PID. Its greeting
# name differs from every Postfix myhostname, else Postfix refuses to deliver
# ("loops back to myself").
qm_run_sink() {
  local port="$1" log="$2" backlog="$3"
  shift 3
  smtp-sink -u postfix "$@" -h "sink-$port.invalid" "127.0.0.1:$port" "$backlog" >"$log" 2>&1 &
  QM_SVC_PID=$!
}

# qm_start_sink NAME  ->  NAME_PORT NAME_PID
# Accepts every message (Postfix delivers here).
qm_start_sink() {
  local name="$1" dir
  dir="$QM_TMP/$(echo "$name" | tr 'A-Z' 'a-z')"
  mkdir -p "$dir"
  qm_start_on_free_port qm_run_sink "$dir/sink.log" 256 || qm_die "smtp-sink $name did not start"
  qm_own_pid "$QM_SVC_PID"
  printf -v "${name}_PORT" '%s' "$QM_SVC_PORT"
  printf -v "${name}_PID" '%s' "$QM_SVC_PID"
  qm_log "smtp-sink $name on 127.0.0.1:$QM_SVC_PORT (pid $QM_SVC_PID)"
}

# ---------------------------------------------------------------- quotamilter
# qm_run_quotamilter SOCKET LOG RULES REDIS_URL [extra serve args...]:
# `quotamilter serve` in the background on SOCKET (libmilter syntax), output
# appended to LOG; sets QM_SVC_PID.
qm_run_quotamilter() {
  local socket="$1" log="$2" rules="$3" redis_url="$4"
  shift 4
  "$QUOTAMILTER" serve --socket "$socket" --rules "$rules" \
    --redis "$redis_url" "$@" >>"$log" 2>&1 &
  QM_SVC_PID=$!
}

# qm_start_quotamilter NAME RULES REDIS_URL [extra serve args...]
#   -> NAME_PORT NAME_PID NAME_LOG NAME_SOCKET (libmilter syntax)
#      NAME_POSTFIX (the same socket in Postfix's syntax)
# QUOTAMILTER must name the binary.
qm_start_quotamilter() {
  local name="$1" rules="$2" redis_url="$3"
  shift 3
  local port log
  [ -x "${QUOTAMILTER:-}" ] || qm_die "QUOTAMILTER is not set to an executable (got '${QUOTAMILTER:-}')"
  log="$QM_TMP/$(echo "$name" | tr 'A-Z' 'a-z').log"
  if ! qm_start_on_free_port --wait 15 qm_with_inet_socket qm_run_quotamilter "$log" "$rules" "$redis_url" "$@"; then
    echo "---- $log" >&2
    tail -n 20 "$log" >&2 || true
    qm_die "quotamilter $name did not start listening"
  fi
  port="$QM_SVC_PORT"
  qm_own_pid "$QM_SVC_PID"
  printf -v "${name}_PORT" '%s' "$port"
  printf -v "${name}_PID" '%s' "$QM_SVC_PID"
  printf -v "${name}_LOG" '%s' "$log"
  printf -v "${name}_SOCKET" '%s' "inet:$port@127.0.0.1"
  printf -v "${name}_POSTFIX" '%s' "inet:127.0.0.1:$port"
  qm_log "quotamilter $name on 127.0.0.1:$port (pid $QM_SVC_PID, log $log)"
}

# qm_restart_quotamilter NAME RULES REDIS_URL [extra serve args...]: starts
# NAME again on its old TCP port (after a test stopped or killed it).
qm_restart_quotamilter() {
  local name="$1" rules="$2" redis_url="$3"
  shift 3
  local log_var="${name}_LOG"
  qm_restart_on_port "$name" quotamilter 15 qm_with_inet_socket qm_run_quotamilter "${!log_var}" \
    "$rules" "$redis_url" "$@"
}

# qm_start_quotamilter_unix NAME RULES REDIS_URL [extra serve args...]
#   The same on a unix socket (QM_TMP/NAME.sock, group postfix so that
#   Postfix's smtpd and cleanup can connect): NAME_SOCKET, NAME_POSTFIX.
qm_start_quotamilter_unix() {
  local name="$1" rules="$2" redis_url="$3"
  shift 3
  local lower sock pid log i
  [ -x "${QUOTAMILTER:-}" ] || qm_die "QUOTAMILTER is not set to an executable (got '${QUOTAMILTER:-}')"
  lower="$(echo "$name" | tr 'A-Z' 'a-z')"
  log="$QM_TMP/$lower.log"
  sock="$QM_TMP/$lower.sock"
  "$QUOTAMILTER" serve --socket "unix:$sock" --group postfix --rules "$rules" \
    --redis "$redis_url" "$@" >>"$log" 2>&1 &
  pid=$!
  for ((i = 0; i < 150; i++)); do
    ss -Hlx 2>/dev/null | grep -F "$sock" >/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! ss -Hlx 2>/dev/null | grep -F "$sock" >/dev/null; then
    qm_stop_pid "$pid"
    tail -n 20 "$log" >&2 || true
    qm_die "quotamilter $name did not start listening on $sock"
  fi
  qm_own_pid "$pid"
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_LOG" '%s' "$log"
  printf -v "${name}_SOCKET" '%s' "unix:$sock"
  printf -v "${name}_POSTFIX" '%s' "unix:$sock"
  qm_log "quotamilter $name on unix:$sock (pid $pid, log $log)"
}

# ---------------------------------------------------------------- postfix
# qm_run_postfix PORT NAME BASE MILTER SINK_PORT [extra main.cf lines...]:
# writes the instance's main.cf and master.cf (smtpd on 127.0.0.1:PORT) and
# starts it, after stopping what an earlier try started. A START for
# qm_start_on_free_port; Postfix's master daemonizes, so QM_SVC_PID stays "".
qm_run_postfix() {
  local port="$1" name="$2" base="$3" milter="$4" sink_port="$5"
  shift 5
  local conf="$base/conf" queue="$base/queue" data="$base/data" lower
  lower="$(echo "$name" | tr 'A-Z' 'a-z')"
  if [ -f "$queue/pid/master.pid" ]; then qm_stop_postfix "$conf" "$queue"; fi

  cat >"$conf/main.cf" <<EOF
# Private test instance "$name", written by scripts/lib/harness.sh.
compatibility_level = 3.6
config_directory = $conf
queue_directory = $queue
data_directory = $data
mail_owner = postfix
setgid_group = postdrop
myhostname = qm-$lower-$port.test.invalid
mydomain = test.invalid
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination = hudedu.net
local_recipient_maps =
local_transport = smtp:[127.0.0.1]:$sink_port
default_transport = smtp:[127.0.0.1]:$sink_port
relay_transport = smtp:[127.0.0.1]:$sink_port
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_banner = \$myhostname ESMTP
in_flow_delay = 0s
smtpd_error_sleep_time = 0s
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
default_process_limit = 100
maillog_file = $base/maillog
maillog_file_prefixes = $base
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
# queue_run_delay short so a deferred delivery retries within a test
queue_run_delay = 5s
minimal_backoff_time = 5s
smtpd_milters = $milter
milter_default_action = tempfail
milter_connect_timeout = 5s
milter_command_timeout = 10s
milter_content_timeout = 30s
EOF
  # Extra settings replace the defaults above (postconf -e edits in place).
  local line
  for line in "$@"; do postconf -c "$conf" -e "$line" || return 1; done

  # chroot "n" everywhere: the private queue has no chroot jail.
  cat >"$conf/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
local     unix  - n n -    - local
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
  touch "$base/maillog"

  postfix -c "$conf" start >"$base/start.out" 2>&1
}

# qm_start_postfix NAME MILTER SINK_PORT [extra main.cf lines...]
#   MILTER: Postfix milter spec (inet:127.0.0.1:PORT, unix:/path) or "" for none.
#   -> NAME_PORT (smtpd), NAME_DIR (config dir), NAME_LOG (maillog), NAME_BASE
# Layout: BASE/{conf,queue,data} as sibling folders; everything delivered
# (local and remote) goes to smtp-sink on SINK_PORT.
qm_start_postfix() {
  local name="$1" milter="$2" sink_port="$3"
  shift 3
  local base conf queue data port lower
  lower="$(echo "$name" | tr 'A-Z' 'a-z')"
  base="$QM_TMP/postfix-$lower"
  conf="$base/conf" queue="$base/queue" data="$base/data"
  mkdir -p "$conf" "$queue" "$data"
  chown root:root "$queue" && chmod 755 "$queue"
  chown postfix "$data" && chmod 700 "$data"
  # Owned before it starts: stopped at exit (or by the watchdog) whatever try it fails in.
  qm_on_exit "qm_stop_postfix '$conf' '$queue'"
  echo "postfix $conf" >>"$QM_TMP/.owned"
  if ! qm_start_on_free_port --wait 15 qm_run_postfix "$name" "$base" "$milter" "$sink_port" "$@"; then
    cat "$base/start.out" "$base/maillog" >&2
    qm_die "postfix $name did not start listening"
  fi
  port="$QM_SVC_PORT"
  printf -v "${name}_PORT" '%s' "$port"
  printf -v "${name}_DIR" '%s' "$conf"
  printf -v "${name}_LOG" '%s' "$base/maillog"
  printf -v "${name}_BASE" '%s' "$base"
  qm_log "postfix $name on 127.0.0.1:$port (milter '${milter:-none}', log $base/maillog)"
}

# Changes main.cf parameters of a running instance and reloads it.
# qm_postfix_set NAME 'param = value'...
qm_postfix_set() {
  local name="$1" dir_var="${1}_DIR"
  shift
  local conf="${!dir_var}" kv
  for kv in "$@"; do postconf -c "$conf" -e "$kv"; done
  postfix -c "$conf" reload >/dev/null 2>&1
}

qm_stop_postfix() {
  local conf="$1" queue="$2" pid i
  pid="$(tr -dc '0-9' <"$queue/pid/master.pid" 2>/dev/null || true)"
  postfix -c "$conf" stop >/dev/null 2>&1
  [ -n "$pid" ] || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  postfix -c "$conf" abort >/dev/null 2>&1
  kill -KILL "$pid" 2>/dev/null
  return 0
}

# ---------------------------------------------------------------- fake milter
qm_run_fake_milter() {  # PORT LOG [fake_milter.py args...]; sets QM_SVC_PID
  local port="$1" log="$2"
  shift 2
  "$QM_PYTHON" "$QM_LIB_DIR/fake_milter.py" --port "$port" "$@" >>"$log" 2>&1 &
  QM_SVC_PID=$!
}

# qm_start_fake_milter NAME [--limit N]  ->  NAME_PORT NAME_PID NAME_POSTFIX
# scripts/lib/fake_milter.py: accepts everything (or a toy in-memory quota);
# used to prove that the e2e tests fail against a milter that does not enforce.
qm_start_fake_milter() {
  local name="$1" log
  shift
  log="$QM_TMP/$(echo "$name" | tr 'A-Z' 'a-z').log"
  qm_start_on_free_port qm_run_fake_milter "$log" "$@" || qm_die "fake milter $name did not start"
  qm_own_pid "$QM_SVC_PID"
  printf -v "${name}_PORT" '%s' "$QM_SVC_PORT"
  printf -v "${name}_PID" '%s' "$QM_SVC_PID"
  printf -v "${name}_POSTFIX" '%s' "inet:127.0.0.1:$QM_SVC_PORT"
  qm_log "fake milter $name on 127.0.0.1:$QM_SVC_PORT (pid $QM_SVC_PID) $*"
}
