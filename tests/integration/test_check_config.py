#!/usr/bin/env python3
"""whoisd --check-config: the documented example (with the paths pointed at a test
snapshot) and a small file pass with a summary; each bad file fails with a non-zero
status and a message naming the key and its line; a snapshot that does not open
fails naming the file; command-line overrides are checked too."""
import os
import re
import socket
import subprocess

import os as _os

from harness import DEADLINE, build_snapshot, check, note, parse_args, private_dir, root_args

args = parse_args()
work = private_dir("whoisd-it-check-")
snap = build_snapshot(args.source_dir, os.path.join(work, "pt.sqlite"))


def has_ipv6_loopback():
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        probe.bind(("::1", 0))
        probe.close()
        return True
    except OSError:
        return False


# The check binds the listen addresses (test_check_config_listen.py tests that). The
# default ones, port 43 on 0.0.0.0 and [::], need root and IPv6: without them, a run
# that sets no listen address of its own listens on 127.0.0.1:0 instead.
DEFAULT_LISTEN_BINDS = _os.geteuid() == 0 and has_ipv6_loopback()
OWN_LISTEN = ["--listen", "127.0.0.1:0"]


def run(text=None, extra=()):
    cmd = [args.whoisd, "--check-config"]
    if text is not None:
        path = os.path.join(work, "test.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        cmd += ["--config", path]
    if not DEFAULT_LISTEN_BINDS and "--listen" not in extra and not re.search(r"(?m)^listen = \[", text or ""):
        extra = OWN_LISTEN + list(extra)
    if "--state-dir" not in extra:  # not the default /var/lib/whoisd, which may exist here for another user
        extra = ["--state-dir", os.path.join(work, "default-state")] + list(extra)
    r = subprocess.run(cmd + root_args() + list(extra), capture_output=True, timeout=DEADLINE)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


# The documented example, as shipped, with only the snapshot path changed.
with open(os.path.join(args.source_dir, "conf/whoisd.conf"), encoding="utf-8") as f:
    example = f.read()
example = re.sub(r'(?m)^path = ".*"$', 'path = "%s"' % snap, example)
if not DEFAULT_LISTEN_BINDS:
    note("the example's [server] listen replaced by 127.0.0.1:0: %s" %
         ("port 43 needs root" if _os.geteuid() != 0 else "no IPv6 here"))
rc, out, err = run(example, [] if DEFAULT_LISTEN_BINDS else OWN_LISTEN)
check(rc == 0, "conf/whoisd.conf fails --check-config: %s %s" % (out, err))
check("configuration ok:" in out and "snapshot ok:" in out and "domains=" in out, "summary: %r" % out)
note("ok conf/whoisd.conf: " + out.splitlines()[0][:100])

good_listen = '"127.0.0.1:4343", "[::1]:4343"' if has_ipv6_loopback() else '"127.0.0.1:4343"'
good = """
[server]
listen = [%s]
read_timeout = "5s"
[snapshot]
path = "%s"
[limits]
queries = 10
exempt = ["192.0.2.0/24", "2001:db8::/32"]
[[limits.network]]
network = "198.51.100.0/24"
queries = 5000
[metrics]
listen = ""
""" % (good_listen, snap)
rc, out, err = run(good)
check(rc == 0 and "listen=" + good_listen.replace('"', "").replace(", ", ",") in out and "metrics=off" in out,
      "good file: %s %s" % (out, err))
note("ok a small good file")

rc, out, err = run(None, ["--snapshot", snap, "--listen", "127.0.0.1:4343"])
check(rc == 0 and "config=(built-in defaults)" in out, "no file, options only: %s %s" % (out, err))
note("ok no file, command-line options only")

# (file text, the line the message must name, words it must contain)
bad = [
    ('[server]\nlisten = ["127.0.0.1:4343"]\nlistne = 1\n', 3, ["server.listne", "unknown key"]),
    ('[server]\nread_timeout = 10\n', 2, ["server.read_timeout", "duration"]),
    ('[server]\nread_timeout = "10 parsecs"\n', 2, ["server.read_timeout", "not a duration"]),
    ('[server]\nlisten = ["127.0.0.1"]\n', 2, ["server.listen", "port"]),
    ('[server]\nlisten = ["::1:43"]\n', 2, ["server.listen", "brackets"]),
    ('[server]\nloops = -1\n', 2, ["server.loops"]),
    ('\n\n[limits]\nqueries = 0\n', 4, ["limits.queries"]),
    ('[limits]\nexempt = ["192.0.2.1/24"]\n', 2, ["limits.exempt"]),
    ('[limits]\nipv6_prefix = 200\n', 2, ["limits.ipv6_prefix"]),
    ('[proxy]\ntrusted = "127.0.0.1"\n', 2, ["proxy.trusted", "array"]),
    ('[answers]\nheader = ["no percent sign"]\n', 2, ["answers.header"]),
    ('[answers]\nfooter = ["% Access is restricted"]\n', 2, ["answers.footer", '"restricted"']),
    ('[answers]\nfooter = ["% 1", "% 2", "% 3", "% 4"]\n', 2, ["answers.footer", "at most 3"]),
    ('[log]\nlevel = "loud"\n', 2, ["log.level", "loud"]),
    ('[metrics]\nlisten = "localhost:9143"\n', 2, ["metrics.listen"]),
    ('[bogus]\nx = 1\n', 1, ["bogus", "unknown key"]),
    ('[server\nlisten = 1\n', 1, ["not valid TOML"]),
    ('[[limits.network]]\nqueries = 5\n', 1, ["limits.network", "network ="]),
]
for text, line, words in bad:
    rc, out, err = run(text)
    check(rc != 0, "accepted a bad file:\n%s" % text)
    check(re.search(r"test\.conf:%d: " % line, err), "message does not name line %d: %r (file:\n%s)" % (line, err, text))
    for w in words:
        check(w in err, "message does not say %r: %r" % (w, err))
note("ok %d bad files refused, each naming its key and line" % len(bad))

rc, out, err = run('[snapshot]\npath = "%s"\n' % os.path.join(work, "missing.sqlite"))
check(rc != 0 and "missing.sqlite" in err, "missing snapshot: %s %s" % (out, err))
rc, out, err = run(None, ["--snapshot", snap, "--listen", "nowhere"])
check(rc != 0 and "--listen" in err, "bad --listen: %s" % err)
rc, out, err = run(None, ["--snapshot", snap, "--log-level", "chatty"])
check(rc != 0 and "--log-level" in err, "bad --log-level: %s" % err)
note("ok missing snapshot and bad command-line values refused")
if _os.geteuid() == 0:
    r = subprocess.run([args.whoisd, "--check-config", "--snapshot", snap, "--user", "no-such-user-here"],
                       capture_output=True, timeout=DEADLINE)
    check(r.returncode != 0 and b"no-such-user-here" in r.stderr, "unknown user as root: %r" % r.stderr)
    r = subprocess.run([args.whoisd, "--check-config", "--snapshot", snap, "--user", "root"],
                       capture_output=True, timeout=DEADLINE)
    check(r.returncode != 0 and b"'root' ([server] user) is root" in r.stderr, "root as [server] user: %r" % r.stderr)
    note("ok an unknown or root [server] user is refused when checked as root, as the start would")
rc, out, err = run(None, ["--config", work, "--snapshot", snap])
check(rc != 0 and "is a directory, not a configuration file" in err, "a directory as --config: %s %s" % (out, err))
note("ok a directory given as the configuration file is refused")

# The state directory, checked as the daemon will use it (as [server] user when run as root).
state = os.path.join(work, "state")
rc, out, err = run(None, ["--snapshot", snap, "--state-dir", state])
check(rc == 0 and "state ok: %s (created" % state in out, "a state dir still to be made: %s %s" % (out, err))
os.mkdir(state, 0o777)
os.chmod(state, 0o777)
rc, out, err = run(None, ["--snapshot", snap, "--state-dir", state])
check(rc == 0 and "state ok: %s (no state yet)" % state in out, "an empty state dir: %s %s" % (out, err))
os.chmod(state, 0o755)  # root's (or this user's, writable by it): not writable by nobody
if _os.geteuid() == 0:
    rc, out, err = run(None, ["--snapshot", snap, "--state-dir", state])
    check(rc != 0 and "is not writable by user 'nobody'" in err and state in err,
          "a state dir the daemon's user cannot write: %s %s" % (out, err))
os.chmod(state, 0o777)
with open(os.path.join(state, "state.sqlite"), "wb") as f:
    f.write(b"not a database, but long enough to be read as one" * 100)
rc, out, err = run(None, ["--snapshot", snap, "--state-dir", state])
check(rc != 0 and "state.sqlite" in err, "a corrupt state database: %s %s" % (out, err))
os.remove(os.path.join(state, "state.sqlite"))
# A state database of an older schema version is upgraded at the start, not refused.
import sqlite3
older = os.path.join(state, "state.sqlite")
with sqlite3.connect(older) as con:  # version 2 without its tables: the upgrade would fail
    con.execute("CREATE TABLE source_state (source TEXT)")
    con.execute("PRAGMA user_version = 2")
os.chmod(older, 0o666)
rc, out, err = run(None, ["--snapshot", snap, "--state-dir", state])
check(rc != 0 and "state schema version 2 without its table" in err, "a broken version-2 database: %s %s" % (out, err))
with sqlite3.connect(older) as con:  # version 2 as it was: every table but source_journal
    for table in ("meta", "query_log", "abuse_events", "admin_actions", "query_counts"):
        con.execute("CREATE TABLE %s (x)" % table)
rc, out, err = run(None, ["--snapshot", snap, "--state-dir", state])
check(rc == 0 and "has state schema version 2, which whoisd upgrades to 5 when it starts" in out,
      "an older state database: %s %s" % (out, err))
os.remove(older)
open(older, "wb").close()  # empty, as a first start cut short leaves it: the start makes the schema
os.chmod(older, 0o666)
rc, out, err = run(None, ["--snapshot", snap, "--state-dir", state])
check(rc == 0 and "is empty; whoisd makes its schema when it starts" in out, "an empty state database: %s %s" % (out, err))
if _os.geteuid() == 0:
    # A database the daemon's user cannot write (made by root), in a directory it can.
    os.chmod(os.path.join(state, "state.sqlite"), 0o644)
    rc, out, err = run(None, ["--snapshot", snap, "--state-dir", state])
    check(rc != 0 and "state.sqlite is not writable by user 'nobody'" in err, "root's state database: %s %s" % (out, err))
    # Run by another user than [server] user (an operator checking the file of a daemon
    # that systemd starts as its own user): what that user may not do is reported, not
    # failed. (The state dir here is root's 0755: nobody cannot write it.)
    os.chmod(state, 0o755)
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", args.whoisd,
                        "--check-config", "--snapshot", snap, "--state-dir", state, "--user", "daemon"] + OWN_LISTEN,
                       capture_output=True, timeout=DEADLINE)
    out = r.stdout.decode("utf-8", "replace")
    check(r.returncode == 0 and "state not checked for the daemon: [state] dir '%s' is not writable by user 'nobody'"
          % state in out and "as root or as user 'daemon'" in out,
          "check-config as another user: %d %s %s" % (r.returncode, out, r.stderr))
    os.chmod(state, 0o777)
    # A symbolic link to nothing: the start could not create the directory.
    dangling = os.path.join(work, "dangling")
    os.symlink(os.path.join(work, "nowhere", "deeper"), dangling)
    rc, out, err = run(None, ["--snapshot", snap, "--state-dir", dangling])
    check(rc != 0 and "is a symbolic link to nothing" in err, "a dangling symlink as state dir: %s %s" % (out, err))
    # A directory still to be made, under a parent the daemon's user cannot pass.
    closed = os.path.join(work, "closed")
    os.mkdir(closed, 0o700)
    rc, out, err = run(None, ["--snapshot", snap, "--state-dir", os.path.join(closed, "state")])
    check(rc != 0 and "cannot reach it in '%s'" % closed in err, "a state dir behind a closed parent: %s %s" % (out, err))
