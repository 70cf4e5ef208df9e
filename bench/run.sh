#!/usr/bin/env bash
# The end-to-end benchmark of whoisd: every scenario of issue 5, against whoisd and, in
# the same run, against nginx's stream module answering a fixed text (the ceiling for
# one TCP connection per query on this machine). Prints one table and the targets.
#
#   bench/run.sh [BUILD_DIR]            (default: build)
#
# Settings (environment):
#   WHOISD_BENCH_CACHE      where generated snapshots are kept between runs (/var/tmp/whoisd-bench)
#   WHOISD_BENCH_DOMAINS    snapshot size (1000000)
#   WHOISD_BENCH_SNAPSHOT   use this snapshot file instead of generating one (a registry
#                           export is first made servable with `whoisd-snapshot build`)
#   WHOISD_BENCH_REGENERATE=1  generate the cached snapshot again
#   WHOISD_BENCH_SECONDS    seconds per measured run (10), after a 1 s warm-up
#   WHOISD_BENCH_CONNECTIONS  closed-loop clients of the generator (16)
#   WHOISD_BENCH_THREADS    generator threads (1)
#   WHOISD_BENCH_LOOPS      whoisd event loops = nginx workers (the number of cores)
#   WHOISD_BENCH_SOURCES    distinct sources in scenario 3 (1000000)
#   WHOISD_BENCH_STARTS     start-ups timed in scenario 5 (3)
#   WHOISD_BENCH_ROUNDS     alternating nginx/whoisd rounds in scenarios 0 and 1, at the peak
#                           and at half of it (3)
#   WHOISD_BENCH_SCENARIOS  which to run, of "0 1 2 3 4 5" (all; 0 is nginx: its plain
#                           `return` and, when njs is installed, the graceful reference)
#   WHOISD_BENCH_RATES      open-loop rates (queries/s) at which scenarios 0 and 1's servers
#                           are also run, alternated, for a second table of latency by load
#                           (none; e.g. "2000 4000 8000": 3 servers x rounds runs a rate)
#   WHOISD_BENCH_SMOKE=1    a short run for CI: targets are printed, not judged
#   WHOISD_BENCH_NICE       priority of servers and generator when root (-10; 0: unchanged)
#   BENCH_KEEP=1            keep the work directory (configs, logs, generator outputs)
# Exit status: 0 when every run finished without a generator error, 1 otherwise, 2 when
# a tool is missing. Targets not met do not fail the run (they are measurements).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench-lib.sh
. "$here/bench-lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

build=${1:-build}
cache=${WHOISD_BENCH_CACHE:-/var/tmp/whoisd-bench}
domains=${WHOISD_BENCH_DOMAINS:-1000000}
seconds=${WHOISD_BENCH_SECONDS:-10}
conns=${WHOISD_BENCH_CONNECTIONS:-16}
threads=${WHOISD_BENCH_THREADS:-1}
loops=${WHOISD_BENCH_LOOPS:-$(nproc)}
sources3=${WHOISD_BENCH_SOURCES:-1000000}
starts=${WHOISD_BENCH_STARTS:-3}
rounds=${WHOISD_BENCH_ROUNDS:-3}
smoke=${WHOISD_BENCH_SMOKE:-0}
scenarios=" ${WHOISD_BENCH_SCENARIOS:-0 1 2 3 4 5} "
rates=${WHOISD_BENCH_RATES:-}
for rate in $rates; do
  [[ "$rate" =~ ^[1-9][0-9]*$ ]] || bench_die "WHOISD_BENCH_RATES: '$rate' is not a rate in queries a second"
done
want() { [[ "$scenarios" == *" $1 "* ]]; }
seed=1
warmup=1

need_whoisd=1
[ "$(echo $scenarios)" = 0 ] && need_whoisd=0
bench_tools "$build" "$need_whoisd"
bench_workdir
status=0
rows=()
note() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------------------- machine
cpu_model=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
mem_gb=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
probe_start=$(bench_cpu_probe)
note "bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $cpu_model, $(nproc) cores, $mem_gb GB; load average $load_start"
note "bench: CPU probe (a fixed awk loop, user time of 5 runs): $probe_start"
note "bench: whoisd loops = nginx workers = $loops; generator: $threads thread(s), $conns connections; $seconds s runs"

