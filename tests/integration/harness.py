"""Runs the real whoisd on loopback for the integration tests.

Each test starts its own daemon in a private temporary directory, on a port the
kernel picks (listen = "127.0.0.1:0"; the daemon logs the port it got), and stops
it at the end. Any daemon still running when the test exits, passes or fails, is
killed (atexit), so that a failed test never leaves a process behind. The private
directories are removed when the test passes (or skips) and kept, with their paths
printed, when it fails: the daemon's log and state are what one reads then.

Deadlines are generous (the tests must pass on a loaded 2-core machine) and nothing
asserts how long anything took.
"""
import atexit
import fcntl
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

DEADLINE = 120.0  # seconds: "surely broken", never "too slow"

_running = []
_private_dirs = []
_failed = False


def _kill_all():
    for p in _running:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass


def _at_exit():
    _kill_all()
    if _failed:
        for d in _private_dirs:
            print("kept for inspection: " + d, file=sys.stderr, flush=True)
        return
    for d in _private_dirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_at_exit)


def _mark_failed_on_exception(kind, value, tb):
    global _failed
    _failed = True
    sys.__excepthook__(kind, value, tb)


sys.excepthook = _mark_failed_on_exception


def fail(message):
    global _failed
    _failed = True
    print("FAIL: " + message, file=sys.stderr, flush=True)
    _kill_all()
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def note(message):
    print(message, flush=True)


# whoisd-snapshot, which turns an export into a servable snapshot: built beside whoisd.
_snapshot_tool = None


def use_whoisd(whoisd):
    """Notes where whoisd (and so whoisd-snapshot beside it) is; parse_args and Daemon call it."""
    global _snapshot_tool
    _snapshot_tool = os.path.join(os.path.dirname(os.path.abspath(whoisd)), "whoisd-snapshot")


def parse_args():
    """--whoisd PATH --source-dir DIR (the repository)."""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--whoisd", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    use_whoisd(args.whoisd)
    return args


def build_snapshot(source_dir, path, extra_sql=""):
    """The fixture snapshot (lib/snapshot/schema.sql + tests/fixtures/fixture.sql),
    with `extra_sql` applied: written as a registry export (the normalised tables), then
    made servable by `whoisd-snapshot build`, which writes it beside `path` and renames
    it over it (the export flow of schema.sql)."""
    with open(os.path.join(source_dir, "lib/snapshot/schema.sql"), encoding="utf-8") as f:
        schema = f.read()
    with open(os.path.join(source_dir, "tests/fixtures/fixture.sql"), encoding="utf-8") as f:
        fixture = f.read()
    if _snapshot_tool is None:
        raise RuntimeError("build_snapshot: call parse_args() or use_whoisd() first")
    export = path + ".export"
    if os.path.exists(export):
        os.unlink(export)
    con = sqlite3.connect(export)
    con.executescript(schema + "\n" + fixture + "\n" + extra_sql)
    con.commit()
    con.close()
    subprocess.run([_snapshot_tool, "build", export, "--out", path], check=True, stdout=subprocess.DEVNULL)
    os.unlink(export)
    os.chmod(path, 0o644)
    return path


def private_dir(prefix):
    """A temporary directory. Started as root, whoisd drops to `nobody` after binding,
    so then the directory must be usable by that user too."""
    d = tempfile.mkdtemp(prefix=prefix)
    _private_dirs.append(d)
    if os.geteuid() == 0:
        os.chmod(d, 0o777)
    return d


def root_args():
    """Command-line options a test adds when it runs as root (to drop to nobody)."""
    return ["--user", "nobody"] if os.geteuid() == 0 else []


def raise_open_files(wanted):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, wanted)) if hard != resource.RLIM_INFINITY else max(soft, wanted)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


