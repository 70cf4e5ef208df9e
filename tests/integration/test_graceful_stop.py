#!/usr/bin/env python3
"""Graceful stop under load: SIGTERM while clients query without pause and while
some connections are in the middle of sending their line. Those finish and get
their whole answer; no client gets a truncated answer (a connection that
arrives after the listeners closed is refused, which is not an answer); whoisd
exits 0; afterwards the query log holds every answered query and the limiter's
counts are in the state database. Connections the kernel had queued, query sent,
when SIGTERM came are accepted and answered before the listeners close, not reset."""
import os
import re
import signal
import socket
import threading
import time

from harness import DEADLINE, Daemon, check, note, parse_args, read_all, wait_until

args = parse_args()
# Every daemon here: no query limit, no trusted proxy (so 127.0.0.1 is an ordinary source).
UNLIMITED = """
[limits]
queries = 100000000
exempt = []
[proxy]
trusted = []
"""
d = Daemon(args, name="stop", config=UNLIMITED + """
[server]
read_timeout = "30s"
[log]
level = "debug"
""").start()

QUERY = b"exemplo.pt\r\n"
baseline = d.query(QUERY)
check(baseline.startswith(b"Domain: exemplo.pt"), "baseline %r" % baseline[:100])


class Client(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.whole = 0
        self.refused = 0
        self.truncated = []
        self.stop = threading.Event()
        self.hold = threading.Event()   # set: pause between queries
        self.idle = threading.Event()   # set while paused

    def run(self):
        while not self.stop.is_set():
            if self.hold.is_set():
                self.idle.set()
                time.sleep(0.01)
                continue
            self.idle.clear()
            try:
                a = d.query(QUERY, timeout=DEADLINE)
            except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
                self.refused += 1
                if self.refused > 3:
                    time.sleep(0.01)
                continue
            if a == baseline:
                self.whole += 1
            elif a == b"":
                self.refused += 1  # accepted by the kernel, closed before the loop took it
            else:
                self.truncated.append(a[:200])


clients = [Client() for _ in range(4)]
for c in clients:
    c.start()
wait_until(lambda: sum(c.whole for c in clients), lambda n: n >= 200,
           lambda n: "the clients got %d answers, not 200" % n, interval=0.01)

# Connections in flight: connected and accepted, half a line sent. The load pauses
# while they are set up, so that the open-connections gauge counts only them.
for c in clients:
    c.hold.set()
for c in clients:
    check(c.idle.wait(DEADLINE), "a client did not pause")
d.wait_metric_at_most("whoisd_connections_open", 0)
slow = [d.connect() for _ in range(8)]
for s in slow:
    s.sendall(b"exemplo")
d.wait_metric("whoisd_connections_open", 8)  # all 8 accepted by the loops
before = sum(c.whole for c in clients)
for c in clients:
    c.hold.clear()
wait_until(lambda: sum(c.whole for c in clients), lambda n: n >= before + 50,
           lambda n: "the load did not resume: %d answers since, not 50" % (n - before), interval=0.01)
d.send(15)  # SIGTERM, under load
d.wait_for_log(r"event=stopping")
for s in slow:
    s.sendall(b".pt\r\n")
slow_answers = []
for s in slow:
    s.settimeout(DEADLINE)
    slow_answers.append(read_all(s))
    s.close()
try:
    rc = d.proc.wait(DEADLINE)
finally:
    for c in clients:
        c.stop.set()
    for c in clients:
        c.join(DEADLINE)
check(rc == 0, "whoisd exit status %d:\n%s" % (rc, d.log_text()[-3000:]))
check(all(a == baseline for a in slow_answers),
      "connections in flight at SIGTERM got: %r" % [a[:80] for a in slow_answers if a != baseline])
note("ok %d connections in flight at SIGTERM got their whole answer" % len(slow))
truncated = [t for c in clients for t in c.truncated]
check(not truncated, "truncated answers during the stop: %r" % truncated[:3])
whole = sum(c.whole for c in clients)
note("ok %d whole answers under load, none truncated, %d refused after the listeners closed" %
     (whole, sum(c.refused for c in clients)))
check("event=stopped" in d.log_text(), "no 'stopped' log line")

with d.state_db() as con:
    logged = con.execute("SELECT count(*) FROM query_log WHERE query = 'exemplo.pt' AND outcome = 'found'").fetchone()[0]
    sources = con.execute("SELECT source FROM source_state").fetchall()
# Every whole answer a client read was logged (plus the baseline query).
check(logged >= whole + len(slow) + 1, "query log holds %d found rows, clients read %d answers" %
      (logged, whole + len(slow) + 1))
check(("127.0.0.1",) in sources, "the limiter's count for 127.0.0.1 is on disk: %r" % sources)
note("ok query log (%d rows) and limiter state on disk after the stop" % logged)

# At log level debug the writers say what they did: the state rounds that stored
# something, and the query-log writer's activity (every 10 s, and at the stop).
log = d.log_text()
check(re.search(r"level=debug event=state_round sources_written=[1-9]", log), "no debug state_round line:\n" + log[-3000:])
activity = [int(n) for n in re.findall(r"level=debug event=query_log_activity period_ms=\d+ entries_written=(\d+)", log)]
with d.state_db() as con:
    rows = con.execute("SELECT count(*) FROM query_log").fetchone()[0]
check(activity and sum(activity) == rows, "query_log_activity lines count %r, the log holds %d" % (activity, rows))
note("ok at log level debug: state rounds and the query-log writer's activity (%d lines)" % len(activity))

# Connections queued in the kernel at SIGTERM. With whoisd stopped (SIGSTOP), the kernel
# completes each handshake and queues the connection with its query; SIGTERM is then
# pending when it resumes. A loop accepts 64 connections a wake-up, so most of them
# were still queued when the stop closed the listeners, which reset them (128 of 600
# were answered). They are taken from the queue first now and answered in the drain.
q = Daemon(args, name="stopq", config=UNLIMITED + """
[server]
max_connections_per_source = 100000
""").start()
queued_baseline = q.query(QUERY)
QUEUED = 600
os.kill(q.proc.pid, signal.SIGSTOP)
try:
    queued = []
    for _ in range(QUEUED):
        s = socket.create_connection(("127.0.0.1", q.port), timeout=DEADLINE)
        s.sendall(QUERY)
        queued.append(s)
    # One more sends 40 KB after its line, more than the loop reads at once: the drain
    # does not linger, and input left unread turns its close into a reset, which must
    # come after the answer, not instead of it.
    flooding = socket.create_connection(("127.0.0.1", q.port), timeout=DEADLINE)
    flooding.sendall(QUERY + b"x" * 40000)
    q.send(15)  # SIGTERM, pending until it resumes
finally:
    os.kill(q.proc.pid, signal.SIGCONT)
queued_answers = []
for s in queued:
    s.settimeout(DEADLINE)
    try:
        queued_answers.append(read_all(s))
    except ConnectionResetError:
        queued_answers.append(b"(reset)")
    s.close()
flooding.settimeout(DEADLINE)
flooding_answer = read_all(flooding, reset_ends=True)
flooding.close()
rc = q.proc.wait(DEADLINE)
check(rc == 0, "whoisd exit status %d:\n%s" % (rc, q.log_text()[-3000:]))
unanswered = [a[:60] for a in queued_answers if a != queued_baseline]
check(not unanswered, "%d of %d connections queued at SIGTERM got no whole answer: %r" %
      (len(unanswered), QUEUED, unanswered[:3]))
note("ok %d connections queued in the kernel at SIGTERM were accepted and answered" % QUEUED)
check(flooding_answer == queued_baseline, "a client that sent 40 KB after its line got %r in the drain" % flooding_answer[:80])
note("ok a client that sent more than its line got its answer in the drain before the reset")
note("PASS")
