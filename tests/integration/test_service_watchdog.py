#!/usr/bin/env python3
"""WatchdogSec= of whoisd.service, without systemd: the test sets WATCHDOG_USEC as
systemd does and plays the service manager on NOTIFY_SOCKET (notify_socket.py).

- WATCHDOG=1 arrives, from the daemon's main process, while every event loop runs;
- one event loop stopped (its thread alone, with ptrace: SIGSTOP would stop the whole
  process, the control loop that pings included) stops the pings, and the log names
  the loop; let go, the loop runs again, the log says so and the pings resume."""
import ctypes
import os
import re
import signal
import sys
import time

from harness import Daemon, check, note, parse_args, wait_until
from notify_socket import ServiceManager

args = parse_args()
d = Daemon(args, name="watchdog")
manager = ServiceManager(os.path.join(d.dir, "notify.sock"))
manager.start()
# Two seconds: a check every 500 ms, each loop's heartbeat every 250 ms, a loop named
# after 1 s without one (a margin for a loaded machine under the sanitizers, where the
# running loop must not be named).
os.environ.update(NOTIFY_SOCKET=manager.path, WATCHDOG_USEC="2000000")
try:
    d.start()
finally:
    del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]


def pings():
    return len(manager.all("WATCHDOG"))


wait_until(pings, lambda n: n >= 4, lambda n: "%d WATCHDOG=1 so far:\n%s" % (n, manager.dump()))
check(re.search(r"event=watchdog interval_ms=2000 check_ms=500 loops=2\n", d.log_text()),
      "watchdog start line:\n" + d.log_text()[-3000:])
with manager.lock:
    pids = {pid for pid, f, _ in manager.messages if "WATCHDOG" in f}
check(pids == {d.proc.pid}, "WATCHDOG=1 sent by %r, not the main process %d" % (pids, d.proc.pid))
note("ok WATCHDOG=1 while the loops run (%d so far)" % pings())

# ---- one loop wedged ----
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT, WALL = 17, 0x4206, 0x4207, 0x40000000
task_dir = "/proc/%d/task" % d.proc.pid
loop1 = [int(t) for t in os.listdir(task_dir)
         if open(os.path.join(task_dir, t, "comm")).read().strip() == "whoisd-loop1"]
check(len(loop1) == 1, "threads named whoisd-loop1: %r" % loop1)
tid = loop1[0]
if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
    err = ctypes.get_errno()
    note("SKIP the wedged loop: ptrace(PTRACE_SEIZE) of whoisd-loop1 refused: %s" % os.strerror(err))
    d.stop()
    sys.exit(77)
try:
    check(libc.ptrace(PTRACE_INTERRUPT, tid, None, None) == 0, "PTRACE_INTERRUPT: %s" % os.strerror(ctypes.get_errno()))
    os.waitpid(tid, WALL)  # stopped: its loop runs no callback, its heartbeat stands still
    d.wait_for_log(r"event=watchdog_withheld loop=whoisd-loop1 silent_ms=\d+")
    after_log = pings()
    time.sleep(4.0)  # eight checks, two whole intervals: systemd would have acted
    check(pings() == after_log, "WATCHDOG=1 while whoisd-loop1 was stopped:\n" + manager.dump())
    check("loop=whoisd-loop0" not in d.log_text(), "the running loop named:\n" + d.log_text()[-3000:])
    note("ok whoisd-loop1 stopped: no WATCHDOG=1 for 4 s, and the log names it")
finally:
    check(libc.ptrace(PTRACE_DETACH, tid, None, None) == 0, "PTRACE_DETACH: %s" % os.strerror(ctypes.get_errno()))

d.wait_for_log(r"event=watchdog_resumed loop=whoisd-loop1")
resumed_at = pings()
wait_until(pings, lambda n: n >= resumed_at + 2, lambda n: "WATCHDOG=1 did not resume:\n" + manager.dump())
check(d.stop(signal.SIGTERM) == 0, "exit status:\n" + d.log_text()[-3000:])
manager.close()
note("ok whoisd-loop1 running again: said, and WATCHDOG=1 resumes")
note("PASS")