a_file = os.path.join(work, "state-file")
open(a_file, "w").close()
rc, out, err = run(None, ["--snapshot", snap, "--state-dir", a_file])
check(rc != 0 and "is not a directory" in err, "a file as the state dir: %s %s" % (out, err))
note("ok the state dir is checked: missing, empty, unwritable, corrupt or older state, not a directory")

# What the daemon reads after it drops root, checked for [server] user (nobody here) when
# the check runs as root: a root-only snapshot or configuration file passed the check and
# the start, then failed (the snapshot at once, the configuration at the first SIGHUP).
if _os.geteuid() == 0:
    state = os.path.join(work, "state-for-files")
    private = os.path.join(work, "root-only")
    os.mkdir(private, 0o755)
    root_snap = os.path.join(private, "pt.sqlite")
    with open(snap, "rb") as src, open(root_snap, "wb") as dst:
        dst.write(src.read())
    os.chmod(root_snap, 0o600)
    rc, out, err = run(None, ["--snapshot", root_snap, "--state-dir", state])
    check(rc != 0 and "snapshot %s is not readable by user 'nobody' ([server] user)" % root_snap in err,
          "a root-only snapshot: %s %s" % (out, err))
    os.chmod(root_snap, 0o644)
    rc, out, err = run('[snapshot]\npath = "%s"\nwatch = true\n' % root_snap, ["--state-dir", state])
    check(rc == 0, "a readable snapshot, watched: %s %s" % (out, err))
    os.chmod(private, 0o711)  # passable, not readable: the file opens, the watch cannot read the directory
    rc, out, err = run('[snapshot]\npath = "%s"\nwatch = true\n' % root_snap, ["--state-dir", state])
    check(rc != 0 and "the snapshot's directory %s is not readable by user 'nobody'" % private in err,
          "a watched snapshot in a directory nobody cannot read: %s %s" % (out, err))
    os.chmod(private, 0o755)
    conf = os.path.join(work, "root-only.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write('[snapshot]\npath = "%s"\n' % root_snap)
    os.chmod(conf, 0o600)
    rc, out, err = run(None, ["--config", conf, "--state-dir", state])
    check(rc != 0 and "configuration file %s is not readable by user 'nobody'" % conf in err and "SIGHUP" in err,
          "a root-only configuration file: %s %s" % (out, err))
    os.chmod(conf, 0o644)
    rc, out, err = run(None, ["--config", conf, "--state-dir", state])
    check(rc == 0, "the same files, readable: %s %s" % (out, err))
    note("ok a snapshot, its watched directory or a configuration file the daemon's user cannot read fails the check")
note("PASS")