snapshot=""
if [ "$need_whoisd" = 1 ]; then
  if [ -n "${WHOISD_BENCH_SNAPSHOT:-}" ]; then
    # A given snapshot (a real export, a fixture), linked (or copied) into the cache so
    # that scenario 4 can rename files over it there.
    [ -s "$WHOISD_BENCH_SNAPSHOT" ] || bench_die "WHOISD_BENCH_SNAPSHOT: no file '$WHOISD_BENCH_SNAPSHOT'"
    mkdir -p "$cache" && chmod 755 "$cache"
    snapshot=$cache/given-$(basename "$WHOISD_BENCH_SNAPSHOT")
    if [ ! -s "$snapshot" ] || [ "$WHOISD_BENCH_SNAPSHOT" -nt "$snapshot" ]; then
      if "$SNAPSHOT_TOOL" check --quick "$WHOISD_BENCH_SNAPSHOT" >/dev/null 2>&1; then
        ln -f "$WHOISD_BENCH_SNAPSHOT" "$snapshot" 2>/dev/null || cp "$WHOISD_BENCH_SNAPSHOT" "$snapshot"
      else
        # Not servable as it is: a registry export (or an older layout), made servable.
        "$SNAPSHOT_TOOL" build "$WHOISD_BENCH_SNAPSHOT" --out "$snapshot" >&2 \
          || bench_die "WHOISD_BENCH_SNAPSHOT: whoisd-snapshot build '$WHOISD_BENCH_SNAPSHOT' failed"
      fi
    fi
    chmod 644 "$snapshot"
    domains=$(sqlite3 "file:$snapshot?mode=ro" 'SELECT count(*) FROM domains' 2>/dev/null || echo "?")
  else
    snapshot=$(bench_snapshot "$domains" "$seed" "$cache") || exit 2
  fi
fi
prefix=$cache/  # every snapshot file the daemon maps lives here (scenario 4 swaps two)

# run_loadgen LABEL ARGS...: one generator run; keeps its output, returns its summary line.
run_loadgen() {
  local label=$1; shift
  local out=$BENCH_WORK/$label.out line
  "${BENCH_NICE[@]}" "$LOADGEN" --label "$label" "$@" >"$out" 2>"$out.err"
  local rc=$?
  line=$(grep '^summary ' "$out" | tail -n 1)
  if [ "$rc" != 0 ] || [ -z "$line" ]; then
    status=1
    note "bench: $label: the generator reported errors (exit $rc):"
    sed 's/^/    /' "$out" "$out.err" | grep -v '^    summary' | tail -n 12 >&2
  fi
  echo "$line"
}

# open_loop_note SUMMARY: the note of an open-loop row. The generator's own start lag
# (how late it began connections against its schedule) tells a run the machine
# disturbed from one whoisd was slow in: round 5 saw the lag's p99 at 0.10-0.18 ms in
# quiet runs and 0.76-2.65 ms in disturbed ones (bench/README.md).
open_loop_note() { echo "generator start lag p99 $(bench_kv "$1" lag_p99_ms) ms"; }

# row SCENARIO SERVER SUMMARY RATIO NOTE: one table row from a summary line.
row() {
  local name=$1 server=$2 s=$3 ratio=$4 extra=$5 beyond hwm
  hwm=$(bench_kv "$s" server_hwm_kb); beyond=$(bench_kv "$s" server_beyond_mapped_kb)
  rows+=("$(printf '%-34s %-6s %9s %6s %7s %7s %8s %6s %7s %7s %8s %9s  %s' "$name" "$server" \
    "$(bench_kv "$s" qps | cut -d. -f1)" "$ratio" "$(bench_kv "$s" p50_ms)" "$(bench_kv "$s" p99_ms)" \
    "$(bench_kv "$s" p999_ms)" "$(bench_kv "$s" errors)" "$(bench_kv "$s" gen_cpu)" \
    "$(bench_kv "$s" server_cpu_us_per_query)" \
    "${hwm:+$((hwm / 1024))}" "${beyond:+$((beyond / 1024))}" "$extra")")
}

common=(--warmup "$warmup" --duration "$((seconds + warmup))" --threads "$threads" -q)

