#!/usr/bin/env bash
# Installs every Debian 12 package that whoisd needs to build, test and benchmark
# (listed in scripts/debian-packages.txt). Safe to run again: it installs only what is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t lines < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/debian-packages.txt")

missing=()
for line in "${lines[@]}"; do
  read -r p command _ <<<"$line"
  if [ -n "${command:-}" ] && command -v "$command" >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "setup: installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The distribution's nginx and haproxy start a service on install; the tests and the
# benchmark start their own on loopback, so do not leave the system ones holding ports.
if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx 2>/dev/null || true
fi
if [ -f "$here/npm-setup.sh" ]; then "$here/npm-setup.sh"; fi
echo "setup: all packages present"
