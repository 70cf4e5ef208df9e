#!/usr/bin/env python3
"""whoisd --check-config binds each listen address once, as the start would, and says
what it found: a free address passes; an address not on this host fails, naming the
setting, the address and port, and the cause; an address another socket holds, or the
running whoisd itself, passes with a note (the check is run before a reload or a
restart); a privileged port fails when checked by a user who could not bind it (and
passes as root, who binds at start); sockets systemd passes replace [server] listen.
Two addresses that one whoisd cannot both hold (the metrics endpoint on a whois
listener's port and address) fail the check, naming both, though each alone can be
bound, and the start refuses them before it binds anything. --socket-activated checks
as the shipped whoisd.service starts: [server] listen is left to whoisd.socket, and the
metrics endpoint's privileged port fails even when the check runs as root."""
import os
import shutil
import socket
import subprocess
import time

from harness import DEADLINE, Daemon, build_snapshot, check, free_port, note, parse_args, private_dir, root_args

args = parse_args()
work = private_dir("whoisd-it-check-listen-")
snap = build_snapshot(args.source_dir, os.path.join(work, "pt.sqlite"))
IN_USE = "is in use, by a running whoisd or another program"


def run(extra, prefix=()):
    """whoisd --check-config with the test's snapshot and a state dir of its own."""
    cmd = list(prefix) + [args.whoisd, "--check-config", "--snapshot", snap,
                          "--state-dir", os.path.join(work, "state")]
    if not prefix:
        cmd += root_args()
    r = subprocess.run(cmd + list(extra), capture_output=True, timeout=DEADLINE)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def sysctl(name):
    with open("/proc/sys/" + name.replace(".", "/")) as f:
        return int(f.read().split()[0])


# A free address passes, for the listeners and the metrics endpoint alike.
port, metrics_port = free_port(), free_port()
rc, out, err = run(["--listen", "127.0.0.1:%d" % port, "--metrics", "127.0.0.1:%d" % metrics_port])
check(rc == 0 and "listen ok: 127.0.0.1:%d ([server] listen) can be bound" % port in out
      and "listen ok: 127.0.0.1:%d ([metrics] listen) can be bound" % metrics_port in out,
      "free addresses: %d %s %s" % (rc, out, err))
held = socket.socket()  # and left free: the check bound them without listening, and closed them
held.bind(("127.0.0.1", port))
held.close()
note("ok free addresses can be bound")

# An address that is not this host's fails, every one of them named, the free one still reported.
if sysctl("net.ipv4.ip_nonlocal_bind"):
    note("skipped the address not on this host: net.ipv4.ip_nonlocal_bind is set here, any address binds")
else:
    rc, out, err = run(["--listen", "192.0.2.1:4343", "--listen", "127.0.0.1:%d" % port,
                        "--metrics", "192.0.2.1:9143"])
    check(rc == 1, "192.0.2.1 accepted: %d %s %s" % (rc, out, err))
    check("[server] listen '192.0.2.1:4343': the start could not bind it: 192.0.2.1 is not an address of this host "
          "(bind: Cannot assign requested address)" in err, "the listener's message: %r" % err)
    check("[metrics] listen '192.0.2.1:9143': the start could not bind it: 192.0.2.1 is not an address of this host"
          in err, "the metrics endpoint's message: %r" % err)
    check("listen ok: 127.0.0.1:%d" % port in out, "the free address beside them: %r" % out)
    note("ok an address not on this host fails, naming the setting, the address, the port and the cause")

# A port another program holds: a note, not a failure.
others = []
for _ in range(2):
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen(1)
    others.append(other)
other_port, other_metrics_port = (o.getsockname()[1] for o in others)
rc, out, err = run(["--listen", "127.0.0.1:%d" % other_port, "--metrics", "127.0.0.1:%d" % other_metrics_port])
check(rc == 0, "a port held by another socket fails: %d %s %s" % (rc, out, err))
check("listen note: 127.0.0.1:%d ([server] listen) %s" % (other_port, IN_USE) in out
      and "listen note: 127.0.0.1:%d ([metrics] listen) %s" % (other_metrics_port, IN_USE) in out,
      "no note for the held port: %r" % out)
for other in others:
    other.close()
note("ok a port held by another program passes with a note")