# ------------------------------------- 0 and 1: nginx's ceiling, whoisd under the limit
# Both servers run side by side (the idle one costs nothing) and their closed-loop
# peaks are measured in alternating rounds; each server's best round counts. On a
# shared machine the load of others comes and goes: alternating rounds give both
# servers the same chances, and the best round is the least disturbed.
# Whoisd's 65,536 sources take turns: each makes far fewer than 1,000 queries a run.
nginx_qps=0; s1=""; s1h=""; s1_ratio=-; s2=""; s3=""; s4=""; nginx_port=""; s1_port=""; s1_pid=""
# The graceful reference (0g): nginx reads the query's line before the same `return`,
# and closes with a FIN as whoisd does; the plain `return` answers before the query
# arrives, and the query then draws a reset. Not the issue's ceiling, printed beside it.
graceful_qps=0; graceful_s=""; graceful_port=""; graceful_list=""
answer_file=$BENCH_WORK/nginx-answer.txt
# A found answer of typical size (FORMAT.md's example), so both servers write as much.
cat >"$answer_file" <<'TEXT'
Domain: example.pt
Domain Status: Registered
Creation Date: 14/01/1997 00:00:00
Expiration Date: 20/07/2027 23:59:42
Owner Name: Exemplo Unipessoal Lda
Owner Address: Rua Exemplo 12
Owner Locality: Ponta Delgada
Owner ZipCode: 9500-001
Owner Locality ZipCode: Ponta Delgada
Owner Country Code: PT
Owner Email: dns@example.pt
Admin Name: Exemplo Registos Lda
Admin Email: registos@example.pt
Tech Name: Joao Exemplo
Tech Email: joao@example.pt
Name Server: ns1.example.pt | IPv4: 192.0.2.1 and IPv6: 2001:db8::1
Name Server: ns2.example.net | IPv4:  and IPv6: 
DS Record: 12345 13 2 8F3C6B1E4F0D9A7C2B5E8D1F3A6C9E0B2D4F7A1C3E5B8D0F2A4C6E8B1D3F5A7C
TEXT
# The references' load, the same at the peak, at half of it and at WHOISD_BENCH_RATES:
# queries drawn from the answer text's lines (nginx answers whatever it is sent), any
# complete answer accepted.
fixed_text=(--names "$answer_file" --expect any)
if want 0; then
  nginx_port=$(bench_port)
  bench_start_nginx "$loops" "$nginx_port" "$answer_file"
  bench_wait_ready "$nginx_port" "$NGINX_PID" "$BENCH_WORK/nginx/error.log" "${fixed_text[@]}"
  nginx_load=(--target "127.0.0.1:$nginx_port" "${fixed_text[@]}")
  nginx_workers=$(bench_children "$NGINX_PID")
  nginx_pid=$NGINX_PID
  if [ -n "$NGINX_JS_MODULE" ]; then
    graceful_port=$(bench_port)
    bench_start_nginx "$loops" "$graceful_port" "$answer_file" read-line
    graceful_pid=$NGINX_PID
    bench_wait_ready "$graceful_port" "$graceful_pid" "$BENCH_WORK/nginx-read-line/error.log" "${fixed_text[@]}"
    graceful_load=(--target "127.0.0.1:$graceful_port" "${fixed_text[@]}")
    graceful_workers=$(bench_children "$graceful_pid")
  else
    note "bench: njs is not installed (libnginx-mod-stream-js): no graceful reference"
  fi
fi
if want 1; then
  s1_port=$(bench_port)
  bench_start_whoisd s1 "$snapshot" "$s1_port" "$loops" 1000
  s1_pid=$WHOISD_PID
  bench_wait_ready "$s1_port" "$s1_pid" "$WHOISD_LOG" --snapshot "$snapshot" --max-names 10
  # Scenario 1's load, the same at the peak, at half of it and at WHOISD_BENCH_RATES.
  s1_load=(--target "127.0.0.1:$s1_port" --snapshot "$snapshot" --sources 65536 --source-base 127.1.0.0)
