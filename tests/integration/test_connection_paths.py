#!/usr/bin/env python3
"""The ways a connection can take through the server (lib/server/connection.h), each
with a whole answer and its query-log row: the fast path (the line is there at accept,
the answer fits in the socket, the descriptor is closed at once), and each fallback to
a libuv-watched connection: a line that arrives in pieces after the accept (also one
byte at a time), an answer too large for the socket's buffer to a client that reads
slowly, and a client that sends more than its line (before and after the answer), whose
answer the lingering close protects. Then a graceful stop while a connection waits for
the rest of its line: the stop waits for it, and every query is in the query log. Then
a daemon out of file descriptors (EMFILE at accept): it pauses accepting, logs it, and
serves again once descriptors are free. Last, a client that never reads its answer:
closed at the write timeout, and counted in whoisd_timeouts_total{kind="write"}."""
import os
import resource
import socket
import subprocess
import threading
import time

from harness import (DEADLINE, Daemon, _running, build_snapshot, check, metrics_at, note, parse_args, private_dir,
                     read_all, root_args, wait_for_log_line, wait_until)

args = parse_args()
d = Daemon(args, name="paths", config="""
[server]
read_timeout = "20s"
write_timeout = "20s"
[proxy]
trusted = []
""").start()

QUERY = b"exemplo.pt\r\n"
baseline = d.query(QUERY)
check(baseline.startswith(b"Domain: exemplo.pt\r\n") and baseline.endswith(b"\r\n"), "baseline answer %r" % baseline)
queries = 2  # start()'s "help" and the baseline


try:
    # Fast path, many times: nothing but whole answers.
    for _ in range(50):
        a = d.query(QUERY)
        check(a == baseline, "fast path answer %r" % a[:200])
    queries += 50
    note("ok fast path: 50 whole answers")

    # The line in pieces: the first arrives (and is accepted, read) before the rest.
    a = d.query_in_pieces([b"exem", b"plo.p", b"t\r\n"], 0.3)
    check(a == baseline, "line in three pieces: %r" % a[:200])
    a = d.query_in_pieces([bytes([b]) for b in QUERY], 0.02)
    check(a == baseline, "line one byte at a time: %r" % a[:200])
    queries += 2
    note("ok a line that arrives in pieces waits under libuv and gets its whole answer")

    # More than the line, in the same segment and after it: the answer must not be
    # destroyed by a reset (the server half-closes and reads until the client closes).
    # The third line comes after the answer was written: read and discarded.
    a = d.query_in_pieces([QUERY + b"second line\r\n", b"and a third\r\n"], 0.3)
    check(a == baseline, "more than the line: %r" % a[:200])
    queries += 1
    note("ok a client that sends more than its line reads the whole answer")

    # A line that ends at the client's half-close, without LF, arriving after accept.
    a = d.query_in_pieces([b"exemplo", b".pt"], 0.3, half_close=True)
    check(a == baseline, "line ended by a half-close: %r" % a[:200])
    queries += 1
    note("ok a line ended by the client's half-close")

    # A graceful stop while a connection waits for the rest of its line: it is served.
    waiting = d.connect()
    waiting.sendall(b"exemplo")
    d.wait_metric("whoisd_connections_open", 1)
    result = {}

    def finish():
        time.sleep(0.5)
        waiting.sendall(b".pt\r\n")
        result["answer"] = read_all(waiting)

    t = threading.Thread(target=finish)
    t.start()
    d.send(15)
    t.join(DEADLINE)
    waiting.close()
    check(result.get("answer") == baseline, "a waiting connection during the stop: %r" % result.get("answer", b"")[:200])
    queries += 1
    rc = d.proc.wait(DEADLINE)
    check(rc == 0, "whoisd exit status %d" % rc)
    d.log.close()
    note("ok a connection waiting for its line is served through a graceful stop")

    rows = d.query_log()
    check(len(rows) == queries, "query log: %d rows for %d queries" % (len(rows), queries))
    check(all(r[3] in ("found", "help") for r in rows), "query log outcomes: %r" % sorted({r[3] for r in rows}))
    note("ok every query is in the query log (%d rows)" % len(rows))
finally:
    if d.proc.poll() is None:
        d.stop()

# Out of descriptors: accept4() fails with EMFILE while the backlog still holds
# connections. The listener pauses (rather than spinning on a socket that stays
# readable), logs it, and serves again once descriptors are free.
def low_open_files_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


