#!/usr/bin/env python3
"""whoisd with standard error on a pipe that nobody reads (a stalled journald does the
same): log lines must never hold up the event loops, the control loop or the stop.

- Limit crossings log a `suspension` line on the event loop. With a 4 KiB pipe full,
  whoisd still answers every query promptly (before, the loops blocked in write(2) and
  stopped answering, and SIGTERM could not stop the daemon).
- Once the pipe is read again, every one of those lines arrives, whole and in order,
  and the stop writes its last lines too.
- With the pipe never read again, SIGTERM still ends whoisd: the last lines get a few
  seconds, then are given up.
- A non-blocking pipe (O_NONBLOCK is the open file's, shared with whoever set it) is
  waited for the same way: every line arrives whole once it is read, none dropped (the
  writer gave the rest of a batch up at EAGAIN, uncounted, and cut a line in two)."""
import os
import re
import signal
import socket
import threading
import time

import harness
from harness import DEADLINE, Daemon, check, note, parse_args, read_all_fd

args = parse_args()
CROSSINGS = 300
PIPE_BYTES = 4096


CONFIG = """
[limits]
queries = 1
exempt = []
"""

# ---- the loops and the control loop keep going with the pipe full ----
d = Daemon(args, name="stderr-stuck", config=CONFIG)
pipe = d.start_on_pipe(PIPE_BYTES)
started = time.monotonic()
for i in range(CROSSINGS):
    client = "10.9.%d.%d" % (i // 250, i % 250 + 1)
    try:
        first = d.proxied_query(client)
        crossing = d.proxied_query(client)
    except socket.timeout:
        harness.fail("query %d of %d timed out: a log write blocks the event loop" % (2 * i + 1, 2 * CROSSINGS))
    check(first.startswith(b"Domain: exemplo.pt"), "the first query of %s: %r" % (client, first[:80]))
    check(crossing.startswith(b"Query limit exceeded: %s made 1 queries" % client.encode()),
          "the crossing of %s: %r" % (client, crossing[:80]))
elapsed = time.monotonic() - started
metrics = d.metrics()
check(metrics.get("whoisd_suspensions_total") == CROSSINGS, "suspensions: %r" % metrics.get("whoisd_suspensions_total"))
check(metrics.get("whoisd_log_lines_dropped_total") == 0,
      "lines dropped within the 1 MiB buffer: %r" % metrics.get("whoisd_log_lines_dropped_total"))
note("ok %d limit crossings answered in %.1f s with a %d-byte pipe on standard error unread" %
     (CROSSINGS, elapsed, PIPE_BYTES))

# Read again: every line arrives, and the stop's last lines after them.
def stop_and_read_every_line(daemon, pipe, octet, what):
    """Reads the pipe from now on, stops `daemon` (SIGTERM) and checks that every
    `suspension` line of the crossings from 10.<octet>.x.y arrived whole and in order,
    and the stop's last line after them."""
    received = []
    reader = threading.Thread(target=lambda: received.append(read_all_fd(pipe)), daemon=True)
    reader.start()
    daemon.proc.send_signal(signal.SIGTERM)
    rc = daemon.proc.wait(DEADLINE)
    reader.join(DEADLINE)
    os.close(pipe)
    check(rc == 0, "%s: whoisd exit status %d" % (what, rc))
    text = received[0].decode("utf-8", "replace")
    suspended = re.findall(r"event=suspension source=10\.%d\.(\d+)\.(\d+) " % octet, text)
    check([(int(a), int(b)) for a, b in suspended] == [(i // 250, i % 250 + 1) for i in range(CROSSINGS)],
          "%s: %d suspension lines of %d, in order:\n%s" % (what, len(suspended), CROSSINGS, text[-2000:]))
    check(all(line.startswith("ts=") for line in text.splitlines()), "%s: a broken line:\n%s" % (what, text[-2000:]))
    check(re.search(r"event=stopped ", text), "%s: no 'stopped' line:\n%s" % (what, text[-2000:]))


stop_and_read_every_line(d, pipe, 9, "a blocking pipe")
note("ok all %d suspension lines and the stop's lines arrived once the pipe was read" % CROSSINGS)

# ---- a non-blocking pipe: waited for, not given up at EAGAIN ----
n = Daemon(args, name="stderr-stuck-nonblocking", config=CONFIG)
pipe = n.start_on_pipe(PIPE_BYTES, blocking=False)
n.cross_limits(7, CROSSINGS)
metrics = n.metrics()
check(metrics.get("whoisd_log_lines_dropped_total") == 0,
      "lines dropped within the 1 MiB buffer: %r" % metrics.get("whoisd_log_lines_dropped_total"))
stop_and_read_every_line(n, pipe, 7, "a non-blocking pipe")
note("ok all %d suspension lines arrived whole through a non-blocking pipe" % CROSSINGS)

# ---- a stop with the pipe never read again ----
e = Daemon(args, name="stderr-stuck-stop", config=CONFIG)
pipe = e.start_on_pipe(PIPE_BYTES)
e.cross_limits(8, CROSSINGS)
rc, took = e.signal_and_wait(signal.SIGTERM, "(SIGTERM) with its standard error unread")
os.close(pipe)
check(rc == 0, "whoisd exit status %d" % rc)
note("ok stopped in %.1f s with its standard error never read again (the last lines given up)" % took)
note("PASS")
