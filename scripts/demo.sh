#!/usr/bin/env bash
# Installs what is missing, builds whoisd, makes a demo snapshot of 100,000 synthetic
# .pt domains (seed 1, so the names in README.md exist) and runs the daemon in the
# foreground on 127.0.0.1:4343, metrics on 127.0.0.1:9143. Ctrl-C stops it cleanly.
#   PORT=4343 DOMAINS=100000 scripts/demo.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"

cmake -S . -B build -DWHOISD_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target whoisd whoisd-snapshot whoisd-admin

demo="$root/demo"
# Started as root, whoisd binds and then switches user; the demo has no 'whoisd' account.
user_args=()
if [ "$(id -u)" -eq 0 ]; then
  user_args=(--user nobody)
  # After the switch, nobody must reach the snapshot and the state directory. A checkout
  # under /root (mode 0700) is closed to it: the demo's files then live in
  # /var/lib/whoisd-demo (root's, open to read), and demo/ in the checkout points there,
  # so the commands below work from the checkout as they are.
  if ! runuser -u nobody -- test -x "$root"; then
    outside=/var/lib/whoisd-demo
    if [ -d "$root/demo" ] && [ ! -L "$root/demo" ]; then rm -rf "$outside" && mv "$root/demo" "$outside"; fi
    mkdir -p "$outside"
    ln -sfn "$outside" "$root/demo"
    demo=$outside
  fi
fi
mkdir -p "$demo"
# (root's umask may be 077: the directory and the snapshot must stay readable by nobody.)
chmod 0755 "$demo"
snapshot="$demo/snapshot.sqlite"
domains=${DOMAINS:-100000}
# Made again when missing, of another size, or refused by this build (an older schema).
if [ ! -f "$snapshot" ] || [ "$(sqlite3 "$snapshot" 'select count(*) from domains' 2>/dev/null)" != "$domains" ] ||
   ! build/whoisd/whoisd-snapshot check --quick "$snapshot" >/dev/null 2>&1; then
  build/whoisd/whoisd-snapshot generate --domains "$domains" --seed 1 --out "$snapshot"
fi
chmod 0644 "$snapshot"

args=(--snapshot "$snapshot" --listen "127.0.0.1:${PORT:-4343}" --state-dir "$demo/state"
      --metrics "127.0.0.1:${METRICS_PORT:-9143}" "${user_args[@]}")

cat <<MSG

whoisd on 127.0.0.1:${PORT:-4343} with $domains demo domains. In another terminal:
  whois -h 127.0.0.1 -p ${PORT:-4343} academia-2000.pt
  whois -h 127.0.0.1 -p ${PORT:-4343} academia-óbidos.pt
  whois -h 127.0.0.1 -p ${PORT:-4343} example.com
  curl -s http://127.0.0.1:${METRICS_PORT:-9143}/metrics
  build/whoisd/whoisd-admin --state-dir demo/state top
Ctrl-C stops it.

MSG
exec build/whoisd/whoisd "${args[@]}"