class Daemon:
    """One whoisd process with its own configuration, snapshot and state directory."""

    def __init__(self, args, config="", snapshot_sql="", name="whoisd", extra_args=(), preexec=None):
        """`preexec`: called in the child before whoisd is executed (e.g. to set a limit)."""
        self.whoisd = args.whoisd
        if _snapshot_tool is None:  # (a test may run whoisd through a wrapper: keep parse_args' choice)
            use_whoisd(args.whoisd)
        self.source_dir = args.source_dir
        self.dir = private_dir("whoisd-it-%s-" % name)
        self.snapshot = os.path.join(self.dir, "pt.sqlite")
        self.state_dir = os.path.join(self.dir, "state")
        self.config_path = os.path.join(self.dir, "whoisd.conf")
        self.log_path = os.path.join(self.dir, "whoisd.log")
        build_snapshot(self.source_dir, self.snapshot, snapshot_sql)
        base = (
            '[server]\nlisten = ["127.0.0.1:0"]\nloops = 2\n'
            + ('user = "nobody"\n' if os.geteuid() == 0 else '') +
            '[snapshot]\npath = "%s"\n[state]\ndir = "%s"\n[metrics]\nlisten = "127.0.0.1:0"\n'
            % (self.snapshot, self.state_dir)
        )
        self.config_text = merge_config(base, config)
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(self.config_text)
        self.extra_args = list(extra_args)
        self.preexec = preexec
        self.proc = None
        self.port = None
        self.metrics_port = None

    def start(self):
        """Starts (or restarts) the daemon; waits until it answers."""
        offset = len(self.log_text())  # a restart appends to the same log
        self.log = open(self.log_path, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.proc = subprocess.Popen(
            [self.whoisd, "--config", self.config_path] + self.extra_args,
            stdout=self.log, stderr=self.log, env=env, preexec_fn=self.preexec)
        _running.append(self.proc)
        m = wait_for_log_line(self.proc, lambda: self.log_text()[offset:],
                              r"event=start listen=127\.0\.0\.1:(\d+).* metrics=(?:127\.0\.0\.1:(\d+)|off)",
                              "whoisd's start")
        self.port = int(m.group(1))
        self.metrics_port = int(m.group(2)) if m.group(2) else None
        # It logs "start" once the loops run; make sure one answers.
        answer = self.query(b"help\r\n")
        check(len(answer) > 0, "whoisd does not answer after start")
        return self

    def start_on_pipe(self, pipe_bytes, blocking=True):
        """Starts the daemon with stdout and stderr on a pipe of `pipe_bytes` (non-blocking
        unless `blocking`) instead of its log file; reads it until the start line and
        returns the read end, left unread from then on (the caller reads or closes it)."""
        r, w = os.pipe()
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, pipe_bytes)
        os.set_blocking(w, blocking)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.proc = subprocess.Popen([self.whoisd, "--config", self.config_path] + self.extra_args,
                                     stdout=w, stderr=w, env=env, preexec_fn=self.preexec)
        _running.append(self.proc)
        os.close(w)
        seen = b""
        deadline = time.monotonic() + DEADLINE
        while True:
            m = re.search(rb"event=start listen=127\.0\.0\.1:(\d+).* metrics=127\.0\.0\.1:(\d+)", seen)
            if m:
                break
            check(time.monotonic() < deadline and self.proc.poll() is None, "whoisd did not start:\n%r" % seen[-3000:])
            chunk = os.read(r, 65536)
            check(chunk, "whoisd closed its standard error before starting:\n%r" % seen[-3000:])
            seen += chunk
        self.port, self.metrics_port = int(m.group(1)), int(m.group(2))
        return r

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def connect(self, timeout=DEADLINE):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return s

    def query(self, data, timeout=DEADLINE):
        """Sends `data` and reads until the server closes. Returns the bytes read."""
        s = self.connect(timeout)
        try:
            s.sendall(data)
            return read_all(s)
        finally:
            s.close()

    def query_in_pieces(self, pieces, pause, half_close=False):
        """Sends `pieces` with `pause` seconds between them (then shuts down its side when
        `half_close`); returns all it reads until the server closes."""
        s = self.connect()
        try:
            for i, p in enumerate(pieces):
                if i:
                    time.sleep(pause)
                s.sendall(p)
            if half_close:
                s.shutdown(socket.SHUT_WR)
            return read_all(s)
        finally:
            s.close()

    def proxied_query(self, client, query=b"exemplo.pt"):
        """`query` from IPv4 `client`, behind a PROXY v1 header (the daemon must trust
        loopback, the default). A loop that does not answer shows as a timeout."""
        s = self.connect(timeout=5)
        try:
            s.sendall(b"PROXY TCP4 %s 127.0.0.1 40000 43\r\n%s\r\n" % (client.encode(), query))
            return read_all(s)
        finally:
            s.close()

    def cross_limits(self, octet, count):
        """With `queries = 1`: `count` clients 10.<octet>.x.y (behind PROXY headers) each
        cross the limit, each crossing logged as a `suspension` line by the loop that
        answers it; the metric then counts them all."""
        for i in range(count):
            client = "10.%d.%d.%d" % (octet, i // 250, i % 250 + 1)
            self.proxied_query(client)
            self.proxied_query(client)  # the crossing
        check(self.metrics().get("whoisd_suspensions_total") == count, "suspensions: %r" % self.metrics())

    def signal_and_wait(self, signum, what):
        """Sends `signum` and waits for the process to end; fails naming `what` if it has
        not within DEADLINE. Returns (exit status, seconds it took)."""
        started = time.monotonic()
        self.proc.send_signal(signum)
        try:
            rc = self.proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            fail("whoisd did not end within %d s of signal %d %s" % (DEADLINE, signum, what))
        return rc, time.monotonic() - started

    def whois(self, name, locale="C.UTF-8"):
        env = dict(os.environ, LC_ALL=locale, LANG=locale)
        r = subprocess.run(["whois", "-h", "127.0.0.1", "-p", str(self.port), name],
                           capture_output=True, env=env, timeout=DEADLINE)
        return r.stdout.decode("utf-8", "replace")

    def metrics(self):
        """{'name{labels}': value} from GET /metrics."""
        return metrics_at(self.metrics_port)

    def wait_metric(self, name, at_least):
        """Waits until the metric `name` reaches `at_least` (e.g. connections accepted)."""
        return wait_until(lambda: self.metrics().get(name, 0), lambda v: v >= at_least,
                          lambda v: "metric %s is %s, expected at least %s" % (name, v, at_least))

    def wait_metric_at_most(self, name, at_most):
        return wait_until(lambda: self.metrics().get(name, 0), lambda v: v <= at_most,
                          lambda v: "metric %s is %s, expected at most %s" % (name, v, at_most))

    def send(self, signum):
        self.proc.send_signal(signum)

    def stop(self, signum=15):  # SIGTERM
        """Stops the daemon with `signum`; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            rc = self.proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            fail("whoisd did not stop within %ds:\n%s" % (DEADLINE, self.log_text()[-4000:]))
        self.log.close()
        return rc

    def state_db(self):
        return sqlite3.connect("file:%s?mode=ro" % os.path.join(self.state_dir, "state.sqlite"), uri=True)

    def query_log(self):
        with self.state_db() as con:
            return con.execute("SELECT client, proxy_peer, query, outcome FROM query_log ORDER BY id").fetchall()

    def wait_for_log(self, pattern, count=1):
        wait_until(lambda: len(re.findall(pattern, self.log_text())), lambda n: n >= count,
                   lambda n: "no %d log line(s) matching %r within %ds:\n%s"
                   % (count, pattern, DEADLINE, self.log_text()[-4000:]))

    def wait_query_log_rows(self, count):
        """The query log is written in batches by a background thread."""
        def rows():
            try:
                return self.query_log()
            except sqlite3.Error:
                return []
        return wait_until(rows, lambda r: len(r) >= count,
                          lambda r: "the query log holds %d rows, expected %d" % (len(r), count), interval=0.1)


_ports_given = set()


def free_port(host="127.0.0.1", low=None, high=None):
    """A TCP port on `host` free a moment ago, for a server whose port must be known
    before it starts: the first free one from `low` to `high`, or by default a random
    one below the kernel's ephemeral range. Not port 0's pick: that is the range every
    outgoing connection takes its local port from, and the tests run in parallel make
    thousands, so a port picked there and closed could be some connection's before the
    server binds it (the likely cause of a failure seen once under ctest -j4). None when
    none is free; never one this process was given before."""
    if low is None:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
        # 0, the kernel's pick, only if the ephemeral range leaves nothing below it.
        candidates = random.sample(range(10000, ephemeral_low), max(0, min(200, ephemeral_low - 10000))) or [0]
    else:
        candidates = range(low, high + 1)
    for port in candidates:
        if port in _ports_given:
            continue
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            s.bind((host, port))
            port = s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
        _ports_given.add(port)
        return port
    return None


def metrics_at(port):
    """{'name{labels}': value} from GET /metrics of a whoisd at 127.0.0.1:port."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=DEADLINE) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            try:
                out[key] = float(value)
            except ValueError:
                pass
    return out


_TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
               7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}