# The metrics endpoint on a whois listener's port, on an address that listener takes too:
# each alone can be bound, both cannot (the metrics socket does not share its port).
port = free_port()
rc, out, err = run(["--listen", "0.0.0.0:%d" % port, "--metrics", "127.0.0.1:%d" % port])
check(rc == 1, "a clash passed: %d %s %s" % (rc, out, err))
check("listen ok: 0.0.0.0:%d ([server] listen) can be bound" % port in out
      and "listen ok: 127.0.0.1:%d ([metrics] listen) can be bound" % port in out,
      "each address alone: %r" % out)
check("whoisd: [server] listen '0.0.0.0:%d' and [metrics] listen '127.0.0.1:%d' cannot both be bound by one "
      "whoisd: '0.0.0.0:%d' takes port %d on every IPv4 address of this host, 127.0.0.1 among them, and "
      "[metrics] listen is bound without SO_REUSEPORT" % (port, port, port, port) in err, "the clash: %r" % err)
# Two whois listeners that overlap are both bound (SO_REUSEPORT): a note.
rc, out, err = run(["--listen", "0.0.0.0:%d" % port, "--listen", "127.0.0.1:%d" % port, "--metrics", "off"])
check(rc == 0 and "listen note: [server] listen '0.0.0.0:%d' and [server] listen '127.0.0.1:%d' reach the same "
      "connections" % (port, port) in out and "one of them is enough" in out,
      "overlapping whois listeners: %d %s %s" % (rc, out, err))
# The start refuses the clash before it binds or drops anything; it used to fail later,
# in listen(), with "address already in use" naming neither setting.
r = subprocess.run([args.whoisd, "--snapshot", snap, "--state-dir", os.path.join(work, "clash-state"),
                    "--listen", "127.0.0.1:%d" % port, "--metrics", "127.0.0.1:%d" % port] + root_args(),
                   capture_output=True, timeout=DEADLINE)
log = r.stderr.decode("utf-8", "replace")
check(r.returncode == 1 and "event=start_failed error=\"[server] listen '127.0.0.1:%d' and [metrics] listen "
      "'127.0.0.1:%d' cannot both be bound by one whoisd: both are port %d on 127.0.0.1" % (port, port, port) in log,
      "the start with a clash: %d %s" % (r.returncode, log))
check("privileges_dropped" not in log and not os.path.exists(os.path.join(work, "clash-state")),
      "the start went on before refusing the clash: %s" % log)
note("ok the metrics endpoint on a listener's address fails the check and the start, naming both")

# The running whoisd's own addresses, checked before a reload: notes, and it goes on serving.
d = Daemon(args, name="check-listen").start()
rc, out, err = run(["--listen", "127.0.0.1:%d" % d.port, "--metrics", "127.0.0.1:%d" % d.metrics_port])
check(rc == 0 and out.count(IN_USE) == 2, "the running daemon's addresses: %d %s %s" % (rc, out, err))
check(d.query(b"exemplo.pt\r\n").startswith(b"Domain: exemplo.pt\r\n"), "whoisd stopped answering after the check")
check(d.stop() == 0, "whoisd did not stop cleanly after the check:\n" + d.log_text()[-2000:])
note("ok the running whoisd's addresses pass with notes, and it serves on")

# A privileged port: bound by whoever runs the check, since the start binds before it
# drops its privileges. Root may; nobody, without CAP_NET_BIND_SERVICE, may not.
unprivileged_start = sysctl("net.ipv4.ip_unprivileged_port_start")
low = free_port(low=900, high=1000) if os.geteuid() == 0 else None
if os.geteuid() != 0:
    note("skipped the privileged port: needs root, to run the check as root and as nobody")
elif low is None or low >= unprivileged_start:
    note("skipped the privileged port: net.ipv4.ip_unprivileged_port_start is %d here, or no port from 900 to 1000 "
         "is free" % unprivileged_start)
else:
    rc, out, err = run(["--listen", "127.0.0.1:%d" % low, "--metrics", "off"])
    check(rc == 0 and "listen ok: 127.0.0.1:%d" % low in out, "port %d as root: %d %s %s" % (low, rc, out, err))
    rc, out, err = run(["--listen", "127.0.0.1:%d" % low, "--metrics", "127.0.0.1:%d" % low, "--user", "daemon"],
                       prefix=["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"])
    check(rc == 1, "port %d as nobody accepted: %d %s %s" % (low, rc, out, err))
    check("[server] listen '127.0.0.1:%d': the start could not bind it: port %d is privileged (below "
          "net.ipv4.ip_unprivileged_port_start, %d) and user 'nobody' lacks CAP_NET_BIND_SERVICE (root has it)"
          % (low, low, unprivileged_start) in err and "whoisd.socket" in err, "the listener's message: %r" % err)
    check("[metrics] listen '127.0.0.1:%d'" % low in err and "or choose a port from %d up" % unprivileged_start in err,
          "the metrics endpoint's message: %r" % err)
    note("ok privileged port %d passes as root and fails as nobody, naming the capability" % low)

