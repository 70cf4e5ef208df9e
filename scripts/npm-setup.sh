#!/usr/bin/env bash
# Installs the npm packages the compatibility tests use (tests/compat/package.json,
# versions pinned by tests/compat/package-lock.json) when they are missing.
# Called by scripts/setup.sh; safe to run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
compat="$root/tests/compat"
if [ -d "$compat/node_modules/whoiser" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm-setup: npm is missing (Debian package npm, or nodejs from NodeSource)" >&2; exit 1; }
echo "npm-setup: npm ci in $compat"
(cd "$compat" && npm ci --no-audit --no-fund --loglevel=error)
