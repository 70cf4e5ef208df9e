#!/usr/bin/env python3
"""What clients actually put on the wire for one name, against the real daemon (the query
parser's table, tests/query, checks the same rules without the socket in between):

- every form of açores.pt a client sends (UTF-8 NFC and NFD, upper case, ISO-8859-1 from
  Perl/PHP, punycode in any case, full-width and ideographic dots, a trailing dot, white
  space beyond ASCII around it, a byte-order mark) gets the very answer, byte for byte,
  that xn--aores-yra.pt gets;
- so does the line when it is split inside a UTF-8 character or after an ISO-8859-1 byte,
  and when the client half-closes instead of ending the line;
- the Debian `whois` client finds it typed in upper case, in a UTF-8 locale (it sends
  punycode) and in the C locale (it sends the raw bytes);
- lines that are not a .pt domain get exactly one `Invalid query: <reason>` line (CRLF),
  without a word client libraries read as "not registered", and no lookup."""
import unicodedata

from harness import Daemon, check, note, parse_args

args = parse_args()
d = Daemon(args, name="forms", config="""
[proxy]
trusted = []
""").start()


def ask(data, pieces=None, half_close=False, pause=0.2):
    return d.query_in_pieces(pieces or [data], pause, half_close)


try:
    reference = ask(b"xn--aores-yra.pt\r\n")
    check(reference.startswith("Domain: açores.pt\r\nDomain ACE: xn--aores-yra.pt\r\n".encode()),
          "answer for xn--aores-yra.pt: %r" % reference[:200])
    check(b"\n" not in reference.replace(b"\r\n", b""), "a bare LF in %r" % reference)

    nfc = "açores.pt"
    forms = {
        "UTF-8": nfc.encode(),
        "UTF-8 NFD": unicodedata.normalize("NFD", nfc).encode(),
        "UTF-8 upper": "AÇORES.PT".encode(),
        "UTF-8 upper NFD": unicodedata.normalize("NFD", "AÇORES.PT").encode(),
        "UTF-8 mixed case": "aÇoReS.Pt".encode(),
        "ISO-8859-1": nfc.encode("latin-1"),
        "ISO-8859-1 upper": "AÇORES.PT".encode("latin-1"),
        "punycode upper": b"XN--AORES-YRA.PT",
        "trailing dot": "açores.pt.".encode(),
        "ISO-8859-1 trailing dot": "AÇORES.PT.".encode("latin-1"),
        "full-width dot": "açores\uff0ept".encode(),
        "ideographic dot": "açores\u3002pt".encode(),
        "full-width trailing dot": "açores.pt\uff0e".encode(),
        "full-width letters": "ＡÇＯＲＥＳ.ＰＴ".encode(),
        "no-break spaces": "\u00a0açores.pt\u00a0".encode(),
        "ISO-8859-1 no-break space": "açores.pt\u00a0".encode("latin-1"),
        "tab and spaces": " \tAÇORES.PT \t".encode(),
        "byte-order mark": "\ufeffaçores.pt".encode(),
    }
    for what, line in forms.items():
        for end in (b"\r\n", b"\n"):
            a = ask(line + end)
            check(a == reference, "%s %r: %r" % (what, line + end, a[:200]))
    note("ok %d forms of açores.pt, with CR LF and with LF, get the answer of xn--aores-yra.pt" % len(forms))

    utf8 = nfc.encode()
    split = {
        "inside a UTF-8 character": [utf8[:2], utf8[2:] + b"\r\n"],
        "after an ISO-8859-1 byte": [b"a\xe7", b"ores.pt\r\n"],
        "between CR and LF": [utf8 + b"\r", b"\n"],
        "one byte at a time": [bytes([b]) for b in utf8 + b"\r\n"],
    }
    for what, pieces in split.items():
        a = ask(None, pieces=pieces, pause=0.2 if len(pieces) < 5 else 0.02)
        check(a == reference, "line split %s: %r" % (what, a[:200]))
    for line in (utf8, utf8 + b"\r", nfc.encode("latin-1"), "AÇORES.PT".encode()):
        a = ask(line, half_close=True)
        check(a == reference, "line %r ended by a half-close: %r" % (line, a[:200]))
    note("ok split lines and lines ended by a half-close get the same answer")

    for locale in ("C.UTF-8", "C"):
        out = d.whois("AÇORES.PT", locale=locale)
        check(out.startswith("Domain: açores.pt\n"), "whois AÇORES.PT in %s: %r" % (locale, out[:200]))
    note("ok the whois client, AÇORES.PT in a UTF-8 and in the C locale")

    before = d.metrics()
    invalid = {
        b"example.com": "not a .pt domain",
        b"EXAMPLE.COM.": "not a .pt domain",
        b"192.0.2.1": "IP address, not a domain",
        b"2001:db8::1": "IP address, not a domain",
        b"ABC123-FCCN": "contact handle, not a domain",
        b"user@example.pt": "e-mail address, not a domain",
        b"-T domain example.pt": "flags are not supported",
        b"--help": "flags are not supported",
        b"example.pt example2.pt": "more than one criterion",
        b"": "empty query",
        b"   ": "empty query",
        b"exemplo\x00.pt": "control characters",
        b"\x00": "control characters",
        b"exemplo.pt\x1b[0m": "control characters",
        b"exemplo\x85.pt": "control characters",
        b"exemplo.pt\r": "control characters",  # "\r\r\n": one CR is the line end, the other is not
        b"a" * 1025: "line too long",
        b"pt": "top-level domain, not a domain",
        b"com.pt": "hierarchy name, not a domain",
        "stra\u00dfe.pt".encode(): "character not allowed in .pt names",
        "m\u00fcller.pt".encode("latin-1"): "character not allowed in .pt names",
    }
    for line, reason in invalid.items():
        a = ask(line + b"\r\n")
        check(a == ("Invalid query: %s\r\n" % reason).encode(), "%r: %r (expected the reason %r)" % (line[:60], a, reason))
        lower = a.lower()
        for word in (b"no match", b"not found", b"error", b"restricted"):
            check(word not in lower, "%r: the answer %r holds %r" % (line[:60], a, word))
    after = d.metrics()
    for outcome in ("found", "no_match"):
        key = 'whoisd_queries_total{outcome="%s"}' % outcome
        check(before.get(key, 0) == after.get(key, 0), "a lookup among the invalid queries: %s %r -> %r"
              % (key, before.get(key), after.get(key)))
    note("ok %d lines that are not a .pt domain: one fixed Invalid query line each, no lookup" % len(invalid))
finally:
    d.stop()
note("PASS")
