#!/usr/bin/env python3
"""The readiness protocol of whoisd.service (Type=notify), without systemd: the test
plays the service manager. It binds the AF_UNIX datagram socket that NOTIFY_SOCKET
names, starts the real daemon, and reads what the daemon says there:

- READY=1 once, and only when the daemon answers (its listeners, snapshot and state
  open; asked at the moment READY=1 arrives);
- around each SIGHUP, RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC, taken when the
  signal is handled) and then READY=1 with a STATUS= that says what the reload did: the
  keys a good configuration changed, or why a broken one was refused (the previous one
  still answering); whoisd_config_reloads_total counts each by result;
- STOPPING=1 at SIGTERM, and exit status 0;
- every message sent by the daemon's own process (NotifyAccess=main takes nothing else).

Without a listener on NOTIFY_SOCKET the daemon serves all the same and says so once."""
import os
import re
import signal
import socket
import time

from harness import DEADLINE, Daemon, check, merge_config, note, parse_args, read_all, wait_until
from notify_socket import ServiceManager

args = parse_args()


d = Daemon(args, name="notify", config="""
[answers]
footer = ["% Before the reload"]
""")

# At READY=1, and not later: the daemon must answer now. The port is in its start line,
# which it writes before it says READY=1.
at_ready = {}


def query_at_ready():
    m = re.search(r"event=start listen=127\.0\.0\.1:(\d+)", d.log_text())
    at_ready["start_logged"] = m is not None
    if m:
        with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=DEADLINE) as s:
            s.sendall(b"exemplo.pt\r\n")
            at_ready["answer"] = read_all(s)


manager = ServiceManager(os.path.join(d.dir, "notify.sock"), query_at_ready)
manager.start()
os.environ["NOTIFY_SOCKET"] = manager.path
try:
    d.start()
finally:
    del os.environ["NOTIFY_SOCKET"]  # for this daemon only

