#!/usr/bin/env python3
"""Real HAProxy (the Debian package) in front of the real whoisd, with send-proxy (v1)
and send-proxy-v2: end clients on different loopback addresses (127.0.0.2, 127.0.0.3)
behind the one proxy are limited separately, and the query log names each end client
with the proxy as its peer; a PROXY header from an untrusted address (HAProxy sending
from 127.0.0.5, or a raw client) is refused; a malformed one from a trusted address is
refused; a trusted address that sends no header is served as itself.

Exits 77 (skipped) only when haproxy is not installed."""
import os
import shutil
import socket
import subprocess
import sys
import time

from harness import DEADLINE, Daemon, _running, check, fail, free_port, note, parse_args, private_dir, read_all

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
if not HAPROXY:
    print("SKIP: haproxy is not installed (Debian package haproxy)")
    sys.exit(77)

args = parse_args()
LIMIT = 3
d = Daemon(args, name="haproxy", config="""
[limits]
queries = %d
exempt = []
[proxy]
trusted = ["127.0.0.1/32"]
""" % LIMIT).start()


def ask(port, line, source):
    """Connects to 127.0.0.1:port from the loopback address `source`, sends one line and
    returns the whole answer as text."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(DEADLINE)
    try:
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(line)
        return read_all(s).decode("utf-8", "replace")
    finally:
        s.close()


ports = {name: free_port() for name in ("v1", "v2", "untrusted", "ready")}
work = private_dir("whoisd-it-haproxy-")
config_path = os.path.join(work, "haproxy.cfg")
with open(config_path, "w") as f:
    f.write("""global
    maxconn 200
defaults
    mode tcp
    timeout connect 10s
    timeout client 60s
    timeout server 60s
frontend via_v1
    bind 127.0.0.1:{v1}
    default_backend whoisd_v1
backend whoisd_v1
    server whoisd 127.0.0.1:{whoisd} send-proxy
frontend via_v2
    bind 127.0.0.1:{v2}
    default_backend whoisd_v2
backend whoisd_v2
    server whoisd 127.0.0.1:{whoisd} send-proxy-v2
# The same proxy, but connecting from an address whoisd does not trust.
frontend via_untrusted
    bind 127.0.0.1:{untrusted}
    default_backend whoisd_untrusted
backend whoisd_untrusted
    server whoisd 127.0.0.1:{whoisd} send-proxy-v2 source 127.0.0.5
# Only to see that HAProxy listens (it binds every frontend before it serves any): probing
# the others would open backend connections that whoisd counts.
frontend ready
    bind 127.0.0.1:{ready}
    tcp-request connection reject
