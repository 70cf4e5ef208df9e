#!/usr/bin/env python3
"""The Debian `whois` client against the real daemon: a found domain, an IDN typed
in UTF-8, a name below a registration, a not-found domain, example.com (invalid,
and no lookup: the query log says invalid and the lookup counters do not move), the
limit answer and the suspension answer (with `queries = 3`), the one-line
refusal when a source holds too many connections, the suspension surviving a
restart and whoisd-admin lifting it in the running daemon; then a daemon started
from command-line options alone, with no configuration file."""
import os
import re
import subprocess
import time

from harness import (DEADLINE, Daemon, _running, build_snapshot, check, note, parse_args, private_dir, read_all,
                     root_args, wait_for_log_line, wait_until)

args = parse_args()
d = Daemon(args, name="whois", config="""
[limits]
queries = 3
exempt = []
[server]
max_connections_per_source = 4
[proxy]
trusted = []
""").start()  # start() itself sends one query ("help"): 2 are left before the limit

try:
    found = d.whois("exemplo.pt")
    check("Domain: exemplo.pt" in found, "found answer for exemplo.pt:\n" + found)
    check("Name Server: ns1.exemplo.pt" in found, "name servers in the answer:\n" + found)
    note("ok found: exemplo.pt")

    idn = d.whois("açores.pt", locale="C.UTF-8")  # GNU whois sends xn--aores-yra.pt
    check("Domain: açores.pt" in idn and "Domain ACE: xn--aores-yra.pt" in idn, "IDN answer:\n" + idn)
    note("ok IDN typed in UTF-8: açores.pt")

    # The third query crosses nothing yet (help + 2); the fourth is the one that would exceed.
    m0 = d.metrics()
    before = (m0.get('whoisd_queries_total{outcome="found"}', 0), m0.get('whoisd_queries_total{outcome="no_match"}', 0))
    limited = d.whois("example.com")
    check(re.search(r"^Query limit exceeded: 127\.0\.0\.1 made 3 queries in 24 hours; suspended until "
                    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(suspension 1\)", limited, re.M),
          "limit answer:\n" + limited)
    note("ok limit answer")
    suspended = d.whois("exemplo.pt")
    check(re.search(r"^Query limit exceeded: 127\.0\.0\.1 is suspended until "
                    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(suspension 1\)", suspended, re.M),
          "suspension answer:\n" + suspended)
    check("Domain:" not in suspended, "a suspended source got data")
    m1 = d.metrics()
    after = (m1.get('whoisd_queries_total{outcome="found"}', 0), m1.get('whoisd_queries_total{outcome="no_match"}', 0))
    check(before == after, "lookups happened while limited/suspended: %s -> %s" % (before, after))
    check(m1.get("whoisd_suspensions_total", 0) >= 1, "whoisd_suspensions_total counts the suspension")
    check(m1.get("whoisd_suspensions_active") == 1, "whoisd_suspensions_active: %r" % m1.get("whoisd_suspensions_active"))
    note("ok suspension answer, no lookup")

    # Connections are limited per source apart from queries (a trusted proxy would be
    # limited per end client, hence trusted = [] here).
    d.wait_metric_at_most("whoisd_connections_open", 0)  # the whois clients' connections are gone
    held = [d.connect() for _ in range(4)]
    d.wait_metric("whoisd_connections_open", 4)  # accepted, not just queued in the backlog
    refused = d.query(b"exemplo.pt\r\n").decode()
    check(refused == "Too many connections from 127.0.0.1\r\n", "per-source refusal: %r" % refused)
    # A client whose line arrives after the refusal was written (a slow link) still
    # reads the refusal whole: the server lingers for it instead of resetting.
    late = d.connect()
    try:
        time.sleep(0.3)
        late.sendall(b"exemplo.pt\r\n")
        late_answer = read_all(late).decode()
    finally:
        late.close()
    check(late_answer == "Too many connections from 127.0.0.1\r\n", "refusal for a late line: %r" % late_answer)
    # A client that sends far more than its line (more than the one recv() that
    # discards it) still reads the refusal: the close's reset comes after it.
    flooding = d.connect()
    try:
        flooding.sendall(b"exemplo.pt\r\n" + b"x" * 100000)
        flood_answer = read_all(flooding, reset_ends=True).decode()
    finally:
        flooding.close()
    check(flood_answer == "Too many connections from 127.0.0.1\r\n", "refusal for a flooding client: %r" % flood_answer)
    for s in held:
        s.close()
    note("ok too many connections from one source")
finally:
    rc = d.stop()
check(rc == 0, "whoisd exit status %d" % rc)

# The suspension survives a restart (state.sqlite), and whoisd-admin lifts it in the
# running daemon.
d.start()
try:
    again = d.whois("exemplo.pt")
    check(again.startswith("Query limit exceeded: 127.0.0.1 is suspended until"), "after a restart:\n" + again)
    check(d.metrics().get("whoisd_suspensions_active") == 1, "whoisd_suspensions_active after a restart")
    note("ok the suspension survives a restart")
    admin = os.path.join(os.path.dirname(args.whoisd), "whoisd-admin")
    if os.path.exists(admin):
        r = subprocess.run([admin, "--state-dir", d.state_dir, "lift", "127.0.0.1", "--reason", "integration test"],
                           capture_output=True, timeout=DEADLINE)
        check(r.returncode == 0, "whoisd-admin lift: %r %r" % (r.stdout, r.stderr))
        wait_until(lambda: d.whois("exemplo.pt"), lambda a: a.startswith("Domain: exemplo.pt"),
                   lambda a: "the lift was not applied by the running daemon", interval=0.2)
        # The gauge follows within a second (the expiry is noticed by the next state round).
        d.wait_metric_at_most("whoisd_suspensions_active", 0)
        m2 = d.metrics()
        check(m2.get("whoisd_admin_actions_total") == 1, "whoisd_admin_actions_total: %r" % m2.get("whoisd_admin_actions_total"))
        check(m2.get('whoisd_state_write_errors_total{writer="state"}') == 0 and
              m2.get('whoisd_state_write_errors_total{writer="query_log"}') == 0, "state write errors: %r" % m2)
        note("ok whoisd-admin lift applied by the running daemon")
finally:
    rc = d.stop()
check(rc == 0, "whoisd exit status after restart %d" % rc)

# A second daemon without a low limit (the first source is suspended now, and its
# state is on disk), started from the command line alone: no configuration file.
work = private_dir("whoisd-it-cli-")
snap = build_snapshot(args.source_dir, os.path.join(work, "pt.sqlite"))
log_path = os.path.join(work, "whoisd.log")
log = open(log_path, "wb")
p = subprocess.Popen([args.whoisd, "--snapshot", snap, "--listen", "127.0.0.1:0", "--state-dir",
                      os.path.join(work, "state"), "--metrics", "off", "--loops", "2"] + root_args(), stdout=log, stderr=log)
_running.append(p)
d2 = Daemon.__new__(Daemon)
d2.log_path, d2.proc, d2.log, d2.state_dir = log_path, p, log, os.path.join(work, "state")
d2.port = int(wait_for_log_line(p, d2.log_text, r"event=start listen=127\.0\.0\.1:(\d+)",
                                 "whoisd --snapshot --listen --state-dir start").group(1))
# The start line names the version that --version prints: a log says which build ran.
version = subprocess.run([args.whoisd, "--version"], capture_output=True, text=True, timeout=DEADLINE).stdout.split()
check(len(version) == 2 and version[0] == "whoisd", "whoisd --version: %r" % version)
check(re.search(r"^.*event=start .* version=%s$" % re.escape(version[1]), d2.log_text(), re.M),
      "no version=%s in the start line:\n%s" % (version[1], d2.log_text()[-2000:]))
note("ok the start line names the version (%s)" % version[1])
try:
    notfound = d2.whois("nao-existe-de-todo.pt")
    check(notfound.startswith("nao-existe-de-todo.pt - no match"), "no-match answer:\n" + notfound)
    note("ok not found")
    below = d2.whois("www.exemplo.pt")
    check(below.startswith("% Answer for the registered domain exemplo.pt") and "Domain: exemplo.pt" in below,
          "answer for a host below a registration:\n" + below)
    note("ok name below a registration")
    invalid = d2.whois("example.com")
    check(invalid.startswith("Invalid query:"), "example.com answer:\n" + invalid)
    rows = d2.wait_query_log_rows(3)
    check(rows[-1][2] == "example.com" and rows[-1][3] == "invalid",
          "query log row for example.com: %r" % (rows[-1],))
    note("ok example.com: invalid query, logged as invalid (no lookup)")

finally:
    p.send_signal(15)
    rc = p.wait(DEADLINE)
    log.close()
check(rc == 0, "whoisd (command line only) exit status %d" % rc)
note("PASS")
