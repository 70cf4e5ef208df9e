#!/usr/bin/env python3
"""One whoisd per address and per state directory. A second daemon on the same listen
address would join the first one's sockets (they use SO_REUSEPORT, one a loop) and take
a share of its connections; a second daemon on the same state directory would count
only its share of every source's queries. Either one refuses to start, saying why,
and the first keeps serving. After the first stops, the state directory is free."""
import os
import re
import socket
import subprocess

from harness import DEADLINE, Daemon, check, note, parse_args, root_args

args = parse_args()
d = Daemon(args, name="single").start()


def second(listen, state_dir):
    r = subprocess.run([d.whoisd, "--config", d.config_path, "--listen", listen, "--state-dir", state_dir,
                        "--metrics", "off"] + root_args(), capture_output=True, timeout=DEADLINE)
    return r.returncode, r.stderr.decode("utf-8", "replace")


try:
    other_state = os.path.join(d.dir, "other-state")
    rc, err = second("127.0.0.1:%d" % d.port, other_state)
    check(rc == 1, "a second daemon on the same address exited %d:\n%s" % (rc, err))
    check("127.0.0.1:%d: the address is in use" % d.port in err, "its message:\n" + err)
    note("ok a second daemon on the same address refuses to start")

    rc, err = second("127.0.0.1:0", d.state_dir)
    check(rc == 1, "a second daemon on the same state directory exited %d:\n%s" % (rc, err))
    check(re.search(r"state directory %s is in use by another whoisd \(process %d\)" % (re.escape(d.state_dir),
                                                                                      d.proc.pid), err),
          "its message:\n" + err)
    note("ok a second daemon on the same state directory refuses to start, naming the first")

    check(d.query(b"exemplo.pt\r\n").startswith(b"Domain: exemplo.pt"), "the first daemon still answers")
finally:
    rc = d.stop()
check(rc == 0, "whoisd exit status %d" % rc)

# The lock went with the process: the same directory starts again.
d.start()
check(d.query(b"exemplo.pt\r\n").startswith(b"Domain: exemplo.pt"), "a restart on the same state directory")
check(d.stop() == 0, "whoisd exit status after the restart")
note("ok the state directory is free once its daemon has stopped")

if os.geteuid() == 0:
    # Started as root, whoisd binds the metrics port with the listeners, before it drops
    # to its user: a port below 1024 works (it was bound after the drop, and failed).
    def free_privileged_port():
        for port in range(900, 1024):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue
        return None

    port = free_privileged_port()
    if port is not None:
        d.extra_args = ["--metrics", "127.0.0.1:%d" % port]
        d.start()
        try:
            check(d.metrics_port == port, "metrics on port %s, asked for %d" % (d.metrics_port, port))
            check("whoisd_queries_total{outcome=\"found\"}" in d.metrics(), "metrics on a port below 1024")
        finally:
            check(d.stop() == 0, "whoisd exit status with metrics on port %d" % port)
        note("ok metrics on port %d, bound before the privileges are dropped" % port)

    # Started as root with a state directory several levels deep still to be made, under
    # root's umask 077: the parents it makes on the way stay passable for its user.
    nested = os.path.join(d.dir, "made", "on", "the", "way", "state")
    d.extra_args = ["--state-dir", nested]
    d.preexec = lambda: os.umask(0o077)
    d.start()
    try:
        check(d.query(b"exemplo.pt\r\n").startswith(b"Domain: exemplo.pt"), "a daemon on a nested new state dir")
    finally:
        check(d.stop() == 0, "whoisd exit status on a nested new state dir")
    check(os.path.exists(os.path.join(nested, "state.sqlite")), "state.sqlite in the nested state dir")
    note("ok a nested state directory made under umask 077 is usable by the daemon's user")
note("PASS")
