#!/usr/bin/env python3
"""whoisd started with standard input, output or error closed (`whoisd <&- 2>&-`, a
supervisor that closes them): the descriptors it opens next must not take their
numbers. An event loop's epoll descriptor took 0 or 2: with 2, every log line was
written into it (EINVAL: all lost, none counted), and libuv, which refuses to close a
descriptor below 3, aborted every stop (SIGABRT, a core dump, a failed unit). Now they
are /dev/null: whoisd answers and stops with status 0."""
import os
import signal
import subprocess

import harness
from harness import DEADLINE, Daemon, check, free_port, note, parse_args, wait_until

args = parse_args()


for closed in ((0,), (2,), (0, 1, 2)):
    d = Daemon(args, name="closed-stdio")
    # Its log goes nowhere: the port is chosen here rather than read from the start line.
    d.port = free_port()

    def close_them(fds=closed):
        for fd in fds:
            os.close(fd)

    d.proc = subprocess.Popen(
        [d.whoisd, "--config", d.config_path, "--listen", "127.0.0.1:%d" % d.port, "--metrics", "off"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=close_them)
    harness._running.append(d.proc)

    def answer():
        check(d.proc.poll() is None, "descriptors %s closed: whoisd exited at start (status %s)" %
              (closed, d.proc.returncode))
        try:
            return d.query(b"exemplo.pt\r\n", timeout=2)
        except OSError:
            return b""

    wait_until(answer, lambda a: a.startswith(b"Domain: exemplo.pt"),
               lambda a: "descriptors %s closed: no answer: %r" % (closed, a[:80]))
    d.send(signal.SIGTERM)
    rc = d.proc.wait(DEADLINE)
    check(rc == 0, "descriptors %s closed: exit status %d (-6: libuv's abort, closing a descriptor below 3)" %
          (closed, rc))
    note("ok descriptors %s closed: answered, stopped with status 0" % (closed,))
note("PASS")
