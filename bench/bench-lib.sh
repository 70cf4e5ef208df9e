# Shell helpers shared by bench/run.sh and bench/smoke.sh (sourced, not run).
# Everything a helper starts is recorded in BENCH_PIDS and stopped by bench_cleanup,
# which the callers install as an EXIT trap, so that a failed run leaves nothing behind.

BENCH_PIDS=()
BENCH_WORK=""
# On a machine shared with other work (compiles), the servers and the generator run at a
# higher priority (nice -10, when root) so that the others disturb the measurement less.
BENCH_NICE=()
if [ "$(id -u)" = 0 ] && [ "${WHOISD_BENCH_NICE:--10}" != 0 ]; then BENCH_NICE=(nice -n "${WHOISD_BENCH_NICE:--10}"); fi

bench_die() { echo "bench: $*" >&2; exit 2; }

# bench_cpu_probe: one fixed CPU-bound loop (awk, about 0.1-0.3 s) timed five times, in
# user seconds, and the slowest over the fastest. On this kind of virtual machine the
# host takes CPU time without the guest seeing any steal time (bench/README.md, round
# 9): the probe's spread and slowness show such a disturbed run whatever the servers do.
bench_cpu_probe() {
  local times="" t
  for _ in 1 2 3 4 5; do
    t=$( { TIMEFORMAT=%U; time awk 'BEGIN { for (i = 0; i < 3000000; i++) s += i * i }'; } 2>&1 )
    times="$times $t"
  done
  awk -v l="$times" 'BEGIN {
    n = split(l, v, " "); lo = v[1]; hi = v[1]
    for (i = 2; i <= n; i++) { if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i] }
    printf "%s s (slowest/fastest %.2f)", substr(l, 2), (lo > 0 ? hi / lo : 0)
  }'
}

bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do bench_stop "$pid"; done
  BENCH_PIDS=()
  if [ -n "$BENCH_WORK" ] && [ -d "$BENCH_WORK" ] && [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf "$BENCH_WORK"; fi
}

# bench_stop PID: SIGTERM, up to 5 s to exit, then SIGKILL. Only ever a PID we started.
bench_stop() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

bench_forget() {  # bench_forget PID: stopped already; drop it from the list
  local keep=() p
  for p in "${BENCH_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  BENCH_PIDS=("${keep[@]}")
}

# bench_tools BUILD_DIR [NEED_WHOISD]: sets LOADGEN, WHOISD, SNAPSHOT_TOOL, NGINX,
# NGINX_STREAM_MODULE and NGINX_JS_MODULE (empty when njs is not installed: the
# graceful reference is then left out); dies naming what is missing.
bench_tools() {
  local build=$1 need_whoisd=${2:-1}
  [ -d "$build" ] || bench_die "no build directory '$build' (build first: cmake -S . -B build && cmake --build build)"
  build=$(cd "$build" && pwd)
  LOADGEN=$build/bench/loadgen/whoisd-loadgen
  WHOISD=$build/whoisd/whoisd
  SNAPSHOT_TOOL=$build/whoisd/whoisd-snapshot
  local tool
  [ -x "$LOADGEN" ] || bench_die "missing $LOADGEN (is it built?)"
  if [ "$need_whoisd" = 1 ]; then
    [ -x "$WHOISD" ] || bench_die "missing $WHOISD (is it built?)"
  fi
  NGINX=$(command -v nginx || true)
  [ -n "$NGINX" ] || NGINX=/usr/sbin/nginx
  [ -x "$NGINX" ] || bench_die "nginx is not installed (apt-get install nginx libnginx-mod-stream)"
  NGINX_STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so
  [ -f "$NGINX_STREAM_MODULE" ] || bench_die "missing $NGINX_STREAM_MODULE (apt-get install libnginx-mod-stream)"
  NGINX_JS_MODULE=/usr/lib/nginx/modules/ngx_stream_js_module.so
  [ -f "$NGINX_JS_MODULE" ] || NGINX_JS_MODULE=""
}

bench_workdir() {
  BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/whoisd-bench.XXXXXX")
  chmod 755 "$BENCH_WORK"  # the daemon may run as 'nobody'
}

