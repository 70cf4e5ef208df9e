#!/bin/sh
# `cmake --install` into a staging root (DESTDIR), twice: the first puts the example
# configuration in /etc/whoisd as whoisd.conf and whoisd.conf.example; the second, after
# the operator has edited whoisd.conf, keeps that file and refreshes only the example.
# Usage: check_install_keeps_config.sh BUILD_DIR
set -eu
build="$1"
root=$(mktemp -d "${TMPDIR:-/tmp}/whoisd-install-XXXXXX")
trap 'rm -rf "$root"' EXIT
conf="$root/etc/whoisd/whoisd.conf"

DESTDIR="$root" cmake --install "$build" >/dev/null
[ -f "$conf" ] || { echo "FAIL: the first install left no $conf"; exit 1; }
cmp -s "$conf" "$conf.example" || { echo "FAIL: the first install's whoisd.conf is not the example"; exit 1; }

echo '# the operator was here' >> "$conf"
echo '# an older example' >> "$conf.example"
DESTDIR="$root" cmake --install "$build" >/dev/null
tail -n 1 "$conf" | grep -qx '# the operator was here' || { echo "FAIL: installing again overwrote the operator's $conf"; exit 1; }
if tail -n 1 "$conf.example" | grep -qx '# an older example'; then
  echo "FAIL: installing again did not refresh whoisd.conf.example"
  exit 1
fi
echo "ok: installing again keeps the operator's whoisd.conf and refreshes whoisd.conf.example"
