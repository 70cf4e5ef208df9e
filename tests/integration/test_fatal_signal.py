#!/usr/bin/env python3
"""whoisd killed by a fatal signal (systemd's watchdog sends SIGABRT; a crash is a
SIGSEGV) with log lines still queued for its log thread: they reach standard error
before the process dies, then a `fatal_signal` line says which signal and from whom,
and the process still dies of that signal (exit status, core dump and systemd's view
unchanged). With standard error stuck (a pipe nobody reads), it dies all the same,
within a couple of seconds.

The lines are queued as in test_stderr_stuck.py: limit crossings, each logging a
`suspension` line, while the 4 KiB pipe on standard error is not read."""
import os
import re
import resource
import signal
import sys
import threading

from harness import DEADLINE, Daemon, check, note, parse_args, read_all_fd

args = parse_args()
CROSSINGS = 200
PIPE_BYTES = 4096
CONFIG = """
[limits]
queries = 1
exempt = []
"""


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the test's crashes leave no core files


def sanitized(text):
    return "Sanitizer" in text


with open(args.whoisd, "rb") as f:
    binary = f.read()
ASAN_BUILD = b"__asan_init" in binary
if b"__tsan_init" in binary:
    print("SKIP: the fatal signal handler is not installed under ThreadSanitizer")
    sys.exit(77)
del binary


def kill_and_read(signum, octet, what):
    """A daemon with CROSSINGS suspension lines queued behind a stuck write is sent
    `signum`; the pipe is read from then on. Returns (exit status, the fatal_signal line)."""
    d = Daemon(args, name="fatal-%d" % signum, config=CONFIG, preexec=no_core)
    pipe = d.start_on_pipe(PIPE_BYTES)
    d.cross_limits(octet, CROSSINGS)
    received = []
    d.proc.send_signal(signum)
    reader = threading.Thread(target=lambda: received.append(read_all_fd(pipe)), daemon=True)
    reader.start()
    rc = d.proc.wait(DEADLINE)
    reader.join(DEADLINE)
    os.close(pipe)
    text = received[0].decode("utf-8", "replace")
    suspended = re.findall(r"event=suspension source=10\.%d\.(\d+)\.(\d+) " % octet, text)
    check([(int(a), int(b)) for a, b in suspended] == [(i // 250, i % 250 + 1) for i in range(CROSSINGS)],
          "%s: %d suspension lines of %d, in order (the queued ones lost?):\n%s" %
          (what, len(suspended), CROSSINGS, text[-2000:]))
    fatal = re.findall(r"^ts=\S+ level=error event=fatal_signal .*$", text, re.M)
    check(len(fatal) == 1, "%s: no fatal_signal line:\n%s" % (what, text[-2000:]))
    # After every line it wrote for the daemon.
    check(text.find(fatal[0]) > text.rfind("event=suspension "), "%s: fatal_signal before the lines:\n%s" %
          (what, text[-2000:]))
    check(all(line.startswith("ts=") or sanitized(text) for line in text.splitlines() if line),
          "%s: a broken line:\n%s" % (what, text[-2000:]))
    return rc, fatal[0], text


# ---- systemd's watchdog: SIGABRT from another process ----
rc, fatal, text = kill_and_read(signal.SIGABRT, 11, "SIGABRT")
check(re.search(r" signal=SIGABRT code=SI_USER sender_pid=%d sender_uid=%d thread=\S+ tid=\d+ queued_written=\d+$" %
                (os.getpid(), os.getuid()), fatal), "the fatal_signal line: %s" % fatal)
check(rc == -signal.SIGABRT, "exit status %d, not killed by SIGABRT" % rc)
note("ok SIGABRT: the %d queued suspension lines, then: %s" % (CROSSINGS, fatal))

# ---- a crash's signal (sent here: the same handler as a fault's) ----
rc, fatal, text = kill_and_read(signal.SIGSEGV, 12, "SIGSEGV")
check(re.search(r" signal=SIGSEGV code=SI_USER sender_pid=%d " % os.getpid(), fatal), "the fatal_signal line: %s" % fatal)
# Under AddressSanitizer its handler, to which the signal goes on, reports and exits.
check(rc == -signal.SIGSEGV or (ASAN_BUILD and rc != 0), "exit status %d, not killed by SIGSEGV" % rc)
note("ok SIGSEGV: the %d queued suspension lines, then: %s" % (CROSSINGS, fatal))

# ---- standard error never read: the process still dies, within the handler's deadline ----
# (SIGABRT: under AddressSanitizer a SIGSEGV goes on to its handler, which would itself
# wait for ever to write its report on the stuck pipe.)
d = Daemon(args, name="fatal-stuck", config=CONFIG, preexec=no_core)
pipe = d.start_on_pipe(PIPE_BYTES)
d.cross_limits(13, CROSSINGS)
rc, took = d.signal_and_wait(signal.SIGABRT, "(SIGABRT) with its standard error unread")
os.close(pipe)
check(took < 4, "whoisd took %.1f s to die of SIGABRT with its standard error unread (the handler's bound: about 2 s)" % took)
check(rc == -signal.SIGABRT, "exit status %d, not killed by SIGABRT" % rc)
note("ok with standard error never read, died of the signal in %.1f s" % took)
note("PASS")
