#!/usr/bin/env bash
# Builds whoisd with ThreadSanitizer (build-tsan) and runs the CTest suite under it:
# the event loops, the query-log and state writers, the snapshot swap and the limiter's
# shards share memory, and ASan does not see a missing happens-before.
# scripts/test.sh runs it after the ASan + UBSan suite. tests/tsan.supp lists the
# reports that are not whoisd's (libuv's raw close).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
cmake -S . -B build-tsan -DWHOISD_WERROR=ON -DWHOISD_TSAN=ON -DWHOISD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-tsan -j "$(nproc)"
TSAN_OPTIONS="suppressions=$root/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
  ctest --test-dir build-tsan --output-on-failure --timeout 1200
