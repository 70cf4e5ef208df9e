#!/usr/bin/env python3
"""[limits] max_sources: a flood of distinct sources (here end clients named in PROXY
headers, as a frontend would pass them; IPv6 /64s taken in turn do the same) cannot grow
the limiter beyond its bound.

- With max_sources = 10,000, 12,000 distinct sources are all answered, the limiter
  tracks at most 10,000, and the 2,000 or more it forgot are counted
  (whoisd_limiter_sources_evicted_total) and logged (limiter_full, a warning).
- Sources suspended before the flood stay suspended: a flood cannot end a suspension.
- The state database follows: the forgotten sources' rows are deleted."""
import time

from harness import Daemon, check, note, parse_args, read_all, wait_until

args = parse_args()
BOUND = 10_000
FLOOD = 12_000

d = Daemon(args, name="limiter-full", config="""
[limits]
queries = 2
max_sources = %d
exempt = []
""" % BOUND)
d.start()


def proxied(client, query=b"exemplo.pt"):
    s = d.connect()
    try:
        s.sendall(b"PROXY TCP4 %s 127.0.0.1 40000 43\r\n%s\r\n" % (client.encode(), query))
        return read_all(s)
    finally:
        s.close()


suspended = ["192.0.2.%d" % i for i in range(1, 11)]
for client in suspended:
    proxied(client)
    proxied(client)
    crossing = proxied(client)
    check(crossing.startswith(b"Query limit exceeded: %s made 2 queries" % client.encode()),
          "the crossing of %s: %r" % (client, crossing[:80]))

started = time.monotonic()
for i in range(FLOOD):
    client = "10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255)
    answer = proxied(client)
    check(answer.startswith(b"Domain: exemplo.pt"), "flood source %s got %r" % (client, answer[:80]))
note("%d distinct sources answered in %.1f s" % (FLOOD, time.monotonic() - started))

m = d.metrics()
tracked = m.get("whoisd_limiter_sources", 0)
evicted = m.get("whoisd_limiter_sources_evicted_total", 0)
check(tracked <= BOUND, "the limiter tracks %d sources, beyond max_sources = %d" % (tracked, BOUND))
check(evicted >= FLOOD + len(suspended) - BOUND,
      "whoisd_limiter_sources_evicted_total is %d, expected at least %d" % (evicted, FLOOD + len(suspended) - BOUND))
# Every distinct source is either tracked or was forgotten (one more: 127.0.0.1, the
# harness's "help" at start, as nothing is exempt here).
sources = FLOOD + len(suspended) + 1
check(tracked + evicted == sources, "tracked %d + evicted %d != the %d distinct sources" % (tracked, evicted, sources))
d.wait_for_log(r"level=warn event=limiter_full max_sources=%d evicted=\d+" % BOUND)

for client in suspended:
    answer = proxied(client)
    check(b"suspended" in answer.lower(), "%s, suspended before the flood, got %r" % (client, answer[:120]))
check(m.get("whoisd_suspensions_active", 0) == len(suspended), "suspensions active: %r" % m.get("whoisd_suspensions_active"))


def stored_sources():
    with d.state_db() as con:
        return con.execute("SELECT count(*) FROM source_state").fetchone()[0]


# The journal is folded into source_state every minute; the forgotten rows go with it.
wait_until(stored_sources, lambda n: n <= BOUND,
           lambda n: "source_state holds %d rows, expected at most %d" % (n, BOUND), interval=1)
check(d.stop() == 0, "whoisd did not stop cleanly")