FD_LIMIT = 96
few = Daemon(args, name="paths-emfile", preexec=low_open_files_limit, config="""
[server]
read_timeout = "60s"
max_connections_per_source = 1000
[proxy]
trusted = []
""").start()
try:
    held = []
    for _ in range(FD_LIMIT):  # more than the daemon can hold: each waits for the rest of its line
        c = few.connect()
        c.sendall(b"exem")
        held.append(c)
    few.wait_for_log(r"event=accept_failed .*error=\"?Too many open files")
    for c in held:
        c.close()
    def answer():
        try:
            return few.query(QUERY, timeout=10)
        except OSError:
            return b""
    wait_until(answer, lambda a: a == baseline,
               lambda a: "no answer after the descriptors were freed: %r" % a[:200], interval=0.2)
    note("ok out of descriptors: accepting paused, logged, and resumed once they were free")
finally:
    rc = few.stop()
check(rc == 0, "whoisd exit status %d" % rc)

# An answer larger than the socket takes at once, to a client that reads slowly: the
# first send() takes part of it, libuv writes the rest. The listening socket is passed
# the way systemd does (LISTEN_FDS), with a small fixed SO_SNDBUF that accepted sockets
# inherit (autotuning would let a loopback socket take megabytes at once). A header
# of 2,000 lines of 255 characters makes the answer about 0.5 MB. Then a client that never
# reads it: closed at the write timeout (2 s here), and counted.
WRITE_TIMEOUT = 2.0
work = private_dir("whoisd-it-paths-big-")
snap = build_snapshot(args.source_dir, os.path.join(work, "pt.sqlite"))
config_path = os.path.join(work, "whoisd.conf")
big_line = '"%% %s"' % ("x" * 253)
with open(config_path, "w", encoding="utf-8") as f:
    f.write('[server]\nloops = 2\nwrite_timeout = "%gs"\n[snapshot]\npath = "%s"\n[state]\ndir = "%s"\n'
            '[metrics]\nlisten = "127.0.0.1:0"\n[answers]\nheader = [%s]\n'
            % (WRITE_TIMEOUT, snap, os.path.join(work, "state"), ", ".join([big_line] * 2000)))
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
listener.bind(("127.0.0.1", 0))
listener.listen(64)
port = listener.getsockname()[1]
log_path = os.path.join(work, "whoisd.log")


def activated_child():
    os.dup2(listener.fileno(), 3)
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid())


with open(log_path, "wb") as log:
    p = subprocess.Popen([args.whoisd, "--config", config_path] + root_args(), stdout=log, stderr=log,
                         preexec_fn=activated_child, pass_fds=(3,) if listener.fileno() != 3 else ())
_running.append(p)
listener.close()


def log_text():
    with open(log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


metrics_port = int(wait_for_log_line(p, log_text, r"event=start .*metrics=127\.0\.0\.1:(\d+)", "whoisd's start").group(1))


def write_timeouts():
    return int(metrics_at(metrics_port).get('whoisd_timeouts_total{kind="write"}', -1))


def query_big(slowly):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if slowly:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # before connect: the window it offers
    c.settimeout(DEADLINE)
    c.connect(("127.0.0.1", port))
    try:
        c.sendall(QUERY)
        if slowly:
            time.sleep(0.5)  # the server's send() took only part of the answer meanwhile
        return read_all(c)
    finally:
        c.close()


try:
    slow = query_big(True)
    check(len(slow) > 500_000 and slow.endswith(b"\r\n") and b"Domain: exemplo.pt\r\n" in slow,
          "large answer: %d bytes, ends %r\n%s" % (len(slow), slow[-100:], open(log_path).read()[-2000:]))
    check(slow == query_big(False), "the large answer is the same read at once or slowly")
    note("ok a %d-byte answer, larger than the socket takes at once, arrives whole" % len(slow))

    # A client that sends its query and never reads: the answer stops at what the
    # sockets' buffers hold, and the connection is closed at the write timeout.
    check(write_timeouts() == 0, "write timeouts before the stuck client: %d" % write_timeouts())
    stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.settimeout(DEADLINE)
    started = time.monotonic()
    stuck.connect(("127.0.0.1", port))
    stuck.sendall(QUERY)
    wait_until(write_timeouts, lambda n: n == 1, lambda n: "write timeouts: %d, expected 1" % n)
    waited = time.monotonic() - started
    check(waited >= WRITE_TIMEOUT - 0.1, "closed after %.2f s, before its write timeout of %g s" % (waited, WRITE_TIMEOUT))
    try:
        partial = read_all(stuck)  # what the kernel still held for it, then the end
    except ConnectionResetError:
        partial = b""
    finally:
        stuck.close()
    check(len(partial) < len(slow), "the stuck client got %d bytes of %d: it was not cut off" % (len(partial), len(slow)))
    check(query_big(False) == slow, "whoisd serves on after the stuck client")
    note("ok a client that does not read its answer is closed after the write timeout (%.2f s, %d bytes of %d "
         "delivered) and counted" % (waited, len(partial), len(slow)))
finally:
    p.send_signal(15)
    rc = p.wait(DEADLINE)
check(rc == 0, "whoisd exit status %d" % rc)
note("PASS")
