#!/usr/bin/env bash
# The install target and the systemd unit, as an administrator gets them:
#   check_install.sh BUILD_DIR PREFIX SYSCONFDIR UNITDIR SYSUSERSDIR DATADIR DOCDIR
# (the main build tree, installed into a DESTDIR)
# 1. `cmake --install` into a DESTDIR lays out binary, unit, sysusers file,
#    example config and rules, count.lua, docs;
# 2. a second install never overwrites an admin's edited configuration;
# 3. the installed configuration and rules are accepted by quotamilter;
# 4. the unit passes `systemd-analyze verify` without a warning (when available).
set -euo pipefail
build=$1 prefix=$2 etc=$3 unitdir=$4 sysusersdir=$5 datadir=$6 docdir=$7
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

DESTDIR="$work/root" cmake --install "$build" >/dev/null
root="$work/root"
bin="$prefix/bin/quotamilter"
for f in "$bin" "$unitdir/quotamilter.service" "$sysusersdir/quotamilter.conf" \
         "$etc/quotamilter.json" "$etc/rules.json" "$datadir/count.lua" "$datadir/schema.json" \
         "$docdir/README.md" "$docdir/docs/CONFIG.md" "$docdir/examples/hudedu.json"; do
  [ -e "$root$f" ] || fail "missing after install: $f"
done
[ -x "$root$bin" ] || fail "$bin is not executable"
grep -qx "ExecStart=$bin serve --config $etc/quotamilter.json" "$root$unitdir/quotamilter.service" \
  || fail "unit's ExecStart does not name the installed paths"
grep -qF "\"rules\": \"$etc/rules.json\"" "$root$etc/quotamilter.json" \
  || fail "example config does not name the installed rules"

# An admin's edits survive a reinstall (upgrade).
echo '{"version": 1, "policies": []}' > "$root$etc/rules.json"
DESTDIR="$work/root" cmake --install "$build" >/dev/null
grep -q '"policies": \[\]' "$root$etc/rules.json" || fail "reinstall overwrote $etc/rules.json"

# The installed files are valid for the installed binary.
"$root$bin" check "$root$docdir/examples/hudedu.json" \
  || fail "installed example rules fail check"
sed "s|$etc/rules.json|$root$etc/rules.json|" "$root$etc/quotamilter.json" \
  > "$work/quotamilter.json"
out=$("$root$bin" status --config "$work/quotamilter.json" --redis memory: 2>&1) \
  || fail "the installed configuration is refused: $out"

if command -v systemd-analyze >/dev/null; then
  # verify wants the ExecStart binaries to exist: point them at the DESTDIR copy.
  unit="$work/quotamilter.service"
  sed "s|$bin|$root$bin|g" "$root$unitdir/quotamilter.service" > "$unit"
  if ! out=$(systemd-analyze verify "$unit" 2>&1); then
    fail "systemd-analyze verify: $out"
  fi
  # Unknown keys and bad values are only warnings: treat any about our unit as failure.
  if grep -F "quotamilter.service" <<<"$out"; then
    fail "systemd-analyze verify warns about the unit"
  fi
else
  echo "systemd-analyze not available: unit not verified"
fi
echo "install layout and unit OK"