fi
nginx_list=""; s1_list=""; s1_all=()
for round in $(seq "$rounds"); do
  if want 0; then
    s=$(run_loadgen "nginx-peak-$round" "${nginx_load[@]}" --connections "$conns" --cpu-pids "$nginx_workers" \
      "${common[@]}")
    q=$(bench_kv "$s" qps); nginx_list="$nginx_list ${q%.*}"
    if awk -v a="${q:-0}" -v b="$nginx_qps" 'BEGIN { exit !(a > b) }'; then nginx_qps=$q; nginx_s=$s; fi
    if [ -n "$graceful_port" ]; then
      s=$(run_loadgen "nginx-read-line-peak-$round" "${graceful_load[@]}" --connections "$conns" \
        --cpu-pids "$graceful_workers" "${common[@]}")
      q=$(bench_kv "$s" qps); graceful_list="$graceful_list ${q%.*}"
      if awk -v a="${q:-0}" -v b="$graceful_qps" 'BEGIN { exit !(a > b) }'; then graceful_qps=$q; graceful_s=$s; fi
    fi
  fi
  if want 1; then
    s=$(run_loadgen "whoisd-peak-$round" "${s1_load[@]}" --connections "$conns" --watch-pid "$s1_pid" \
      --watch-mapped "$prefix" "${common[@]}")
    s1_all+=("$s")
    q=$(bench_kv "$s" qps); s1_list="$s1_list ${q%.*}"
    if awk -v a="${q:-0}" -v b="$(bench_kv "$s1" qps)" 'BEGIN { exit !(a > b + 0) }'; then s1=$s; fi
  fi
done
# ratio QPS [OF [DIGITS]]: QPS as a fraction of OF (default: the plain nginx ceiling),
# with DIGITS decimals (2).
ratio() {
  awk -v a="$1" -v b="${2:-$nginx_qps}" -v d="${3:-2}" \
    'BEGIN { if (b > 0 && a != "") printf("%." d "f", a / b); else print "-" }'
}
# median_p99_run SUMMARY...: the run whose p99 is the median of the runs' (the lower of
# the middle two when their number is even).
median_p99_run() {
  local s
  for s in "$@"; do printf '%s\t%s\n' "$(bench_kv "$s" p99_ms)" "$s"; done |
    sort -g | awk '{ l[NR] = $0 } END { if (NR) { m = l[int((NR + 1) / 2)]; sub(/^[^\t]*\t/, "", m); print m } }'
}
# p99_list SUMMARY...: the runs' p99s in the order run.
p99_list() { local s; for s in "$@"; do printf ' %s' "$(bench_kv "$s" p99_ms)"; done; }

# Half the peak, open loop: a single run's p99 is what the machine's worst moment in it
# was (round 8 saw 0.79-3.74 ms in twelve runs of one daemon), so each server runs as
# many rounds as at the peak, alternated like them, and its row is the run of the
# median p99 (all of them in its note); the target is judged on it.
half=0; half1=0; s1_qps=0
if want 0; then half=$(awk -v q="$nginx_qps" 'BEGIN { printf "%d", q / 2 }'); fi
if want 1; then s1_qps=$(bench_kv "$s1" qps); s1_qps=${s1_qps:-0}; half1=$(awk -v q="$s1_qps" 'BEGIN { printf "%d", q / 2 }'); fi
nginx_half_all=(); s1h_all=()
for round in $(seq "$rounds"); do
  if [ "$half" -gt 0 ]; then
    nginx_half_all+=("$(run_loadgen "nginx-half-$round" "${nginx_load[@]}" --rate "$half" --connections 2000 \
      --cpu-pids "$nginx_workers" "${common[@]}")")
  fi
  if [ "$half1" -gt 0 ]; then
    s1h_all+=("$(run_loadgen "whoisd-half-$round" "${s1_load[@]}" --rate "$half1" --connections 2000 --watch-pid "$s1_pid" \
      --watch-mapped "$prefix" "${common[@]}")")
  fi
done
# Latency by load (WHOISD_BENCH_RATES): the same open loop at fixed rates, every server
# of scenarios 0 and 1 in turn within each round. At a rate that leaves the two cores
# room, a server's p50 and p99 are its own path's; as the rate nears the peak they
# become the queues of cores shared with the generator (bench/README.md, Round 11).
rate_rows=()
rate_row() {  # rate_row RATE SERVER ROUND SUMMARY
  rate_rows+=("$(printf '%8s %-9s %5s %9s %7s %7s %8s %8s %6s %7s' "$1" "$2" "$3" "$(bench_kv "$4" qps | cut -d. -f1)" \
    "$(bench_kv "$4" p50_ms)" "$(bench_kv "$4" p99_ms)" "$(bench_kv "$4" p999_ms)" "$(bench_kv "$4" lag_p99_ms)" \
    "$(bench_kv "$4" errors)" "$(bench_kv "$4" gen_cpu)")")
}
for rate in $rates; do
  for round in $(seq "$rounds"); do
    open=(--rate "$rate" --connections 2000 "${common[@]}")
    if want 0; then
      rate_row "$rate" nginx "$round" "$(run_loadgen "nginx-rate-$rate-$round" "${nginx_load[@]}" "${open[@]}")"
      if [ -n "$graceful_port" ]; then
        rate_row "$rate" "nginx 0g" "$round" "$(run_loadgen "nginx-read-line-rate-$rate-$round" "${graceful_load[@]}" \
          "${open[@]}")"
      fi
    fi
    if want 1; then
      rate_row "$rate" whoisd "$round" "$(run_loadgen "whoisd-rate-$rate-$round" "${s1_load[@]}" "${open[@]}")"
    fi
  done
