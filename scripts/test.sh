#!/usr/bin/env bash
# Installs what is missing, builds whoisd and passes every test:
#   1. the release build with warnings as errors, and its CTest suite;
#   2. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer, then under
#      ThreadSanitizer (scripts/tsan.sh);
#   3. each libFuzzer target for a bounded time (FUZZ_SECONDS, default 60) on its seed corpus;
#   4. a few seconds of the benchmarks, to show they build and run.
# WHOISD_QUICK=1 runs step 1 only (for the edit-build-test loop).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
jobs=$(nproc)

step() { printf '\n=== %s\n' "$*"; }

step "release build (-Werror)"
cmake -S . -B build -DWHOISD_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
step "tests"
ctest --test-dir build --output-on-failure --timeout 600

if [ "${WHOISD_QUICK:-0}" = 1 ]; then exit 0; fi

step "sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DWHOISD_WERROR=ON -DWHOISD_SANITIZE=ON -DWHOISD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j "$jobs"
step "tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure --timeout 900

step "ThreadSanitizer build and tests"
"$root/scripts/tsan.sh"

step "fuzz targets (${FUZZ_SECONDS:-60} s each)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DWHOISD_FUZZ=ON -DWHOISD_TESTS=OFF -DWHOISD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$jobs"
for fuzzer in build-fuzz/tests/fuzz/fuzz_*; do
  [ -x "$fuzzer" ] || continue
  name=$(basename "$fuzzer"); corpus_seed="tests/fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d); cp -r "$corpus_seed"/. "$work"/ 2>/dev/null || true
  echo "--- $name"
  "$fuzzer" -max_total_time="${FUZZ_SECONDS:-60}" -max_len=4096 -print_final_stats=1 "$work" 2>&1 | tail -n 12
  rm -rf "$work"
done

if [ -x bench/smoke.sh ]; then
  step "benchmark smoke run"
  bench/smoke.sh build
fi

step "all tests passed"
