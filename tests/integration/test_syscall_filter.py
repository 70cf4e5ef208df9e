#!/usr/bin/env python3
"""The system calls whoisd makes, as the unprivileged user systemd starts it as, are all
allowed by systemd/whoisd.service's SystemCallFilter= (checked with strace against
`systemd-analyze syscall-filter`). A call outside the filter would fail with EPERM
(SystemCallErrorNumber=) only in production, so this is where it shows first.

The daemon runs under strace, as `nobody` when the test runs as root (setpriv), through
start-up, queries of every kind, a metrics scrape, a snapshot reload (SIGHUP) and a
graceful stop (SIGTERM), telling a NOTIFY_SOCKET what it does as it tells systemd
(Type=notify). Exits 77 (skipped) when strace or systemd-analyze is missing."""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading

from harness import DEADLINE, Daemon, build_snapshot, check, note, parse_args, private_dir, wait_until

STRACE = shutil.which("strace")
ANALYZE = shutil.which("systemd-analyze")
SETPRIV = shutil.which("setpriv")
if not STRACE or not ANALYZE or (os.geteuid() == 0 and not SETPRIV):
    print("SKIP: needs strace, systemd-analyze (and setpriv as root); missing: %s" %
          ", ".join(n for n, p in (("strace", STRACE), ("systemd-analyze", ANALYZE), ("setpriv", SETPRIV)) if not p))
    sys.exit(77)

args = parse_args()
unit = os.path.join(args.source_dir, "systemd", "whoisd.service")


def syscall_groups():
    """{'@name': set of calls and @groups} from `systemd-analyze syscall-filter`."""
    text = subprocess.run([ANALYZE, "--no-pager", "syscall-filter"], capture_output=True, text=True, check=True).stdout
    groups, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^(@\S+)", line)
        if m:
            current = m.group(1)
            groups[current] = set()
        elif current and line.strip() and not line.strip().startswith("#"):
            groups[current].add(line.strip())
    return groups


def expand(names, groups):
    out = set()
    for name in names:
        if name.startswith("@"):
            check(name in groups, "unknown system call group %s in %s" % (name, unit))
            out |= expand(groups[name], groups)
        else:
            out.add(name)
    return out


# The unit's filter as systemd combines the assignments, in order: the first is an
# allow-list, a later one adds to it, a later ~deny-list removes from it.
groups = syscall_groups()
permitted = None
with open(unit) as f:
    for line in f:
        m = re.match(r"^SystemCallFilter=(~?)(.*)$", line.strip())
        if not m:
            continue
        names = expand(m.group(2).split(), groups)
        if permitted is None:
            check(not m.group(1), "%s's first SystemCallFilter= is a deny-list, not an allow-list" % unit)
            permitted = names
        elif m.group(1):
            permitted -= names
        else:
            permitted |= names
check(permitted is not None, "%s has no SystemCallFilter= allow-list" % unit)

work = private_dir("whoisd-it-syscalls-")
trace = os.path.join(work, "strace.out")
wrapper = os.path.join(work, "whoisd-traced")
as_service_user = ([SETPRIV, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all"]
                   if os.geteuid() == 0 else [])
with open(wrapper, "w") as f:
    f.write("#!/bin/sh\nexec %s %s -f -qq -o %s %s \"$@\"\n" % (" ".join(as_service_user), STRACE, trace, args.whoisd))
os.chmod(wrapper, 0o755)

# LeakSanitizer cannot work under ptrace (a -DWHOISD_SANITIZE=ON build); the other
# integration tests check leaks.
os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
traced = argparse.Namespace(whoisd=wrapper, source_dir=args.source_dir)
d = Daemon(traced, name="syscalls", config='[limits]\nqueries = 5\nexempt = []\n')
# As under systemd: already unprivileged, nothing to drop to.
d.config_text = re.sub(r'(?m)^user = "nobody"\n', "", d.config_text)
with open(d.config_path, "w") as f:
    f.write(d.config_text)
# As under systemd: a service manager's socket to send sd_notify messages to, read
# (and dropped) as they come, so that a send never waits for room.
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(os.path.join(d.dir, "notify.sock"))
os.chmod(os.path.join(d.dir, "notify.sock"), 0o777)
notified = []


def read_notifications():
    while True:
        notified.append(notify.recv(4096))


threading.Thread(target=read_notifications, daemon=True).start()
os.environ["NOTIFY_SOCKET"] = os.path.join(d.dir, "notify.sock")
d.start()


def traced_pid():
    """whoisd itself: strace's child (signals to strace would end the trace instead)."""
    with open("/proc/%d/task/%d/children" % (d.proc.pid, d.proc.pid)) as f:
        children = f.read().split()
    check(len(children) == 1, "strace has children %r" % children)
    return int(children[0])


whoisd_pid = traced_pid()
rc = None
try:
    for line in (b"exemplo.pt\r\n", b"nada-disto.pt\r\n", b"example.com\r\n", b"\x00\xff\r\n", b"x" * 2000 + b"\r\n",
                 b"exemplo.pt\r\n", b"exemplo.pt\r\n", b"exemplo.pt\r\n"):  # the last ones cross the limit
        check(len(d.query(line)) > 0, "no answer to %r" % line[:40])
    check(d.metrics().get("whoisd_queries_total{outcome=\"found\"}", 0) >= 1, "metrics scrape")
    build_snapshot(args.source_dir, d.snapshot)
    os.kill(whoisd_pid, signal.SIGHUP)
    d.wait_for_log(r"event=snapshot_reloaded")
    check(len(d.query(b"exemplo.pt\r\n")) > 0, "answer after reload")
    os.kill(whoisd_pid, signal.SIGTERM)
    rc = d.proc.wait(DEADLINE)  # strace exits with whoisd's status
finally:
    if rc is None:
        d.stop(signal.SIGKILL)
check(rc == 0, "whoisd exit status %d:\n%s" % (rc, d.log_text()[-3000:]))
wait_until(lambda: any(m.startswith(b"STOPPING=1") for m in notified), lambda v: v,
           lambda v: "no STOPPING=1 on NOTIFY_SOCKET: %r" % notified)

used = set()
with open(trace) as f:
    for line in f:
        m = re.match(r"^\d+\s+(?:<\.\.\. ([a-z0-9_]+) resumed>|([a-z0-9_]+)\()", line)
        if m:
            used.add(m.group(1) or m.group(2))
check(len(used) > 20, "strace recorded only %r" % sorted(used))
outside = sorted(used - permitted)
check(not outside, "whoisd calls %s, which %s's SystemCallFilter= does not allow" % (", ".join(outside), unit))
note("ok %d distinct system calls, all allowed by SystemCallFilter=" % len(used))
note("PASS")
