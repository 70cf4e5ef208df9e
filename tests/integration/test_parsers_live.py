#!/usr/bin/env python3
"""Third-party WHOIS parsers against the running daemon (issue 6, compatibility):
Perl's Net::Whois::Parser (Net::Whois::Raw underneath) and the npm package whoiser
query the real whoisd for every fixture domain, a host below one and names that are
not registered, and must read the domain, both dates, the owner and the name
servers, and take the no-match answer for "not found".

The expectations come from render_fixture (tests/render), which writes them beside
the rendered answers; the parsing and checking is done by tests/compat/*.pl|js in
their --live mode. Header and footer lines are configured, as in production.
Skipped (77) when node's whoiser is not installed (scripts/npm-setup.sh)."""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DEADLINE, Daemon, check, note, private_dir  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--whoisd", required=True)
ap.add_argument("--source-dir", required=True)
ap.add_argument("--render-fixture", required=True)
args = ap.parse_args()

compat = os.path.join(args.source_dir, "tests", "compat")
if not os.path.isdir(os.path.join(compat, "node_modules", "whoiser")):
    print("SKIP: tests/compat/node_modules/whoiser is missing (run scripts/npm-setup.sh)")
    sys.exit(77)

work = private_dir("whoisd-it-parsers-")
expect_dir = os.path.join(work, "answers")
r = subprocess.run([args.render_fixture, expect_dir], capture_output=True, text=True, timeout=DEADLINE)
check(r.returncode == 0, "render_fixture failed:\n" + r.stdout + r.stderr)
# A fixture name with a label over 63 octets is rendered fine from the snapshot, but
# the daemon rightly refuses it as a query ("label too long"): not asked for here.
for entry in sorted(os.listdir(expect_dir)):
    if entry.endswith(".expect") and any(len(label) > 63 for label in entry[:-len(".expect")].split(".")):
        os.unlink(os.path.join(expect_dir, entry))
        note("not asked: %s (a label over 63 octets)" % entry[:-len(".expect")])

d = Daemon(args, name="parsers", config="""
[limits]
exempt = ["127.0.0.1/32"]
[answers]
header = ["% Terms of use: https://www.example.pt/whois-terms", "% Dates are UTC."]
footer = ["% Questions: whois@example.pt"]
""").start()
try:
    for command in (["perl", os.path.join(compat, "net_whois_parser.pl")],
                    ["node", os.path.join(compat, "whoiser_parse.js")]):
        r = subprocess.run(command + [expect_dir, "--live", str(d.port)], capture_output=True, text=True,
                           timeout=DEADLINE * 5)
        check(r.returncode == 0, "%s failed:\n%s%s" % (os.path.basename(command[1]), r.stdout, r.stderr))
        note("ok " + r.stdout.strip())
finally:
    d.stop()
note("ok third-party parsers against the daemon")
