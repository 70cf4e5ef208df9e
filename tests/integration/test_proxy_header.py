#!/usr/bin/env python3
"""PROXY protocol headers sent by hand (the HAProxy test drives a real proxy): from
a trusted peer, v1 and v2 headers name the end client, and the limit applies to
each end client separately and the query log records the proxy as the peer; a
trusted peer without a header is its own source; from an untrusted address
(127.0.0.2) a PROXY header is refused with an invalid-query answer and counted, and
it counts against that address's own limit like any query (a suspended address gets
the suspension answer); a trusted peer's malformed header is answered as invalid and
logged as its own outcome, which whoisd-admin top does not count as a query; the total
connection limit refuses with the one-line answer."""
import json
import os
import socket
import struct
import subprocess
import time

from harness import DEADLINE, Daemon, check, note, parse_args, read_all, wait_until

args = parse_args()
d = Daemon(args, name="proxy", config="""
[limits]
queries = 2
exempt = []
[proxy]
trusted = ["127.0.0.1/32"]
[server]
max_connections = 6
""").start()  # the start-up "help" query counts against 127.0.0.1 itself


def v1(client, line):
    return ("PROXY TCP4 %s 127.0.0.1 40000 43\r\n" % client).encode() + line


def v2(client, line):
    addr = socket.inet_aton(client) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", 40000, 43)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(addr)) + addr + line


