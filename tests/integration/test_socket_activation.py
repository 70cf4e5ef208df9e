#!/usr/bin/env python3
"""systemd socket activation without systemd: systemd-socket-activate binds the
port and execs whoisd with LISTEN_FDS=1; whoisd serves on that socket from every
event loop (its own dup() each) and stops cleanly. Skipped (77) when
systemd-socket-activate is not installed."""
import os
import shutil
import socket
import subprocess
import sys

from harness import DEADLINE, _running, build_snapshot, check, note, parse_args, private_dir, read_all, root_args, wait_for_log_line

args = parse_args()
activate = shutil.which("systemd-socket-activate")
if not activate:
    print("SKIP: systemd-socket-activate is not installed")
    sys.exit(77)

work = private_dir("whoisd-it-activation-")
snap = build_snapshot(args.source_dir, os.path.join(work, "pt.sqlite"))
log_path = os.path.join(work, "whoisd.log")

# A free port: bound by systemd-socket-activate right away, before whoisd runs.
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()

with open(log_path, "wb") as log:
    p = subprocess.Popen([activate, "-l", "127.0.0.1:%d" % port, args.whoisd, "--snapshot", snap,
                          "--state-dir", os.path.join(work, "state"), "--metrics", "off", "--loops", "2"] + root_args(),
                         stdout=log, stderr=log)
_running.append(p)


def log_text():
    with open(log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


wait_for_log_line(p, log_text, r"Listening on 127\.0\.0\.1:%d" % port, "systemd-socket-activate listening")
try:
    answers = []
    for _ in range(20):  # the first connection starts whoisd; all are answered
        s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        s.sendall(b"exemplo.pt\r\n")
        answers.append(read_all(s))
        s.close()
    check(all(a.startswith(b"Domain: exemplo.pt\r\n") for a in answers), "answers: %r" % answers[:2])
    # Log lines reach the file through the daemon's log thread, which may be behind the
    # answers on a busy machine: waited for, not read at once.
    wait_for_log_line(p, log_text, r"event=socket_activation sockets=1", "the socket_activation line")
    wait_for_log_line(p, log_text, r'event=start listen="127\.0\.0\.1:%d \(systemd\)" loops=2' % port,
                      "the start line")
    note("ok served on the socket systemd passed, from 2 loops")
finally:
    p.send_signal(15)
    rc = p.wait(DEADLINE)
check(rc == 0, "whoisd exit status %d:\n%s" % (rc, log_text()))
note("PASS")