done

if want 0; then
  row "0  fixed text, closed loop" nginx "$nginx_s" 1.00 "ceiling; best of rounds:$nginx_list"
  if [ -n "$graceful_port" ]; then
    row "0g same after reading the line" nginx "$graceful_s" "$(ratio "$graceful_qps")" \
      "graceful reference (FIN, no reset); best of rounds:$graceful_list"
    bench_stop "$graceful_pid"; bench_forget "$graceful_pid"
  fi
  if [ "$half" -gt 0 ]; then
    s=$(median_p99_run "${nginx_half_all[@]}")
    row "0h fixed text at half peak ($half/s)" nginx "$s" - \
      "open loop; median p99 of rounds:$(p99_list "${nginx_half_all[@]}"); $(open_loop_note "$s")"
  fi
  bench_stop "$nginx_pid"; bench_forget "$nginx_pid"
fi
if want 1; then
  s1_ratio=$(ratio "$s1_qps")
  s1_graceful=$(ratio "$s1_qps" "$graceful_qps")
  row "1  $domains domains, under limit" whoisd "$s1" "$s1_ratio" \
    "mix 90/8/2; best of rounds:$s1_list${graceful_port:+; $s1_graceful of 0g}"
  if [ "$half1" -gt 0 ]; then
    s1h=$(median_p99_run "${s1h_all[@]}")
    row "1h same at half peak ($half1/s)" whoisd "$s1h" - \
      "open loop; median p99 of rounds:$(p99_list "${s1h_all[@]}"); $(open_loop_note "$s1h")"
  fi
  bench_stop "$s1_pid"; bench_forget "$s1_pid"
fi

# ------------------------------------------------------- 2: every source over the limit
# A limit of 5: 256 sources make 6 queries each (the 6th crosses it), then every query
# is a suspension answer.
s2=""
if want 2; then
port=$(bench_port)
bench_start_whoisd s2 "$snapshot" "$port" "$loops" 5
bench_wait_ready "$port" "$WHOISD_PID" "$WHOISD_LOG" --snapshot "$snapshot" --max-names 10
run_loadgen whoisd-cross --target "127.0.0.1:$port" --snapshot "$snapshot" --sources 256 --source-base 127.2.0.0 \
  --count $((256 * 6)) --connections 4 --allow-limit -q >/dev/null
s2=$(run_loadgen whoisd-suspended --target "127.0.0.1:$port" --snapshot "$snapshot" --sources 256 \
  --source-base 127.2.0.0 --expect limit --connections "$conns" --watch-pid "$WHOISD_PID" --watch-mapped "$prefix" \
  "${common[@]}")
row "2  every source suspended" whoisd "$s2" "$(ratio "$(bench_kv "$s2" qps)")" "256 sources over a limit of 5"
bench_stop "$WHOISD_PID"; bench_forget "$WHOISD_PID"
fi

# ------------------------------------------------------- 3: a million distinct sources
s3=""
if want 3; then
port=$(bench_port)
bench_start_whoisd s3 "$snapshot" "$port" "$loops" 1000
bench_wait_ready "$port" "$WHOISD_PID" "$WHOISD_LOG" --snapshot "$snapshot" --max-names 10
s3=$(run_loadgen whoisd-sources --target "127.0.0.1:$port" --snapshot "$snapshot" --sources "$sources3" \
  --source-base 127.16.0.0 --count "$sources3" --connections "$conns" --threads "$threads" \
  --watch-pid "$WHOISD_PID" --watch-mapped "$prefix" -q)
row "3  $sources3 distinct sources" whoisd "$s3" "$(ratio "$(bench_kv "$s3" qps)")" "one query each: limiter memory"
bench_stop "$WHOISD_PID"; bench_forget "$WHOISD_PID"
fi