# bench_port: a loopback TCP port nobody listens on, below the ephemeral range.
bench_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 10000))
    # /proc/net/tcp lists listeners (state 0A) with the port in hex: no extra tool needed.
    if ! awk -v p="$(printf ':%04X' "$port")" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
           END { exit !f }' /proc/net/tcp; then echo "$port"; return 0; fi
  done
  bench_die "no free port found in 20000-29999"
}

# bench_kv 'summary a=1 b=2' b -> 2
bench_kv() { local line=$1 key=$2; sed -n "s/.* $key=\([^ ]*\).*/\1/p" <<<" $line"; }

# bench_snapshot DOMAINS SEED CACHE_DIR -> prints the path of a cached snapshot, made
# when missing, when the current tool finds it invalid (`check --quick`), or when
# WHOISD_BENCH_REGENERATE=1. The name carries the schema version the tool writes
# (pt-1000000-seed1-schema2.sqlite), so a build of another version makes and keeps its
# own file rather than replacing one that a run of the other may be using.
bench_snapshot() {
  local domains=$1 seed=$2 cache=$3 file version
  mkdir -p "$cache" && chmod 755 "$cache"
  [ -x "$SNAPSHOT_TOOL" ] || bench_die "missing $SNAPSHOT_TOOL (is it built?)"
  version=$("$SNAPSHOT_TOOL" schema | sed -n 's/^PRAGMA user_version = \([0-9]*\).*/\1/p')
  [ -n "$version" ] || bench_die "$SNAPSHOT_TOOL schema printed no PRAGMA user_version"
  file=$cache/pt-$domains-seed$seed-schema$version.sqlite
  if [ ! -s "$file" ] || [ "${WHOISD_BENCH_REGENERATE:-0}" = 1 ] ||
     ! "$SNAPSHOT_TOOL" check --quick "$file" >/dev/null 2>&1; then
    echo "bench: generating a $domains-domain snapshot in $file (cached for later runs)" >&2
    rm -f "$file.tmp.$$"  # .$$: concurrent runs may share the cache
    "$SNAPSHOT_TOOL" generate --domains "$domains" --out "$file.tmp.$$" --seed "$seed" >&2 \
      || bench_die "whoisd-snapshot generate failed"
    mv "$file.tmp.$$" "$file"
  fi
  chmod 644 "$file"
  echo "$file"
}

# bench_start_nginx WORKERS PORT TEXT_FILE [read-line]: nginx's stream module answering
# the file's text to every connection; sets NGINX_PID. Its own prefix, config and pid
# file under BENCH_WORK/nginx (or nginx-read-line): the system's nginx service is not
# touched.
# Plain, `return` writes the text and closes as soon as it accepts, before the query
# has arrived; the query then meets a closed socket and nginx's kernel resets the
# connection. With read-line (njs, NGINX_JS_MODULE), a preread handler first waits for
# the query's LF, so nginx reads the query and closes with a FIN as a WHOIS server
# must: the graceful reference (bench/README.md, "Round 7").
bench_start_nginx() {
  local workers=$1 port=$2 text_file=$3 mode=${4:-plain} dir text modules="" stream_js="" server_js=""
  dir=$BENCH_WORK/nginx
  if [ "$mode" = read-line ]; then
    [ -n "$NGINX_JS_MODULE" ] || bench_die "the read-line reference needs njs (apt-get install libnginx-mod-stream-js)"
    dir=$BENCH_WORK/nginx-read-line
    mkdir -p "$dir"
    modules="load_module $NGINX_JS_MODULE;"
    stream_js="js_import main from $dir/whois.js;"
    server_js="js_preread main.read_line;"
    # Done at the LF, or when the client half-closes without one.
    cat >"$dir/whois.js" <<'JS'
function read_line(s) {
    s.on('upload', function (data, flags) {
        if (data.indexOf('\n') != -1 || flags.last) s.done();
    });
}
export default {read_line};
JS
  fi
  mkdir -p "$dir/logs"
  # nginx string: escape backslashes and quotes, turn CR LF into \r\n escapes.
  text=$(sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\r$//' "$text_file" | awk '{printf "%s\\r\\n", $0}')
  cat >"$dir/nginx.conf" <<CONF
load_module $NGINX_STREAM_MODULE;
$modules
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 16384; }
stream {
  $stream_js
  server {
    listen 127.0.0.1:$port reuseport backlog=4096;
    $server_js
    return "$text";
  }
}
CONF
  "${BENCH_NICE[@]}" "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
  NGINX_PID=$!
  BENCH_PIDS+=("$NGINX_PID")
}

