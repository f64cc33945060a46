#!/usr/bin/env bash
# Installs what the benchmarks need beyond scripts/install-deps.sh: the peers
# they compare against (rspamd, postfwd, policyd-rate-limit), a milter we did
# not write to validate the load generator against (opendkim), and profilers
# (linux-perf, valgrind). Kept apart from install-deps.sh: tests never need
# these, and CI should not install them.
#
# Package installs must not leave system services running that tests could
# collide with (rspamd and opendkim would listen on fixed ports/sockets):
# while installing, a policy-rc.d forbids every service start, and afterwards
# any daemon of these packages that still runs is stopped through its init
# script and disabled. The benchmarks start private instances on free ports.
set -euo pipefail

packages=(
  rspamd postfwd policyd-rate-limit
  opendkim opendkim-tools
  linux-perf valgrind
  # from install-deps.sh too, listed so this script also works alone
  postfix redis-server redis-tools libmilter-dev python3 procps iproute2
)
# The daemons these packages ship; none may keep running after the install.
services=(rspamd postfwd policyd-rate-limit opendkim)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -ne 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-bench-deps: missing packages: ${missing[*]}; run as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  # Forbid service starts during the install (invoke-rc.d honours exit 101).
  # Keep an existing policy-rc.d as it is; remove only the one we wrote.
  policy=/usr/sbin/policy-rc.d
  wrote_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# written by quotamilter install-bench-deps.sh for the install only\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    wrote_policy=1
  fi
  restore_policy() { [ "$wrote_policy" = 1 ] && rm -f "$policy"; return 0; }
  trap restore_policy EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  restore_policy
  trap - EXIT
  echo "install-bench-deps: installed ${missing[*]}"
fi

# Whatever the packages (or an earlier install) started: stop and disable it.
if [ "$(id -u)" -eq 0 ]; then
  for s in "${services[@]}"; do
    if [ -x "/etc/init.d/$s" ]; then
      /etc/init.d/"$s" stop >/dev/null 2>&1 || true
    fi
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      systemctl disable --now "$s" >/dev/null 2>&1 || true
    elif command -v update-rc.d >/dev/null 2>&1 && [ -x "/etc/init.d/$s" ]; then
      update-rc.d "$s" disable >/dev/null 2>&1 || true
    fi
  done
  # Report (never kill by name) anything still running.
  for daemon in rspamd postfwd policyd-rate-limit opendkim; do
    if pgrep -x "$daemon" >/dev/null 2>&1; then
      echo "install-bench-deps: WARNING: a system $daemon still runs (pids $(pgrep -x "$daemon" | tr '\n' ' '))" >&2
    fi
  done
fi
