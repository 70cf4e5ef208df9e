#!/usr/bin/env python3
"""The start of whoisd.service as systemd sees it, without systemd: the test plays the
service manager on NOTIFY_SOCKET (notify_socket.py).

- A start held up in its long part (here the state database, whose write lock the test
  holds, as a whoisd-admin command or a slow disk would) says EXTEND_TIMEOUT_USEC= while
  it waits, before READY=1, so that a short TimeoutStartSec= does not end it. The test
  lets go of the lock once the first extension has arrived, so it takes seconds, not
  the minutes of a real state upgrade.
- A stop asked for during that wait (SIGTERM, which the start keeps blocked until it
  serves) ends the extensions: systemd applies them to its stop timeout too, so more
  would hold `systemctl stop` up for as long as the start takes.
- A start that fails says STATUS=start failed: and the words it logs, and ERRNO= where an
  errno is behind it, before it exits: a command line or a configuration that does not
  load (no errno), a
  listen address or the metrics address in use (EADDRINUSE), a state directory another whoisd holds
  (EWOULDBLOCK)."""
import errno
import itertools
import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading

from harness import DEADLINE, Daemon, check, note, parse_args, root_args, wait_until
from notify_socket import ServiceManager

args = parse_args()

# ---- EXTEND_TIMEOUT_USEC= while the start waits for the state ----
d = Daemon(args, name="start-long")
d.start()  # makes the state database
check(d.stop() == 0, "the first start's exit status:\n" + d.log_text()[-3000:])

manager = ServiceManager(os.path.join(d.dir, "notify.sock"))
manager.start()
holder = sqlite3.connect(os.path.join(d.state_dir, "state.sqlite"), isolation_level=None, check_same_thread=False)
holder.execute("BEGIN IMMEDIATE")  # the write lock: the start's state load waits for it (5 s at most)


def let_go_after_first_extension():
    # (A start that fails instead fails d.start() below first.)
    wait_until(lambda: manager.all("EXTEND_TIMEOUT_USEC"), lambda m: m,
               lambda m: "no EXTEND_TIMEOUT_USEC= while the start waits:\n" + manager.dump())
    holder.execute("ROLLBACK")


releaser = threading.Thread(target=let_go_after_first_extension, daemon=True)
os.environ["NOTIFY_SOCKET"] = manager.path
try:
    releaser.start()
    d.start()
finally:
    del os.environ["NOTIFY_SOCKET"]
releaser.join(DEADLINE)
holder.close()
manager.wait_states(["READY"])
with manager.lock:
    fields = [f for _, f, _ in manager.messages]
    pids = {pid for pid, _, _ in manager.messages}
ready_at = next(i for i, f in enumerate(fields) if f.get("READY") == "1")
extensions = [i for i, f in enumerate(fields) if "EXTEND_TIMEOUT_USEC" in f]
check(extensions and all(i < ready_at for i in extensions),
      "EXTEND_TIMEOUT_USEC= before READY=1 only:\n" + manager.dump())
check(all(fields[i]["EXTEND_TIMEOUT_USEC"] == "20000000" for i in extensions),
      "EXTEND_TIMEOUT_USEC= of 20 s each:\n" + manager.dump())
check(pids == {d.proc.pid}, "messages sent by %r, not the daemon's process %d (NotifyAccess=main):\n%s"
      % (pids, d.proc.pid, manager.dump()))
check(d.query(b"exemplo.pt\r\n").startswith(b"Domain: exemplo.pt"), "an answer after the held-up start")
check(d.stop() == 0, "exit status after the held-up start:\n" + d.log_text()[-3000:])
manager.close()
note("ok a start held up in its state load says EXTEND_TIMEOUT_USEC=20000000 (%d times) before READY=1"
     % len(extensions))

# ---- SIGTERM during the held-up start: no extension after it ----
stopping = ServiceManager(os.path.join(d.dir, "notify-stop.sock"))
stopping.start()
holder = sqlite3.connect(os.path.join(d.state_dir, "state.sqlite"), isolation_level=None)
holder.execute("BEGIN IMMEDIATE")  # held until the start gives up on it (its 5 s busy timeout)
log_offset = len(d.log_text())
with open(d.log_path, "ab") as log_file:
    proc = subprocess.Popen([d.whoisd, "--config", d.config_path], env=dict(os.environ, NOTIFY_SOCKET=stopping.path),
                            stdout=log_file, stderr=log_file)
try:
    # The first extension (2 s in), then SIGTERM: the next one was due 2 s later, before
    # the state load gives up.
    wait_until(lambda: stopping.all("EXTEND_TIMEOUT_USEC"), lambda m: m,
               lambda m: "no EXTEND_TIMEOUT_USEC= while the start waits:\n" + stopping.dump())
    proc.send_signal(signal.SIGTERM)
    at_stop = len(stopping.all("EXTEND_TIMEOUT_USEC"))
    rc = proc.wait(DEADLINE)
finally:
    if proc.poll() is None:
        proc.kill()
    holder.execute("ROLLBACK")
    holder.close()
stop_log = d.log_text()[log_offset:]
check(len(stopping.all("EXTEND_TIMEOUT_USEC")) == at_stop,
      "EXTEND_TIMEOUT_USEC= after SIGTERM:\n" + stopping.dump() + "\n" + stop_log[-3000:])
check(re.search(r"event=start_timeout_not_extended reason=\"stop requested\"", stop_log),
      "no start_timeout_not_extended line for the stop:\n" + stop_log[-3000:])