# bench_start_whoisd NAME SNAPSHOT PORT LOOPS QUERIES_LIMIT: a daemon with its own config,
# fresh state directory and log under BENCH_WORK/NAME; sets WHOISD_PID, WHOISD_LOG and
# WHOISD_STARTED_US (CLOCK_REALTIME in microseconds just before the exec).
bench_start_whoisd() {
  local name=$1 snapshot=$2 port=$3 loops=$4 limit=$5 dir=$BENCH_WORK/$1 user_line=""
  mkdir -p "$dir/state"
  if [ "$(id -u)" = 0 ]; then
    # As root the daemon drops to an unprivileged user after binding (SPEC §6).
    if ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -r "$snapshot" 2>/dev/null; then
      bench_die "user 'nobody' (the daemon after dropping root) cannot read $snapshot: set WHOISD_BENCH_CACHE to a directory every user can reach"
    fi
    chown nobody "$dir/state"
    user_line='user = "nobody"'
  fi
  cat >"$dir/whoisd.conf" <<CONF
[server]
listen = ["127.0.0.1:$port"]
loops = $loops
max_connections = 100000
max_connections_per_source = 256
$user_line
[snapshot]
path = "$snapshot"
[state]
dir = "$dir/state"
[limits]
queries = $limit
exempt = []
[metrics]
listen = ""
[log]
level = "info"
CONF
  WHOISD_LOG=$dir/whoisd.log
  WHOISD_STARTED_US=${EPOCHREALTIME/./}  # the start-up clock starts here, after the preparations
  "${BENCH_NICE[@]}" "$WHOISD" --config "$dir/whoisd.conf" >"$WHOISD_LOG" 2>&1 &
  WHOISD_PID=$!
  BENCH_PIDS+=("$WHOISD_PID")
}

# bench_wait_ready PORT PID NAME_FILE_ARGS...: one answer within 30 s, or die with the log.
bench_wait_ready() {
  local port=$1 pid=$2 log=$3; shift 3
  if ! "${BENCH_NICE[@]}" "$LOADGEN" --target "127.0.0.1:$port" --probe --probe-timeout-ms 30000 --sources 1 \
       --source-base 127.0.0.2 -q "$@" >/dev/null; then
    echo "bench: server (pid $pid) did not answer on port $port; its log:" >&2
    tail -n 20 "$log" >&2 2>/dev/null || true
    exit 1
  fi
  kill -0 "$pid" 2>/dev/null || bench_die "server (pid $pid) exited"
}

# bench_memory PID PREFIX -> "HWM_KB RSS_KB BEYOND_KB": peak and current resident set,
# and the resident set beyond the files under PREFIX (the snapshots): anonymous and
# shmem pages plus the pages of every other mapped file (binary, libraries).
bench_memory() {
  local pid=$1 prefix=$2 hwm rss anon other
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
  anon=$(awk '/^(RssAnon|RssShmem):/ { s += $2 } END { print s + 0 }' "/proc/$pid/status" 2>/dev/null)
  other=$(awk -v prefix="$prefix" '
      /^[0-9a-f]+-[0-9a-f]+ / { inside = (substr($6, 1, 1) == "/" && index($6, prefix) != 1); next }
      inside && /^Rss:/ { sum += $2 }
      END { print sum + 0 }' "/proc/$pid/smaps" 2>/dev/null)
  echo "${hwm:-0} ${rss:-0} $(( ${anon:-0} + ${other:-0} ))"
}

# bench_children PID -> the PIDs whose parent is PID, comma-separated (from /proc, so
# that no procps tool is needed).
bench_children() {
  local parent=$1 stat rest pids=()
  for stat in /proc/[0-9]*/stat; do
    read -r rest <"$stat" 2>/dev/null || continue
    rest=${rest##*) }  # after "pid (comm) ": state ppid ...
    set -- $rest
    [ "${2:-}" = "$parent" ] && pids+=("${stat//[^0-9]/}")
  done
  local IFS=,
  echo "${pids[*]}"
}
