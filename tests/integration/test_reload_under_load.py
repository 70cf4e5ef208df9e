#!/usr/bin/env python3
"""Reload under load: clients query without pause while the snapshot is replaced
20 times (write a new file, rename it over the path, SIGHUP). Every answer must be
whole and come wholly from one snapshot: each snapshot version tags every contact
name with its number ("V7 ..."), so an answer that mixed two versions, or was cut
short, differs from the first answer once the tags are removed. A broken file
renamed over the path is refused and the old snapshot keeps serving."""
import os
import re
import threading
import time

from harness import DEADLINE, Daemon, build_snapshot, check, note, parse_args, wait_until

args = parse_args()


def version_sql(n):
    return "UPDATE contacts SET name = 'V%d ' || name;\nUPDATE meta SET value = '%d' WHERE key = 'exported_at';\n" % (
        n, 1767225600 + n)


d = Daemon(args, name="reload", snapshot_sql=version_sql(0), config="""
[proxy]
trusted = []
""").start()

QUERIES = [b"exemplo.pt\r\n", b"xn--aores-yra.pt\r\n", b"nao-existe.pt\r\n"]
TAG = re.compile(rb"V(\d+) ")


def untagged(answer):
    return TAG.sub(b"", answer)


baseline = {q: d.query(q) for q in QUERIES}
for q, a in baseline.items():
    check(a.endswith(b"\r\n") and len(a) > 10, "first answer to %r: %r" % (q, a))
check(b"V0 " in baseline[QUERIES[0]], "the tagged snapshot is served: %r" % baseline[QUERIES[0]][:300])


class Client(threading.Thread):
    def __init__(self, i):
        super().__init__(daemon=True)
        self.i = i
        self.stop = threading.Event()
        self.count = 0
        self.versions = set()
        self.failures = []

    def run(self):
        k = 0
        while not self.stop.is_set():
            q = QUERIES[(k + self.i) % len(QUERIES)]
            k += 1
            try:
                a = d.query(q)
            except OSError as e:
                self.failures.append("%r: %s" % (q, e))
                continue
            tags = set(TAG.findall(a))
            if len(tags) > 1:
                self.failures.append("mixed answer %r: %r" % (tags, a[:400]))
            elif untagged(a) != untagged(baseline[q]):
                self.failures.append("answer to %r differs: %r" % (q, a[:400]))
            self.versions |= tags
            self.count += 1


clients = [Client(i) for i in range(4)]
for c in clients:
    c.start()
try:
    for n in range(1, 21):
        build_snapshot(args.source_dir, d.snapshot, version_sql(n))  # written beside, renamed over
        d.send(1)  # SIGHUP
        d.wait_for_log(r"event=snapshot_reloaded", n)
        # Let the clients see this version before replacing it again: 8 more answers
        # means at least 4 were asked after the reload (each client has one in flight).
        end_count = sum(c.count for c in clients) + 8
        wait_until(lambda: sum(c.count for c in clients), lambda k: k >= end_count,
                   lambda k: "the clients stalled after reload %d: %d answers, not %d" % (n, k, end_count),
                   interval=0.01)
    check(all(c.is_alive() for c in clients), "a client thread died")
    # A broken file: refused, the last good one keeps serving.
    tmp = d.snapshot + ".new"
    with open(tmp, "wb") as f:
        f.write(b"this is not a snapshot\n" * 100)
    os.replace(tmp, d.snapshot)
    d.send(1)
    d.wait_for_log(r"event=snapshot_reload_refused")
    a = d.query(QUERIES[0])
    check(b"V20 " in a and untagged(a) == untagged(baseline[QUERIES[0]]), "after a refused reload: %r" % a[:300])
    note("ok broken snapshot refused, the old one keeps serving")
finally:
    for c in clients:
        c.stop.set()
    for c in clients:
        c.join(DEADLINE)
failures = [f for c in clients for f in c.failures]
total = sum(c.count for c in clients)
versions = set().union(*(c.versions for c in clients))
check(not failures, "%d failed/mixed/truncated answers, e.g. %s" % (len(failures), failures[:3]))
check(len(versions) >= 10, "the clients saw only versions %s" % sorted(versions))
note("ok %d answers during 20 reloads, versions seen: %d, none failed, truncated or mixed" % (total, len(versions)))

# A new file copied over the served one in place (cp, scp) instead of renamed: the daemon
# sees the file it serves written, refuses lookups on it rather than read pages being
# overwritten (SQLite, told the file is immutable, would not notice), and reloads the
# file once it is whole, without a SIGHUP.
import shutil
build_snapshot(args.source_dir, d.snapshot, version_sql(21))  # renamed over: served after the SIGHUP
d.send(1)
d.wait_for_log(r"event=snapshot_reloaded", 21)
check(b"V21 " in d.query(QUERIES[0]), "V21 served")
v22 = os.path.join(d.dir, "v22.sqlite")
build_snapshot(args.source_dir, v22, version_sql(22))
shutil.copyfile(v22, d.snapshot)  # opens the served file with O_TRUNC and writes it again
d.wait_for_log(r"event=snapshot_written_in_place snapshot=%s serving_generation=22" % re.escape(d.snapshot))
d.wait_for_log(r"event=snapshot_reloaded", 22)
a = d.query(QUERIES[0])
check(b"V22 " in a and untagged(a) == untagged(baseline[QUERIES[0]]), "after the copy in place: %r" % a[:300])
check(d.query(QUERIES[2]) == baseline[QUERIES[2]], "no-match answer after the copy in place")
check(d.metrics().get("whoisd_snapshot_written_in_place_total") == 1,
      "written-in-place counter: %s" % d.metrics().get("whoisd_snapshot_written_in_place_total"))