# --------------------------------------------------- 4: a snapshot reload every second
# The documented way: a new file renamed over the path, then SIGHUP. Two files (the
# snapshot and a copy) take turns, so each reload opens a different file.
s4=""
if want 4; then
copy=${snapshot%.sqlite}-copy.sqlite
if [ ! -s "$copy" ] || [ "$snapshot" -nt "$copy" ]; then cp "$snapshot" "$copy.tmp.$$" && mv "$copy.tmp.$$" "$copy"; fi  # .$$: runs may share the cache
chmod 644 "$copy"
live=$cache/live-$$.sqlite
ln -f "$snapshot" "$live"
port=$(bench_port)
bench_start_whoisd s4 "$live" "$port" "$loops" 1000
bench_wait_ready "$port" "$WHOISD_PID" "$WHOISD_LOG" --snapshot "$snapshot" --max-names 10
(
  i=0
  while kill -0 "$WHOISD_PID" 2>/dev/null; do
    sleep 1
    if [ $((i % 2)) = 0 ]; then src=$copy; else src=$snapshot; fi
    ln -f "$src" "$live.new" && mv -f "$live.new" "$live" && kill -HUP "$WHOISD_PID" 2>/dev/null || exit 0
    i=$((i + 1)); echo "$i" >"$BENCH_WORK/reloads"
  done
) &
reloader=$!
BENCH_PIDS+=("$reloader")
s4=$(run_loadgen whoisd-reload --target "127.0.0.1:$port" --snapshot "$snapshot" --sources 65536 \
  --source-base 127.1.0.0 --connections "$conns" --watch-pid "$WHOISD_PID" --watch-mapped "$prefix" "${common[@]}")
bench_stop "$reloader"; bench_forget "$reloader"
hups=$(cat "$BENCH_WORK/reloads" 2>/dev/null || echo 0)
reloaded=$(grep -c 'event=snapshot_reloaded' "$WHOISD_LOG" || true)
refused=$(grep -c 'event=snapshot_reload_refused' "$WHOISD_LOG" || true)
row "4  reload every second" whoisd "$s4" "$(ratio "$(bench_kv "$s4" qps)")" "$hups SIGHUPs: $reloaded reloads logged, $refused refused"
bench_stop "$WHOISD_PID"; bench_forget "$WHOISD_PID"
rm -f "$live" "$live.new"
fi

# ------------------------------------------------------- 5: start-up to the first answer
# The probe runs first and retries every 0.5 ms; the clock starts just before the
# daemon is exec'd, so the figure includes exec, config, snapshot open, bind.
startups=()
start_hwm=0; start_beyond=0
want 5 || starts=0
for i in $(seq "$starts"); do
  port=$(bench_port)
  "${BENCH_NICE[@]}" "$LOADGEN" --target "127.0.0.1:$port" --probe --probe-timeout-ms 30000 --sources 1 --source-base 127.0.0.3 \
    --snapshot "$snapshot" --max-names 10 -q >"$BENCH_WORK/probe-$i.out" 2>&1 &
  probe=$!
  BENCH_PIDS+=("$probe")
  sleep 0.3
  bench_start_whoisd "s5-$i" "$snapshot" "$port" "$loops" 1000
  t0=$WHOISD_STARTED_US
  if wait "$probe"; then
    answered=$(bench_kv "$(grep '^summary ' "$BENCH_WORK/probe-$i.out")" answered_us)
    startups+=("$(awk -v a="$answered" -v b="$t0" 'BEGIN { printf "%.1f", (a - b) / 1000 }')")
    sleep 0.2
    read -r hwm rss beyond < <(bench_memory "$WHOISD_PID" "$prefix")
    [ "$hwm" -gt "$start_hwm" ] && start_hwm=$hwm
    [ "$beyond" -gt "$start_beyond" ] && start_beyond=$beyond
  else
    status=1; note "bench: start-up $i: no answer; daemon log:"; tail -n 10 "$WHOISD_LOG" >&2
  fi
  bench_forget "$probe"
  bench_stop "$WHOISD_PID"; bench_forget "$WHOISD_PID"