stopping.close()
note("ok SIGTERM during the held-up start: no EXTEND_TIMEOUT_USEC= after it, and the log says why (exit %d)" % rc)


# ---- STATUS= and ERRNO= when the start fails ----
failed_starts = itertools.count()  # one manager's socket per failed start, even of one daemon


def failed_start(daemon, expected_exit, what, extra_args=()):
    """Runs `daemon` to its failed start with a manager on NOTIFY_SOCKET; returns the
    fields of the one message it sent and the log. `expected_exit` None: any failure."""
    failing = ServiceManager(os.path.join(daemon.dir, "notify-failed-%d.sock" % next(failed_starts)))
    failing.start()
    env = dict(os.environ, NOTIFY_SOCKET=failing.path)
    r = subprocess.run([daemon.whoisd, "--config", daemon.config_path] + list(extra_args), env=env,
                       capture_output=True, timeout=DEADLINE)
    log = (r.stdout + r.stderr).decode("utf-8", "replace")
    check(r.returncode != 0 if expected_exit is None else r.returncode == expected_exit,
          "%s: exit status %d, expected %s:\n%s" % (what, r.returncode, expected_exit or "a failure", log[-3000:]))
    # The daemon waited (sd_notify_barrier) until the socket had it: the thread reads it at once.
    statuses = wait_until(lambda: failing.all("STATUS"), lambda m: m,
                          lambda m: "%s: no STATUS= before the exit:\n%s" % (what, failing.dump()))
    failing.close()
    check(len(statuses) == 1, "%s: one STATUS=, not %r" % (what, statuses))
    return statuses[0], log


bad = Daemon(args, name="start-bad-config", config='[limits]\nqueries = "many"\n')
status, log = failed_start(bad, 2, "a configuration that does not load")
check(re.fullmatch(r"start failed: \S+whoisd\.conf:\d+: limits\.queries: must be a whole number.*", status["STATUS"]),
      "STATUS= for a bad configuration: %r" % status)
check(status["STATUS"][len("start failed: "):] in log, "STATUS= is not the words logged:\n%r\n%s" % (status, log))
check("ERRNO" not in status, "ERRNO= for a bad configuration: %r" % status)
note("ok a configuration that does not load: STATUS=%s" % status["STATUS"])

# A command line the parser refuses (an unknown option, a value of the wrong kind, as a
# drop-in's ExecStart= may carry): the same, in the parser's words.
for argv, words in ((["--no-such-option"], "--no-such-option"), (["--loops", "many"], "--loops = many")):
    status, log = failed_start(bad, None, "command line %r" % argv, argv)
    check(status["STATUS"].startswith("start failed: command line: ") and words in status["STATUS"],
          "STATUS= for the command line %r: %r" % (argv, status))
    check(status["STATUS"][len("start failed: command line: "):] in log,
          "STATUS= is not the words printed:\n%r\n%s" % (status, log))
    check("ERRNO" not in status, "ERRNO= for a command line: %r" % status)
    note("ok a command line that does not parse: STATUS=%s" % status["STATUS"])

taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
taken.bind(("127.0.0.1", 0))
taken.listen(1)
port = taken.getsockname()[1]
busy = Daemon(args, name="start-port-in-use", config='[server]\nlisten = ["127.0.0.1:%d"]\nloops = 2\n%s'
              % (port, 'user = "nobody"\n' if root_args() else ""))
status, log = failed_start(busy, 1, "a listen address in use")
taken.close()
check(status["STATUS"] == "start failed: cannot listen on 127.0.0.1:%d: the address is in use (another whoisd, or "
      "another server, listens there)" % port, "STATUS= for an address in use: %r" % status)
check(re.search(r"event=start_failed error=.*cannot listen on 127\.0\.0\.1:%d: the address is in use" % port, log),
      "start_failed line:\n" + log[-3000:])
check(status.get("ERRNO") == str(errno.EADDRINUSE), "ERRNO= for an address in use: %r" % status)
note("ok a listen address in use: STATUS=%s ERRNO=%s" % (status["STATUS"], status["ERRNO"]))

taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
taken.bind(("127.0.0.1", 0))
taken.listen(1)
port = taken.getsockname()[1]
busy_metrics = Daemon(args, name="start-metrics-in-use", config='[metrics]\nlisten = "127.0.0.1:%d"\n' % port)
status, log = failed_start(busy_metrics, 1, "a metrics address in use")
taken.close()
check(status["STATUS"].startswith("start failed: [metrics] listen '127.0.0.1:%d': cannot bind it:" % port),
      "STATUS= for a metrics address in use: %r" % status)
check(status.get("ERRNO") == str(errno.EADDRINUSE), "ERRNO= for a metrics address in use: %r" % status)
note("ok a metrics address in use: ERRNO=%s" % status["ERRNO"])

running = Daemon(args, name="start-state-held")
running.start()
try:
    second = Daemon(args, name="start-state-held-2", config='[state]\ndir = "%s"\n' % running.state_dir)
    status, log = failed_start(second, 1, "a state directory another whoisd holds")
finally:
    check(running.stop(signal.SIGTERM) == 0, "exit status of the whoisd holding the state")
check(status["STATUS"].startswith("start failed: state directory %s is in use by another whoisd (process %d)"
                                  % (running.state_dir, running.proc.pid)),
      "STATUS= for a state directory in use: %r" % status)
check(status.get("ERRNO") == str(errno.EWOULDBLOCK), "ERRNO= for a state directory in use: %r" % status)
note("ok a state directory another whoisd holds: STATUS=%s ERRNO=%s" % (status["STATUS"], status["ERRNO"]))
note("PASS")
