#!/usr/bin/env bash
# Installs every Debian 12 package quotamilter needs to build, test and run the
# demo. Idempotent and non-interactive: does nothing when all are present.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config
  libmilter-dev libhiredis-dev nlohmann-json3-dev libfmt-dev doctest-dev
  libre2-dev prometheus-cpp-dev
  # tests, demo, benchmarks
  redis-server redis-tools postfix swaks python3 python3-jsonschema procps iproute2
  # fuzzing (scripts/fuzz.sh: clang++ with libFuzzer)
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo $0)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Postfix must not ask questions nor write a system configuration we rely on.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Package installs may start system services; our tests never use them (they
# start their own on free loopback ports), so leave them as they are.
echo "install-deps: installed ${missing[*]}"