note("ok a snapshot copied in place over the served file: noticed, its lookups refused, reloaded")

# SIGHUP also rereads the configuration: new answer texts apply at once; a setting
# that needs a restart is named; a broken file is refused and the old one stays.
from harness import merge_config
with open(d.config_path, "w", encoding="utf-8") as f:
    f.write(merge_config(d.config_text, '[answers]\nfooter = ["% Reloaded footer"]\n[server]\nloops = 3\n'))
# Every SIGHUP above reread the configuration too: wait for this one's line.
reloaded_before = len(re.findall(r"event=config_reloaded", d.log_text()))
d.send(1)
d.wait_for_log(r"event=config_reloaded", reloaded_before + 1)
d.wait_for_log(r"event=config_needs_restart key=server.loops")
# The line names what the reload changed, not what waits for a restart.
last = re.findall(r"event=config_reloaded .*", d.log_text())[-1]
check(re.search(r" changed=answers\.footer$", last), "config_reloaded line: %r" % last)
# What needs a restart stays as the daemon started (the configuration kept after a
# reload is adopted on the loop thread): rereading the same file says so again, and
# that reload changed nothing.
needs_before = len(re.findall(r"event=config_needs_restart key=server\.loops", d.log_text()))
d.send(1)
d.wait_for_log(r"event=config_needs_restart key=server\.loops", needs_before + 1)
d.wait_for_log(r"event=config_reloaded", reloaded_before + 2)
last = re.findall(r"event=config_reloaded .*", d.log_text())[-1]
check("changed=" not in last, "config_reloaded after rereading the same file: %r" % last)
a = d.query(b"nao-existe.pt\r\n")
check(a == b"nao-existe.pt - no match\r\n% Reloaded footer\r\n", "answer after the configuration reload: %r" % a)
with open(d.config_path, "w", encoding="utf-8") as f:
    f.write("[server]\nloops = \"many\"\n")
d.send(1)
d.wait_for_log(r"event=config_reload_refused .*server\.loops")
a = d.query(b"nao-existe.pt\r\n")
check(a == b"nao-existe.pt - no match\r\n% Reloaded footer\r\n", "answer after a refused configuration: %r" % a)
m = d.metrics()
check(m.get('whoisd_config_reloads_total{result="refused"}') == 1 and
      m.get('whoisd_config_reloads_total{result="applied"}', 0) >= 2,
      "config reload counts: %r" % {k: v for k, v in m.items() if k.startswith("whoisd_config_reloads")})
note("ok configuration reread on SIGHUP; a bad one refused")
# A reload to log level debug: the query-log writer's activity lines then cover only
# what it wrote since its last pass before it (not the thousands of queries before;
# the few answered just before the reload may still be on their way to the log).
with open(d.config_path, "w", encoding="utf-8") as f:
    f.write(merge_config(d.config_text, '[log]\nlevel = "debug"\n'))
reloaded_before = len(re.findall(r"event=config_reloaded", d.log_text()))
d.send(1)
d.wait_for_log(r"event=config_reloaded", reloaded_before + 1)
for _ in range(3):
    check(d.query(b"nao-existe.pt\r\n").startswith(b"nao-existe.pt - no match"), "a query after the reload to debug")
rc = d.stop()
check(rc == 0, "whoisd exit status %d" % rc)
written = [int(n) for n in re.findall(r"event=query_log_activity period_ms=\d+ entries_written=(\d+)", d.log_text())]
check(written and 3 <= sum(written) <= 10,
      "query_log_activity after the reload to debug counts %r, not the 3 new queries (and a few before)" % written)
note("ok after a reload to log level debug, the writer's activity counts from then: %r" % written)

# [snapshot] watch = true: renaming a new file over the path is enough (no SIGHUP).
w = Daemon(args, name="watch", snapshot_sql=version_sql(0), config="""
[snapshot]
watch = true
""").start()
try:
    w.wait_for_log(r"event=snapshot_watch ")
    for n in (1, 2):
        build_snapshot(args.source_dir, w.snapshot, version_sql(n))
        end = time.monotonic() + DEADLINE
        while True:  # no signal to wait on: ask until the new version answers
            a = w.query(QUERIES[0])
            check(untagged(a) == untagged(baseline[QUERIES[0]]), "answer during a watched reload: %r" % a[:300])
            if b"V%d " % n in a:
                break
            check(time.monotonic() < end, "the renamed file was not loaded:\n" + w.log_text()[-2000:])
            time.sleep(0.05)
    note("ok [snapshot] watch reloads a file renamed over the path")
finally:
    rc = w.stop()
check(rc == 0, "whoisd (watch) exit status %d" % rc)
note("PASS")
