#!/bin/sh
# Checks systemd/whoisd.service and whoisd.socket offline:
#   - `systemd-analyze security --offline=true` rates the service at most 2.0;
#   - `systemd-analyze verify` finds nothing wrong in either unit;
#   - the service is Type=notify with NotifyAccess=main (whoisd says READY=1 itself,
#     from its main process: lib/server/systemd_notifier.h), and SIGHUP reloads it.
# Usage: check_systemd_units.sh SOURCE_DIR. Exits 77 (CTest SKIP_RETURN_CODE) only when
# systemd-analyze is not installed (Debian package: systemd).
set -eu
units="$1/systemd"
max_exposure=2.0

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze is not installed (Debian package systemd); units not checked"
  exit 77
fi
for f in whoisd.service whoisd.socket; do
  [ -f "$units/$f" ] || { echo "FAIL: $units/$f is missing"; exit 1; }
done

report=$(systemd-analyze security --offline=true --no-pager "$units/whoisd.service" 2>&1) || {
  echo "$report"
  echo "FAIL: systemd-analyze security could not rate $units/whoisd.service"
  exit 1
}
exposure=$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for whoisd.service: \([0-9.]*\).*/\1/p')
if [ -z "$exposure" ]; then
  echo "$report"
  echo "FAIL: no overall exposure level in the report"
  exit 1
fi
if ! awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }'; then
  printf '%s\n' "$report" | grep '✗' || true
  echo "FAIL: whoisd.service exposure $exposure is above $max_exposure"
  exit 1
fi
echo "ok: whoisd.service exposure $exposure (at most $max_exposure)"

# verify wants ExecStart= to exist: check a copy pointing at an executable that does.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
sed 's#^ExecStart=/usr/sbin/whoisd #ExecStart=/bin/true #' "$units/whoisd.service" >"$scratch/whoisd.service"
cp "$units/whoisd.socket" "$scratch/whoisd.socket"
grep -q '^ExecStart=/bin/true ' "$scratch/whoisd.service" || { echo "FAIL: ExecStart is not /usr/sbin/whoisd ..."; exit 1; }
problems=$(systemd-analyze verify --man=no "$scratch/whoisd.socket" "$scratch/whoisd.service" 2>&1) || {
  echo "$problems"
  echo "FAIL: systemd-analyze verify"
  exit 1
}
if [ -n "$problems" ]; then
  echo "$problems"
  echo "FAIL: systemd-analyze verify reported problems"
  exit 1
fi
echo "ok: systemd-analyze verify whoisd.socket whoisd.service"

# The readiness protocol: systemd must wait for READY=1 (Type=notify), take it from the
# main process only, and reload by SIGHUP (what whoisd answers with RELOADING=1/READY=1).
# The last assignment of a setting is the one systemd uses.
setting() { sed -n "s/^$1=//p" "$units/whoisd.service" | tail -n 1; }
[ "$(setting Type)" = notify ] || { echo "FAIL: whoisd.service: Type=$(setting Type), not notify"; exit 1; }
[ "$(setting NotifyAccess)" = main ] ||
  { echo "FAIL: whoisd.service: NotifyAccess=$(setting NotifyAccess), not main"; exit 1; }
case "$(setting ExecReload)" in
  *'kill -HUP $MAINPID'*) ;;
  *) echo "FAIL: whoisd.service: ExecReload=$(setting ExecReload) does not send SIGHUP to \$MAINPID"; exit 1 ;;
esac
echo "ok: whoisd.service is Type=notify, NotifyAccess=main, reloaded by SIGHUP"
