#!/usr/bin/env bash
# A few seconds of every end-to-end scenario on a small snapshot, to show that the load
# generator, the daemon and the nginx reference build and run together (CI calls it as
# `bench/smoke.sh build`). Fails when a tool is missing or the generator reports any
# error; the performance targets are printed but not judged (CI machines vary).
#
#   bench/smoke.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: bench/smoke.sh BUILD_DIR" >&2; exit 2; }
# Its own cache of the small snapshot, inside the build directory: a clean clone
# needs nothing but the build.
[ -d "$1" ] || { echo "bench/smoke.sh: no build directory '$1'" >&2; exit 2; }
cache=$(cd "$1" && pwd)/bench-cache
# As root the daemon drops to 'nobody', which must reach the snapshot: a clone under a
# private home directory cannot, so the cache then goes to /var/tmp.
if [ "$(id -u)" = 0 ] && ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$1" 2>/dev/null; then
  cache=/var/tmp/whoisd-bench-smoke
fi
mkdir -p "$cache"
export WHOISD_BENCH_CACHE=${WHOISD_BENCH_CACHE:-$cache}
export WHOISD_BENCH_DOMAINS=${WHOISD_BENCH_DOMAINS:-10000}
export WHOISD_BENCH_SECONDS=${WHOISD_BENCH_SECONDS:-3}
export WHOISD_BENCH_SOURCES=${WHOISD_BENCH_SOURCES:-20000}
export WHOISD_BENCH_STARTS=${WHOISD_BENCH_STARTS:-1}
export WHOISD_BENCH_ROUNDS=${WHOISD_BENCH_ROUNDS:-1}
export WHOISD_BENCH_RATES=${WHOISD_BENCH_RATES:-500}
export WHOISD_BENCH_SMOKE=1
exec "$here/run.sh" "$1"