# --socket-activated: the view of whoisd.service under whoisd.socket. [server] listen is
# not bound (an address not on this host passes), and the metrics endpoint is judged as
# the unprivileged service user meets it: a privileged port fails whoever runs the check.
metrics_port = free_port()
rc, out, err = run(["--socket-activated", "--listen", "192.0.2.1:43", "--metrics", "127.0.0.1:%d" % metrics_port])
check(rc == 0 and "listen ok: 192.0.2.1:43 ([server] listen) is not bound by the service: whoisd.socket binds its "
      "ListenStream= addresses and passes them, used instead" in out
      and "listen ok: 127.0.0.1:%d ([metrics] listen) can be bound" % metrics_port in out,
      "the service's view: %d %s %s" % (rc, out, err))
low = free_port(low=900, high=1000)
if low is None or low >= unprivileged_start:
    note("skipped the service's privileged metrics port: net.ipv4.ip_unprivileged_port_start is %d here, or no "
         "port from 900 to 1000 is free" % unprivileged_start)
else:
    rc, out, err = run(["--socket-activated", "--listen", "192.0.2.1:43", "--metrics", "127.0.0.1:%d" % low])
    check(rc == 1 and "whoisd: [metrics] listen '127.0.0.1:%d': the service could not bind it: port %d is "
          "privileged (below net.ipv4.ip_unprivileged_port_start, %d) and whoisd.service runs as user 'whoisd' "
          "without any capability (CapabilityBoundingSet= is empty): choose a port from %d up"
          % (low, low, unprivileged_start, unprivileged_start) in err, "the service's privileged metrics port: %d %s %s" % (rc, out, err))
    if os.geteuid() == 0:  # the same port, checked as a start by root would bind it
        rc, out, err = run(["--listen", "127.0.0.1:%d" % free_port(), "--metrics", "127.0.0.1:%d" % low])
        check(rc == 0 and "listen ok: 127.0.0.1:%d ([metrics] listen)" % low in out,
              "metrics port %d as root, by hand: %d %s %s" % (low, rc, out, err))
    note("ok --socket-activated leaves [server] listen to systemd and fails metrics port %d for the service" % low)
r = subprocess.run([args.whoisd, "--socket-activated", "--snapshot", snap], capture_output=True, timeout=DEADLINE)
check(r.returncode != 0 and b"--socket-activated requires --check-config" in r.stderr,
      "--socket-activated alone: %d %r" % (r.returncode, r.stderr))

# Sockets systemd passes (LISTEN_FDS) replace [server] listen, at start and in the check.
activate = shutil.which("systemd-socket-activate")
if not activate:
    note("skipped socket activation: systemd-socket-activate is not installed")
else:
    passed_port = free_port()
    p = subprocess.Popen([activate, "-l", "127.0.0.1:%d" % passed_port, args.whoisd, "--check-config",
                          "--snapshot", snap, "--state-dir", os.path.join(work, "state"),
                          "--listen", "192.0.2.1:43", "--metrics", "off"] + root_args(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    connected = None
    for _ in range(int(DEADLINE * 10)):  # it execs whoisd on the first connection
        try:
            connected = socket.create_connection(("127.0.0.1", passed_port), timeout=DEADLINE)
            break
        except ConnectionRefusedError:
            if p.poll() is not None:
                break
            time.sleep(0.1)
    out, err = p.communicate(timeout=DEADLINE)
    if connected:
        connected.close()
    out, err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    check(p.returncode == 0 and "listen ok: 127.0.0.1:%d passed by systemd (LISTEN_FDS), used instead of "
          "[server] listen" % passed_port in out and "listen '192.0.2.1:43'" not in err,
          "check-config under socket activation: %d %s %s" % (p.returncode, out, err))
    note("ok sockets passed by systemd are named, and [server] listen is not bound")
note("PASS")