done
startup_list=$(IFS=' '; echo "${startups[*]:-none}")
startup_best=$(printf '%s\n' "${startups[@]:-}" | sort -n | head -n 1)
startup_median=$(printf '%s\n' "${startups[@]:-}" | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
want 5 && rows+=("$(printf '%-34s %-6s %9s %6s %7s %7s %8s %6s %7s %7s %8s %9s  %s' "5  start-up to first answer" whoisd - - - - - - - - \
  "$((start_hwm / 1024))" "$((start_beyond / 1024))" "ms: ${startup_list} (median ${startup_median:-?})")")

# ------------------------------------------------------------------------------ table
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
probe_end=$(bench_cpu_probe)
echo
echo "whoisd end-to-end benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $cpu_model, $(nproc) cores, $mem_gb GB RAM; load average $load_start at start, $load_end at end"
echo "CPU probe (a fixed awk loop, user time of 5 runs; bench-lib.sh): $probe_start at start, $probe_end at end"
echo "whoisd loops = nginx workers = $loops; generator (same machine): $threads thread(s), $conns connections; ${seconds} s runs after ${warmup} s warm-up; ${BENCH_NICE[*]:-no nice}"
echo
printf '%-34s %-6s %9s %6s %7s %7s %8s %6s %7s %7s %8s %9s  %s\n' scenario server "queries/s" "/nginx" "p50 ms" "p99 ms" \
  "p99.9 ms" errors "gen CPU" "srv us" "peak MB" "beyond MB" note
printf '%s\n' "${rows[@]}"
echo "(gen CPU: cores the generator used; srv us: the server's CPU time per query, all its processes and threads;"
echo " peak MB: the server's VmHWM; beyond MB: its largest RSS minus the snapshot file's mapped pages)"
echo
if [ "${#rate_rows[@]}" -gt 0 ]; then
  echo "latency by load: open loop at fixed rates (WHOISD_BENCH_RATES), servers alternated in each round"
  printf '%8s %-9s %5s %9s %7s %7s %8s %8s %6s %7s\n' rate server round "queries/s" "p50 ms" "p99 ms" "p99.9 ms" \
    "lag p99" errors "gen CPU"
  printf '%s\n' "${rate_rows[@]}"
  echo "(lag p99: how late the generator itself started its connections against the schedule, ms)"
  echo
fi

# ---------------------------------------------------------------------------- targets
verdict() { if [ "$1" = 1 ]; then echo met; else echo "NOT MET"; fi; }
# Judged on the unrounded ratio, printed with three decimals: 0.896 is "0.90" in the
# table's two, and not met.
s1_ratio_exact=$(ratio "${s1_qps:-0}" "$nginx_qps" 3)
t1=$(awk -v a="${s1_qps:-0}" -v b="$nginx_qps" 'BEGIN { print (b > 0 && a / b >= 0.9) ? 1 : 0 }')
p99h=$(bench_kv "$s1h" p99_ms)
t2=$(awk -v p="${p99h:-99}" 'BEGIN { print (p < 1.0) ? 1 : 0 }')
t3=$(awk -v p="${startup_median:-99999}" 'BEGIN { print (p < 200) ? 1 : 0 }')
max_beyond=$start_beyond
for s in "${s1_all[@]}" "${s1h_all[@]}" "$s2" "$s3" "$s4"; do
  b=$(bench_kv "$s" server_beyond_mapped_kb); [ -n "$b" ] && [ "$b" -gt "$max_beyond" ] && max_beyond=$b
done
t4=$(awk -v b="$max_beyond" 'BEGIN { print (b < 100 * 1024) ? 1 : 0 }')
if want 0 && want 1; then
  printf 'target: scenario 1 at >= 0.90 of nginx          %-10s %s\n' "$s1_ratio_exact" "$(verdict "$t1")"
  if [ -n "$graceful_port" ]; then
    printf 'beside it: scenario 1 / graceful reference (0g) %-10s %s\n' \
      "$(ratio "${s1_qps:-0}" "$graceful_qps" 3)" \
      "(not judged: issue 5 names the plain return)"
  fi
fi
if want 1; then
  printf 'target: p99 < 1 ms at half the peak rate        %-10s %s\n' "${p99h:-?} ms" "$(verdict "$t2")"
fi
if want 5; then
  printf 'target: start-up to first answer < 200 ms       %-10s %s\n' "${startup_median:-?} ms" "$(verdict "$t3")"
fi
if [ "$need_whoisd" = 1 ]; then
  printf 'target: RSS beyond the snapshot < 100 MB        %-10s %s\n' "$((max_beyond / 1024)) MB" "$(verdict "$t4")"
fi
if [ "$smoke" = 1 ]; then echo "(smoke run: short and small; the targets above are not judged)"; fi
if [ "$status" != 0 ]; then echo "bench: some runs reported errors (see above)"; fi
exit "$status"
