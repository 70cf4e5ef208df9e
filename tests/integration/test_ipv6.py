#!/usr/bin/env python3
"""IPv6 end to end (SPEC §1 and §4): whoisd listens on 127.0.0.1 and [::1] at once and
answers the same over both, to raw sockets and to the Debian whois client; an IPv6
source is its /64, so addresses of one /64 share one limit and the answer names the
prefix, while the next /64 is a source of its own; an IPv4-mapped IPv6 address is its
IPv4 address, sharing that address's limit. The end clients come from a trusted proxy
on ::1 through PROXY headers (v1 TCP6 and v2), the only way a test on loopback can
speak from many IPv6 addresses; the query log records each end client with ::1 as
its peer. Skipped (77) on a machine without IPv6 loopback."""
import re
import socket
import struct
import subprocess
import sys

from harness import DEADLINE, Daemon, check, note, parse_args, read_all

try:
    probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    probe.bind(("::1", 0))
    probe.close()
except OSError as e:
    print("SKIP: no IPv6 loopback here (%s)" % e)
    sys.exit(77)

args = parse_args()
LIMIT = 3
d = Daemon(args, name="ipv6", config="""
[server]
listen = ["127.0.0.1:0", "[::1]:0"]
[limits]
queries = %d
exempt = []
[proxy]
trusted = ["::1/128"]
""" % LIMIT).start()
m = re.search(r"event=start listen=127\.0\.0\.1:\d+,\[::1\]:(\d+)", d.log_text())
check(m is not None, "whoisd's start line names no [::1] listener:\n" + d.log_text()[-2000:])
port6 = int(m.group(1))
Q = b"exemplo.pt\r\n"


def ask6(data):
    """Connects to [::1] (the trusted proxy's address), sends `data`, returns the answer."""
    s = socket.create_connection(("::1", port6), timeout=DEADLINE)
    try:
        s.sendall(data)
        return read_all(s).decode("utf-8", "replace")
    finally:
        s.close()


def v1(client, line):
    family = "TCP6" if ":" in client else "TCP4"
    return ("PROXY %s %s %s 40000 43\r\n" % (family, client, "::1" if family == "TCP6" else "127.0.0.1")).encode() + line


def v2(client, line):
    addr = socket.inet_pton(socket.AF_INET6, client) + socket.inet_pton(socket.AF_INET6, "::1") + struct.pack("!HH", 40000, 43)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x21]) + struct.pack("!H", len(addr)) + addr + line


try:
    # The same answer over both families; the Debian client over IPv6.
    over4 = d.query(Q).decode("utf-8")
    over6 = ask6(Q)
    check(over4.startswith("Domain: exemplo.pt\r\n") and over6 == over4, "IPv4 and IPv6 answers:\n%s\n%s" % (over4, over6))
    r = subprocess.run(["whois", "-h", "::1", "-p", str(port6), "exemplo.pt"], capture_output=True, timeout=DEADLINE)
    out = r.stdout.decode("utf-8", "replace")
    check(r.returncode == 0 and "Domain: exemplo.pt" in out, "whois -h ::1: status %d\n%s%s" % (r.returncode, out, r.stderr))
    note("ok the same answer over 127.0.0.1 and [::1]; the whois client over IPv6")

    # One /64, four addresses: LIMIT answers, then the limit answer naming the prefix.
    same64 = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:abcd::9"]
    for i, client in enumerate(same64[:LIMIT]):
        a = ask6((v2 if i % 2 else v1)(client, Q))
        check(a.startswith("Domain: exemplo.pt"), "%s, query %d of its /64:\n%s" % (client, i + 1, a))
    a = ask6(v1(same64[LIMIT], Q))
    check(a.startswith("Query limit exceeded: 2001:db8:1:2::/64 made %d queries" % LIMIT),
          "the /64's query over the limit:\n" + a)
    a = ask6(v2(same64[0], Q))
    check(a.startswith("Query limit exceeded: 2001:db8:1:2::/64 is suspended until"), "the /64 suspended:\n" + a)
    a = ask6(v1("2001:db8:1:3::1", Q))
    check(a.startswith("Domain: exemplo.pt"), "the next /64 is a source of its own:\n" + a)
    note("ok an IPv6 source is its /64: one limit for its addresses, none shared with the next /64")

    # An IPv4-mapped IPv6 address is its IPv4 address: one limit for both forms.
    for i in range(LIMIT):
        a = ask6(v1("192.0.2.7", Q) if i == 1 else v2("::ffff:192.0.2.7", Q))
        check(a.startswith("Domain: exemplo.pt"), "192.0.2.7, query %d in either form:\n%s" % (i + 1, a))
    a = ask6(v1("::ffff:192.0.2.7", Q))
    check(a.startswith("Query limit exceeded: 192.0.2.7 made %d queries" % LIMIT), "mapped form over the limit:\n" + a)
    note("ok ::ffff:192.0.2.7 and 192.0.2.7 are one source")

    rows = d.wait_query_log_rows(1 + 2 + 6 + 4)
    by_client = {}
    for client, peer, _, outcome in rows:
        by_client.setdefault(client, []).append((peer, outcome))
    check([o for _, o in by_client.get("2001:db8:1:2::1", [])] == ["found", "suspended"]
          and all(p == "::1" for p, _ in by_client["2001:db8:1:2::1"]),
          "query log rows of 2001:db8:1:2::1: %r" % (by_client.get("2001:db8:1:2::1"),))
    check(len(by_client.get("192.0.2.7", [])) == LIMIT + 1 and "::ffff:192.0.2.7" not in by_client,
          "query log rows of 192.0.2.7 (mapped ones under the IPv4 form): %r" % (rows,))
    check(("::1", None) in [(c, p) for c, p, _, _ in rows], "the direct IPv6 query is logged from ::1: %r" % (rows,))
    note("ok the query log names each IPv6 end client, the mapped ones as IPv4, with ::1 as the peer")
finally:
    rc = d.stop()
check(rc == 0, "whoisd exit status %d" % rc)
note("PASS")