def ask(data, source="127.0.0.1", cut=None, shut=False):
    """Sends `data` (in two segments, 0.2 s apart, when `cut` says where; then
    half-closes when `shut`) and returns the whole answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(DEADLINE)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.bind((source, 0))
    s.connect(("127.0.0.1", d.port))
    if cut is None:
        s.sendall(data)
    else:
        s.sendall(data[:cut])
        time.sleep(0.2)
        s.sendall(data[cut:])
    if shut:
        s.shutdown(socket.SHUT_WR)
    a = read_all(s).decode("utf-8", "replace")
    s.close()
    return a


try:
    q = b"exemplo.pt\r\n"
    # 192.0.2.1 through v1, 192.0.2.2 through v2: two queries each are answered ...
    for _ in range(2):
        check(ask(v1("192.0.2.1", q)).startswith("Domain: exemplo.pt"), "v1 answer")
        check(ask(v2("192.0.2.2", q)).startswith("Domain: exemplo.pt"), "v2 answer")
    note("ok v1 and v2 headers from a trusted peer")
    # ... and the third of each end client is the one that crosses its own limit.
    a = ask(v1("192.0.2.1", q))
    check(a.startswith("Query limit exceeded: 192.0.2.1 made 2 queries"), "limit for 192.0.2.1: %r" % a)
    a = ask(v2("192.0.2.2", q))
    check(a.startswith("Query limit exceeded: 192.0.2.2 made 2 queries"), "limit for 192.0.2.2: %r" % a)
    a = ask(v1("192.0.2.3", q))
    check(a.startswith("Domain: exemplo.pt"), "a third end client is not limited by the others: %r" % a)
    note("ok end clients behind one proxy are limited separately")
    # The proxy itself, without a header, is its own source (it used 1 query at start).
    check(ask(q).startswith("Domain: exemplo.pt"), "trusted peer without header")
    check(ask(q).startswith("Query limit exceeded: 127.0.0.1 made 2 queries"), "trusted peer's own limit")
    note("ok a trusted peer without a header is its own source")

    # An untrusted peer: 127.0.0.2 (loopback, but not in [proxy] trusted).
    m0 = d.metrics().get('whoisd_proxy_headers_refused_total{reason="untrusted"}', 0)
    for make in (v1, v2):
        a = ask(make("192.0.2.9", q), source="127.0.0.2")
        check(a.startswith("Invalid query: PROXY header"), "untrusted PROXY header: %r" % a)
    m1 = d.metrics().get('whoisd_proxy_headers_refused_total{reason="untrusted"}', 0)
    check(m1 - m0 == 2, "refused PROXY headers counted: %s -> %s" % (m0, m1))
    note("ok PROXY header from an untrusted address refused and counted")
    # Each was a query of 127.0.0.2's own: the next one crosses its limit of 2 ...
    a = ask(q, source="127.0.0.2")
    check(a.startswith("Query limit exceeded: 127.0.0.2 made 2 queries"),
          "the refused headers counted against the untrusted peer: %r" % a)
    # ... a header from it while suspended gets the suspension answer ...
    a = ask(v2("192.0.2.9", q), source="127.0.0.2")
    check(a.startswith("Query limit exceeded: 127.0.0.2 is suspended until"), "PROXY header from a suspended peer: %r" % a)
    # ... and the end client those headers named was charged nothing.
    a = ask(v1("192.0.2.9", q))
    check(a.startswith("Domain: exemplo.pt"), "the client an untrusted header named: %r" % a)
    note("ok an untrusted PROXY header counts against its sender, who is limited and suspended as usual")
    a = ask(b"PROXY TCP4 nonsense\r\n" + q)
    check(a.startswith("Invalid query: malformed PROXY header"), "malformed header: %r" % a)
    note("ok malformed header from a trusted peer refused")

    # A proxy's segment may end anywhere in the 12-byte v2 signature, whose second byte
    # is already a LF: from a trusted peer the header is awaited, not taken for an
    # empty line (each split names another end client, fresh under its limit).
    for i, cut in enumerate((1, 2, 6, 11, 12, 16)):
        a = ask(v2("192.0.2.%d" % (20 + i), q), cut=cut)
        check(a.startswith("Domain: exemplo.pt"), "v2 header split after %d bytes: %r" % (cut, a))
    a = ask(v1("192.0.2.30", q), cut=3)
    check(a.startswith("Domain: exemplo.pt"), "v1 header split after 3 bytes: %r" % a)
    note("ok PROXY headers split inside their signature")
    # Input that ends (half-close, no LF) having only begun like a signature is a line:
    # answered and logged like any other ...
    a = ask(b"P", source="127.0.0.6", shut=True)
    check(a.startswith("Invalid query: "), "'P' then the end of input, untrusted peer: %r" % a)
    a = ask(b"\r", shut=True)  # the trusted proxy without a header is its own, limited, source
    check(a.startswith("Query limit exceeded: 127.0.0.1 is suspended until"), "'\\r' then the end: %r" % a)
    # ... and a header cut short by it is a malformed one.
    a = ask(b"PROXY TCP4 192.0.2.31", shut=True)
    check(a.startswith("Invalid query: malformed PROXY header"), "a v1 header cut by the end of input: %r" % a)
    note("ok input that ends inside a PROXY signature or header is answered")
    # An empty line from a trusted peer (a local `whois` with loopback trusted) begins
    # like the v2 signature: the rest is awaited a second, not the read timeout (10 s),
    # and then it is answered as the line it is.
    started = time.monotonic()
    a = ask(b"\r\n")
    waited = time.monotonic() - started
    check(a.startswith("Query limit exceeded: 127.0.0.1 is suspended until"), "an empty line, trusted peer: %r" % a)
    check(waited < 5, "an empty line from a trusted peer waited %.1f s for its answer" % waited)
    note("ok an empty line from a trusted peer is answered after %.1f s" % waited)

    # The last query so far (the cut v1 header) is in the log: so is every one before it.
    rows = wait_until(d.query_log, lambda r: any(row[2].startswith("PROXY TCP4 192.0.2.31") for row in r),
                      lambda r: "the query log lacks the last queries: %r" % r[-5:], interval=0.1)
    proxied = [r for r in rows if r[0] == "192.0.2.1"]
    check(proxied and all(r[1] == "127.0.0.1" for r in proxied), "query log: client and proxy peer %r" % proxied)
    split = [r for r in rows if r[0] == "192.0.2.21"]
    check(len(split) == 1 and split[0][1] == "127.0.0.1", "query log: a split header's client %r" % split)
    ended = [r for r in rows if r[0] == "127.0.0.6"]
    check(len(ended) == 1, "query log: the line 'P' that ended without LF %r" % ended)
    note("ok the query log names the end client and the proxy")
    # The trusted proxy's malformed headers (refused before the limiter) are logged as
    # their own outcome, and whoisd-admin top lists them apart from the queries the
    # limiter counted.
    malformed = [r for r in rows if r[2].startswith("PROXY TCP4 nonsense") or r[2].startswith("PROXY TCP4 192.0.2.31")]
    check(len(malformed) == 2 and all(r[0] == "127.0.0.1" and r[3] == "malformed_proxy_header" for r in malformed),
          "query log: the malformed PROXY headers %r" % malformed)
    admin = os.path.join(os.path.dirname(args.whoisd), "whoisd-admin")
    r = subprocess.run([admin, "--state-dir", d.state_dir, "--json", "top", "--since", "1h"],
                       capture_output=True, text=True, timeout=DEADLINE)
    check(r.returncode == 0, "whoisd-admin top: %r %r" % (r.stdout, r.stderr))
    proxy = [s for s in json.loads(r.stdout)["sources"] if s["source"] == "127.0.0.1"]
    check(len(proxy) == 1, "whoisd-admin top: no row for the proxy 127.0.0.1: %s" % r.stdout)
    outcomes = proxy[0]["outcomes"]
    counted = sum(n for word, n in outcomes.items() if word in ("found", "no_match", "invalid", "help", "error"))
    check(outcomes.get("malformed_proxy_header") == 2 and proxy[0]["queries"] == counted
          and proxy[0]["not_counted"] == sum(outcomes.values()) - counted,
          "whoisd-admin top counts the malformed PROXY headers apart: %r" % proxy[0])
    note("ok malformed PROXY headers are their own outcome, not counted in top's QUERIES")

    # The total limit: a trusted proxy's idle connections count there (not per source).
    d.wait_metric_at_most("whoisd_connections_open", 0)
    held = [d.connect() for _ in range(6)]
    d.wait_metric("whoisd_connections_open", 6)
    a = ask(b"exemplo.pt\r\n", source="127.0.0.5")
    check(a == "Too many connections from 127.0.0.5\r\n", "total connection limit: %r" % a)
    for h in held:
        h.close()
    d.wait_metric_at_most("whoisd_connections_open", 0)
    check(ask(b"exemplo.pt\r\n", source="127.0.0.5").startswith("Domain: exemplo.pt"), "answers again after")
    note("ok total connection limit")
finally:
    rc = d.stop()
check(rc == 0, "whoisd exit status %d" % rc)
note("PASS")