def tcp_state(local_port, remote_port):
    """The state ("FIN_WAIT1"...) of this host's TCP socket from local_port to
    remote_port, read from /proc/net/tcp and tcp6 (what ss shows, without needing it);
    None when there is none: the kernel has freed it."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            local, remote, state = fields[1], fields[2], int(fields[3], 16)
            if int(local.rsplit(":", 1)[1], 16) == local_port and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                return _TCP_STATES.get(state, str(state))
    return None


def wait_until(probe, done, describe, interval=0.05):
    """Calls probe() until done(value) holds, within DEADLINE; returns that value.
    Otherwise fails with describe(last value), which says what was expected."""
    end = time.monotonic() + DEADLINE
    value = probe()
    while not done(value):
        if time.monotonic() >= end:
            fail(describe(value))
        time.sleep(interval)
        value = probe()
    return value


def wait_for_log_line(proc, read_log, pattern, what):
    """Waits until read_log() matches `pattern`; returns the match. Fails, naming `what`
    and showing the log, when the process exits first or DEADLINE passes."""
    state = wait_until(lambda: (re.search(pattern, read_log()), proc.poll()),
                       lambda v: v[0] is not None or v[1] is not None,
                       lambda v: "%s: not logged within %ds:\n%s" % (what, DEADLINE, read_log()[-4000:]))
    if state[0] is None:
        fail("%s: the process exited first (status %s):\n%s" % (what, state[1], read_log()[-4000:]))
    return state[0]


def read_all(s, reset_ends=False):
    """Reads until the peer closes. With reset_ends, a reset ends the read like a FIN
    and what came before it is returned; otherwise it raises ConnectionResetError."""
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            if not reset_ends:
                raise
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def read_all_fd(fd):
    """Everything read from descriptor `fd` until its end (a pipe's writers all gone)."""
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def merge_config(base, extra):
    """The test's tables replace the base's tables of the same name."""
    def tables(text):
        out, name = {}, None
        for line in text.splitlines():
            m = re.match(r"^\s*\[([a-z_.]+)\]\s*$", line)
            if m:
                name = m.group(1)
                out.setdefault(name, [])
                continue
            if name is not None and line.strip():
                out[name].append(line)
        return out
    a, b = tables(base), tables(extra)
    for name, lines in b.items():
        keys = {l.split("=")[0].strip() for l in lines if "=" in l}
        kept = [l for l in a.get(name, []) if l.split("=")[0].strip() not in keys]
        a[name] = kept + lines
    return "".join("[%s]\n%s\n" % (n, "\n".join(ls)) for n, ls in a.items())