""".format(whoisd=d.port, **ports))
check(subprocess.run([HAPROXY, "-c", "-q", "-f", config_path]).returncode == 0, "haproxy -c refuses its configuration")
haproxy_log = open(os.path.join(work, "haproxy.log"), "wb")
haproxy = subprocess.Popen([HAPROXY, "-db", "-f", config_path], stdout=haproxy_log, stderr=haproxy_log)
_running.append(haproxy)

try:
    # Wait until HAProxy accepts.
    end = time.monotonic() + DEADLINE
    while True:
        try:
            socket.create_connection(("127.0.0.1", ports["ready"]), timeout=5).close()
            break
        except OSError:
            if haproxy.poll() is not None or time.monotonic() > end:
                fail("haproxy did not start:\n" + open(haproxy_log.name, errors="replace").read())
            time.sleep(0.05)
    m0 = d.metrics()

    # 127.0.0.2 through send-proxy (v1): LIMIT answers, then the limit answer naming it.
    for i in range(LIMIT):
        a = ask(ports["v1"], b"exemplo.pt\r\n", "127.0.0.2")
        check("Domain: exemplo.pt" in a, "v1, 127.0.0.2, query %d:\n%s" % (i + 1, a))
    a = ask(ports["v1"], b"exemplo.pt\r\n", "127.0.0.2")
    check("Query limit exceeded: 127.0.0.2 made %d queries" % LIMIT in a, "v1, 127.0.0.2 over the limit:\n" + a)
    note("ok send-proxy: 127.0.0.2 limited after %d queries" % LIMIT)

    # 127.0.0.3 behind the same proxy is a source of its own, through v2 and v1 alike.
    for i in range(LIMIT):
        a = ask(ports["v2" if i % 2 == 0 else "v1"], b"exemplo.pt\r\n", "127.0.0.3")
        check("Domain: exemplo.pt" in a, "127.0.0.3, query %d (after 127.0.0.2 was limited):\n%s" % (i + 1, a))
    a = ask(ports["v2"], b"exemplo.pt\r\n", "127.0.0.3")
    check("Query limit exceeded: 127.0.0.3 made %d queries" % LIMIT in a, "v2, 127.0.0.3 over the limit:\n" + a)
    # And 127.0.0.2 stays suspended whichever protocol version carries it.
    a = ask(ports["v2"], b"exemplo.pt\r\n", "127.0.0.2")
    check("Query limit exceeded: 127.0.0.2 is suspended until" in a, "v2, 127.0.0.2 suspended:\n" + a)
    note("ok send-proxy-v2: 127.0.0.3 limited separately; 127.0.0.2 still suspended")

    # The proxy itself, connecting directly without a header, is its own source (and not limited
    # by what its clients did).
    a = ask(d.port, b"exemplo.pt\r\n", "127.0.0.1")
    check("Domain: exemplo.pt" in a, "trusted proxy address without a header:\n" + a)
    note("ok trusted address without a header served as itself")

    # HAProxy sending from 127.0.0.5, which is not trusted: refused, nothing looked up.
    a = ask(ports["untrusted"], b"exemplo.pt\r\n", "127.0.0.4")
    check("PROXY header from an address that may not send one" in a and "Domain:" not in a,
          "PROXY v2 header from an untrusted address:\n" + a)
    # A raw v1 header from an untrusted client.
    a = ask(d.port, b"PROXY TCP4 192.0.2.1 127.0.0.1 5000 43\r\nexemplo.pt\r\n", "127.0.0.6")
    check("PROXY header from an address that may not send one" in a and "Domain:" not in a,
          "PROXY v1 header from an untrusted address:\n" + a)
    # A malformed header from the trusted address.
    a = ask(d.port, b"PROXY TCP4 192.0.2.300 127.0.0.1 5000 43\r\nexemplo.pt\r\n", "127.0.0.1")
    check("malformed PROXY header" in a and "Domain:" not in a, "malformed PROXY header from a trusted address:\n" + a)
    note("ok untrusted and malformed PROXY headers refused")

    m1 = d.metrics()
    untrusted = 'whoisd_proxy_headers_refused_total{reason="untrusted"}'
    invalid = 'whoisd_proxy_headers_refused_total{reason="invalid"}'
    check(m1.get(untrusted, 0) - m0.get(untrusted, 0) == 2, "untrusted refusals counted: %s" % m1.get(untrusted))
    check(m1.get(invalid, 0) - m0.get(invalid, 0) == 1, "invalid refusals counted: %s" % m1.get(invalid))
    found = 'whoisd_queries_total{outcome="found"}'
    check(m1.get(found, 0) - m0.get(found, 0) == 2 * LIMIT + 1, "found answers counted: %s" % m1.get(found))

    # The query log keeps the end client and the proxy as its peer. Every connection above is a
    # row: the harness's start-up "help", the 2 * (LIMIT + 1) + 1 proxied queries, the proxy's
    # own query and the three refused headers. The log is written in batches, so wait for all
    # of them: waiting for fewer let the check below race the writer.
    rows = d.wait_query_log_rows(1 + 2 * (LIMIT + 1) + 1 + 1 + 3)
    proxied = [r for r in rows if r[0] in ("127.0.0.2", "127.0.0.3")]
    check(len(proxied) == 2 * (LIMIT + 1) + 1, "query log rows of the end clients: %r" % (rows,))
    check(all(r[1] == "127.0.0.1" for r in proxied), "proxy peer of proxied queries: %r" % (proxied,))
    check(any(r[0] == "127.0.0.1" and r[1] is None and r[3] == "found" for r in rows),
          "the proxy's own query is logged as direct: %r" % (rows,))
    # The untrusted addresses' headers are invalid queries of theirs (the limiter counts
    # them); the trusted address's malformed one is its own outcome (refused before it).
    refused = [r for r in rows if r[3] in ("invalid", "malformed_proxy_header")]
    check(sorted((r[0], r[3]) for r in refused) == [("127.0.0.1", "malformed_proxy_header"),
                                                   ("127.0.0.5", "invalid"), ("127.0.0.6", "invalid")]
          and all(r[1] is None for r in refused),
          "refused PROXY headers logged as queries of the connecting peer: %r" % (rows,))
    note("ok query log: end clients with the proxy as peer")
finally:
    if haproxy.poll() is None:
        haproxy.terminate()
        try:
            haproxy.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            haproxy.kill()
    haproxy_log.close()
    rc = d.stop()
check(rc == 0, "whoisd exit status %d" % rc)
note("PASS")