try:
    manager.wait_states(["READY"])
    wait_until(lambda: "answer" in at_ready or at_ready.get("start_logged") is False, lambda v: v,
               lambda v: "the query made at READY=1 did not finish: %r" % at_ready)
    check(at_ready.get("start_logged"), "READY=1 came before the daemon logged its start:\n" + d.log_text()[-3000:])
    check(at_ready["answer"].startswith(b"Domain: exemplo.pt\r\n"),
          "the query made at READY=1 got %r" % at_ready["answer"][:200])
    ready = manager.last("READY")
    check(re.match(r"serving \d+ domains from %s \(exported \d{4}-\d\d-\d\dT" % re.escape(d.snapshot),
                   ready.get("STATUS", "")), "STATUS at start: %r" % ready)
    note("ok READY=1 once the daemon answers; STATUS=%s" % ready["STATUS"])

    # A good configuration: two values change, one that needs a restart is kept.
    with open(d.config_path, "w", encoding="utf-8") as f:
        f.write(merge_config(d.config_text, '[limits]\nqueries = 500\n[answers]\nfooter = ["% After the reload"]\n'
                                            '[server]\nloops = 3\n'))
    before = time.monotonic_ns() // 1000
    d.send(signal.SIGHUP)
    manager.wait_states(["READY", "RELOADING", "READY"])
    after = time.monotonic_ns() // 1000
    reloading = manager.last("RELOADING")
    usec = int(reloading.get("MONOTONIC_USEC", "-1"))
    check(before <= usec <= after, "MONOTONIC_USEC=%d is not between %d and %d (CLOCK_MONOTONIC around the "
                                   "SIGHUP): %r" % (usec, before, after, reloading))
    # READY=1 says the reload is over: what it changed answers already.
    a = d.query(b"nao-existe.pt\r\n")
    check(a == b"nao-existe.pt - no match\r\n% After the reload\r\n", "answer right after READY=1: %r" % a)
    status = manager.last("READY").get("STATUS", "")
    check(status.endswith("; config reloaded, changed limits.queries,answers.footer (server.loops wait for a restart)"),
          "STATUS after a good reload: %r" % status)
    # (The log line goes through the log thread: it may come a moment after READY=1.)
    d.wait_for_log(r"event=config_reloaded config=\S+ changed=limits\.queries,answers\.footer\n")
    m = d.metrics()
    check(m.get('whoisd_config_reloads_total{result="applied"}') == 1 and
          m.get('whoisd_config_reloads_total{result="refused"}') == 0,
          "config reload counts after a good reload: %r" % {k: v for k, v in m.items() if "config" in k})
    note("ok SIGHUP: RELOADING=1 MONOTONIC_USEC=%d, then READY=1 STATUS=%s" % (usec, status))

    # A broken configuration: refused, said in STATUS=, counted; the old one answers.
    with open(d.config_path, "w", encoding="utf-8") as f:
        f.write(merge_config(d.config_text, '[limits]\nqueries = "many"\n'))
    d.send(signal.SIGHUP)
    manager.wait_states(["READY", "RELOADING", "READY", "RELOADING", "READY"])
    status = manager.last("READY").get("STATUS", "")
    check(re.search(r"; config reload refused, the previous one still runs: \S+whoisd\.conf:\d+: limits\.queries: "
                    r"must be a whole number", status), "STATUS after a refused reload: %r" % status)
    a = d.query(b"nao-existe.pt\r\n")
    check(a == b"nao-existe.pt - no match\r\n% After the reload\r\n", "answer after the refused reload: %r" % a)
    m = d.metrics()
    check(m.get('whoisd_config_reloads_total{result="applied"}') == 1 and
          m.get('whoisd_config_reloads_total{result="refused"}') == 1,
          "config reload counts after a refused reload: %r" % {k: v for k, v in m.items() if "config" in k})
    note("ok a refused configuration: READY=1 STATUS=%s" % status)

    # The same file again: nothing changed, and the line says nothing of it.
    with open(d.config_path, "w", encoding="utf-8") as f:
        f.write(merge_config(d.config_text, '[limits]\nqueries = 500\n[answers]\nfooter = ["% After the reload"]\n'))
    reloaded_before = len(re.findall(r"event=config_reloaded ", d.log_text()))
    d.send(signal.SIGHUP)
    manager.wait_states(["READY", "RELOADING", "READY", "RELOADING", "READY", "RELOADING", "READY"])
    status = manager.last("READY").get("STATUS", "")
    check(status.endswith("; config reloaded, nothing changed"), "STATUS after an unchanged reload: %r" % status)
    d.wait_for_log(r"event=config_reloaded ", reloaded_before + 1)  # this reload's, not the last one's
    last = re.findall(r"event=config_reloaded .*", d.log_text())[-1]
    check("changed=" not in last, "config_reloaded of an unchanged file: %r" % last)
    note("ok a reload that changes nothing says so")
finally:
    rc = d.stop(signal.SIGTERM)
check(rc == 0, "whoisd exit status %d:\n%s" % (rc, d.log_text()[-3000:]))
manager.wait_states(["READY", "RELOADING", "READY", "RELOADING", "READY", "RELOADING", "READY", "STOPPING"])
check(manager.last("STOPPING").get("STATUS", "").startswith("stopping: draining "),
      "STATUS at STOPPING=1: %r" % manager.last("STOPPING"))
pids = {pid for pid, _, _ in manager.messages}
check(pids == {d.proc.pid}, "messages sent by %r, not the daemon's process %d alone:\n%s"
      % (pids, d.proc.pid, manager.dump()))
manager.stop.set()
manager.join(DEADLINE)
note("ok STOPPING=1 at SIGTERM, exit 0; every message from the main process (%d messages)" % len(manager.messages))

# Nobody listening on NOTIFY_SOCKET: the daemon serves and says it once.
lost = Daemon(args, name="notify-lost")
os.environ["NOTIFY_SOCKET"] = os.path.join(lost.dir, "nobody-listens.sock")
try:
    lost.start()
finally:
    del os.environ["NOTIFY_SOCKET"]
lost.send(signal.SIGHUP)
lost.wait_for_log(r"event=config_reloaded")
check(lost.query(b"exemplo.pt\r\n").startswith(b"Domain: exemplo.pt"), "answer with no one on NOTIFY_SOCKET")
check(lost.stop() == 0, "exit status with no one on NOTIFY_SOCKET")
failures = re.findall(r"event=notify_failed .*", lost.log_text())
check(len(failures) == 1, "notify_failed lines: %r" % failures)
note("ok with no one on NOTIFY_SOCKET it serves, reloads and stops, and says so once: " + failures[0])
note("PASS")
