#!/bin/sh
# whoisd-snapshot as an operator runs it: exit status and messages of generate, check,
# import and schema, on good and bad input. Usage: test_whoisd_snapshot_cli.sh TOOL FIXTURE_SQL
set -u
tool=$1
fixture_sql=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/whoisd-cli-XXXXXX")
trap 'rm -rf "$dir"' EXIT
failures=0

# expect STATUS PATTERN COMMAND...: runs COMMAND, checks its exit status and that its
# output (stdout and stderr) contains PATTERN.
expect() {
  want_status=$1; pattern=$2; shift 2
  out=$("$@" 2>&1); status=$?
  if [ "$status" -ne "$want_status" ]; then
    echo "FAIL: $* exited $status, expected $want_status"; echo "$out" | head -5; failures=$((failures + 1))
  elif ! printf '%s' "$out" | grep -q -- "$pattern"; then
    echo "FAIL: $* printed no '$pattern'"; echo "$out" | head -5; failures=$((failures + 1))
  else
    echo "ok: $*"
  fi
}

expect 0 "1000 domains" "$tool" generate --domains 1000 --seed 3 --exported-at 1790000000 --out "$dir/gen.sqlite"
expect 0 "schema version 2, 1000 domains, .*, sealed" "$tool" check "$dir/gen.sqlite"
expect 0 "$dir/gen.sqlite: valid snapshot" "$tool" check "$dir/gen.sqlite"
expect 0 "valid snapshot (quick check" "$tool" check --quick "$dir/gen.sqlite"
expect 0 "nome.pt" "$tool" check --quick "$dir/gen.sqlite"
expect 0 "all 1000 records match" "$tool" check "$dir/gen.sqlite"
expect 0 "PENDING DELETE" "$tool" check "$dir/gen.sqlite"
expect 0 "36 domains" "$tool" import "$fixture_sql" --out "$dir/fixture.sqlite"
expect 0 'ACTIVE\\r\\nDomain: forged.pt' "$tool" check "$dir/fixture.sqlite"
expect 0 "PRAGMA user_version = 2" "$tool" schema

# build: a registry export (the normalised tables; here a version-1 file, the layout
# before published_domains) becomes a servable snapshot; the export is left untouched.
cp "$dir/gen.sqlite" "$dir/export.sqlite"
sqlite3 "$dir/export.sqlite" "DROP TABLE published_domains; DELETE FROM meta WHERE key = 'domain_count';
  UPDATE meta SET value = '1' WHERE key = 'schema_version'; PRAGMA user_version = 1;"
export_sum=$(cksum < "$dir/export.sqlite")
expect 1 "build $dir/export.sqlite --out" "$tool" check --quick "$dir/export.sqlite"
expect 0 "built from $dir/export.sqlite, 1000 domains" "$tool" build "$dir/export.sqlite" --out "$dir/built.sqlite"
expect 0 "all 1000 records match" "$tool" check "$dir/built.sqlite"
[ "$(cksum < "$dir/export.sqlite")" = "$export_sum" ] || { echo "FAIL: build modified the export"; failures=$((failures + 1)); }
expect 1 "is the export itself" "$tool" build "$dir/export.sqlite" --out "$dir/export.sqlite"
expect 1 "$dir/absent.sqlite: no such file" "$tool" build "$dir/absent.sqlite" --out "$dir/x.sqlite"
# Any edit of a built (sealed) snapshot is refused, with the command that rebuilds it ...
cp "$dir/built.sqlite" "$dir/edited.sqlite"
sqlite3 "$dir/edited.sqlite" "UPDATE domains SET status = 'SUSPENDED' WHERE a_label =
  (SELECT a_label FROM domains WHERE status = 'ACTIVE' ORDER BY a_label LIMIT 1 OFFSET 500);"
expect 1 "changed after whoisd-snapshot built it" "$tool" check --quick "$dir/edited.sqlite"
expect 1 "whoisd-snapshot build $dir/edited.sqlite --out" "$tool" check "$dir/edited.sqlite"
expect 0 "built from $dir/edited.sqlite, 1000 domains" "$tool" build "$dir/edited.sqlite" --out "$dir/rebuilt.sqlite"
expect 0 "all 1000 records match" "$tool" check "$dir/rebuilt.sqlite"
# forge_seal FILE: seals FILE as it is now, as if whoisd-snapshot had built it so, to
# reach the checks behind the seal: the seal is set to the SQLite change counter (header
# bytes 24-27) that its own write transaction leaves.
forge_seal() {
  local counter
  counter=$(od -An -j24 -N4 -tu1 "$1" | awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }')
  sqlite3 "$1" "UPDATE meta SET value = '$((counter + 1))' WHERE key = 'sealed_change_counter';"
}
# ... so is a file without the seal (built before it existed, or by other means) ...
cp "$dir/edited.sqlite" "$dir/unsealed.sqlite"
sqlite3 "$dir/unsealed.sqlite" "DELETE FROM meta WHERE key = 'sealed_change_counter';"
expect 1 "not sealed by whoisd-snapshot" "$tool" check --quick "$dir/unsealed.sqlite"
# ... and behind a seal forged to match (set to the counter its own write will leave),
# check compares every record: the edited one is reported by name and field.
forge_seal "$dir/edited.sqlite"
expect 1 "differs from the normalised tables in status" "$tool" check "$dir/edited.sqlite"
if "$tool" check "$dir/edited.sqlite" 2>&1 | grep -q "valid snapshot"; then
  echo "FAIL: check of a mismatching file said 'valid snapshot'"; failures=$((failures + 1))
fi

# A value whoisd does not publish (a host with an NBSP inside, which parsers split into a
# host and an address) is named by check, domain and column, in a file built before
# build refused it; build refuses it in an export, naming the export.
cp "$dir/built.sqlite" "$dir/nbsp.sqlite"
sqlite3 "$dir/nbsp.sqlite" "UPDATE name_servers SET host = 'ns1.a.pt' || char(160) || 'evil.pt' WHERE position = 1 AND
  domain_id = (SELECT domain_id FROM name_servers ORDER BY domain_id LIMIT 1 OFFSET 300);"
forge_seal "$dir/nbsp.sqlite"
expect 1 "name_servers.host (position 1) is 'ns1.a.pt" "$tool" check "$dir/nbsp.sqlite"
expect 1 "correct the export and build the snapshot again" "$tool" check "$dir/nbsp.sqlite"
expect 1 "published_domains: 1 mismatch with the normalised tables" "$tool" check "$dir/nbsp.sqlite"
expect 1 ": 1 domain holds values whoisd does not publish" "$tool" check "$dir/nbsp.sqlite"
if "$tool" check "$dir/nbsp.sqlite" 2>&1 | grep -q "valid snapshot"; then
  echo "FAIL: check of a file with a refused host said 'valid snapshot'"; failures=$((failures + 1))
fi
expect 1 "cannot build from $dir/nbsp.sqlite: 1 domain refused:" "$tool" build "$dir/nbsp.sqlite" --out "$dir/nbsp-built.sqlite"
expect 1 "^  domain '.*': name_servers.host (position 1) is 'ns1.a.pt" "$tool" build "$dir/nbsp.sqlite" --out "$dir/nbsp-built.sqlite"
# A snapshot built before build refused bad A-labels (here made by hand: 25 domains
# renamed to an 'xn--' label that is no A-label, in domains and in published_domains
# alike, so the records still match): check applies build's rule on domain names, and
# lists them as it lists other mismatches, the first 20 then how many more.
cp "$dir/built.sqlite" "$dir/bad-a-labels.sqlite"
sqlite3 "$dir/bad-a-labels.sqlite" "CREATE TEMP TABLE renamed AS SELECT a_label AS old, 'xn--mabc' || id || '.pt' AS new
  FROM domains WHERE hierarchy = 'pt' AND a_label = u_label ORDER BY a_label LIMIT 25 OFFSET 100;
  UPDATE domains SET a_label = (SELECT new FROM renamed WHERE old = a_label) WHERE a_label IN (SELECT old FROM renamed);
  UPDATE published_domains SET a_label = (SELECT new FROM renamed WHERE old = a_label)
    WHERE a_label IN (SELECT old FROM renamed);"
forge_seal "$dir/bad-a-labels.sqlite"
expect 1 "^  domain 'xn--mabc[0-9]*.pt': domains.a_label is 'xn--mabc[0-9]*.pt': a query for it is refused (malformed IDN (punycode))$" \
  "$tool" check "$dir/bad-a-labels.sqlite"
expect 1 "^  \.\.\. and 5 more$" "$tool" check "$dir/bad-a-labels.sqlite"
expect 1 "25 domains hold values whoisd does not publish" "$tool" check "$dir/bad-a-labels.sqlite"
if "$tool" check "$dir/bad-a-labels.sqlite" 2>&1 | grep -q "valid snapshot"; then
  echo "FAIL: check of a file with bad A-labels said 'valid snapshot'"; failures=$((failures + 1))
fi
# Every domain refused is counted, the first 20 named one a line, then how many more:
# an export is corrected in one pass. Nothing is written.
cp "$dir/export.sqlite" "$dir/bad-dates.sqlite"
sqlite3 "$dir/bad-dates.sqlite" "UPDATE domains SET created = 'yesterday' WHERE id % 10 = 0;"
expect 1 "cannot build from $dir/bad-dates.sqlite: 100 domains refused:" "$tool" build "$dir/bad-dates.sqlite" --out "$dir/bad-dates-built.sqlite"
expect 1 "^  \.\.\. and 80 more$" "$tool" build "$dir/bad-dates.sqlite" --out "$dir/bad-dates-built.sqlite"
listed=$("$tool" build "$dir/bad-dates.sqlite" --out "$dir/bad-dates-built.sqlite" 2>&1 | grep -c "^  domain '.*': domains.created is TEXT 'yesterday'")
[ "$listed" -eq 20 ] || { echo "FAIL: build listed $listed refused domains, expected 20"; failures=$((failures + 1)); }
[ ! -e "$dir/bad-dates-built.sqlite" ] || { echo "FAIL: a refused build left $dir/bad-dates-built.sqlite"; failures=$((failures + 1)); }

printf 'not a database\n' > "$dir/text.sqlite"
expect 1 "$dir/text.sqlite: not a SQLite database" "$tool" check "$dir/text.sqlite"
: > "$dir/empty.sqlite"
expect 1 "$dir/empty.sqlite: empty file" "$tool" check "$dir/empty.sqlite"
expect 1 "$dir/absent.sqlite: no such file" "$tool" check "$dir/absent.sqlite"
head -c 8192 "$dir/gen.sqlite" > "$dir/cut.sqlite"
expect 1 "$dir/cut.sqlite: truncated" "$tool" check "$dir/cut.sqlite"

printf "INSERT INTO domains VALUES (1);\n" > "$dir/bad.sql"
expect 1 "$dir/bad.sql:1:" "$tool" import "$dir/bad.sql" --out "$dir/bad.sqlite"
[ ! -e "$dir/bad.sqlite" ] || { echo "FAIL: a failed import left $dir/bad.sqlite"; failures=$((failures + 1)); }
expect 1 "$dir/missing.sql" "$tool" import "$dir/missing.sql" --out "$dir/x.sqlite"
# meta the SQL must provide: its lack is said of the SQL file, before anything is derived.
{ cat "$fixture_sql"; echo "DELETE FROM meta WHERE key = 'source';"; } > "$dir/no-source.sql"
expect 1 "^whoisd-snapshot: $dir/no-source.sql: meta table lacks the key 'source'$" "$tool" import "$dir/no-source.sql" --out "$dir/no-source.sqlite"
[ ! -e "$dir/no-source.sqlite" ] || { echo "FAIL: a failed import left $dir/no-source.sqlite"; failures=$((failures + 1)); }
expect 1 "$dir/gen.sqlite" "$tool" generate --domains 5 --out "$dir/gen.sqlite/inside"

expect 2 "required" "$tool"
expect 0 "^whoisd-snapshot [0-9][0-9.]*$" "$tool" --version
expect 2 "domains" "$tool" generate --domains 0 --out "$dir/zero.sqlite"
expect 2 "out" "$tool" generate --domains 10

# Nothing but the files made on purpose is left behind (no temporary files).
left=$(ls "$dir" | grep -c tmp)
[ "$left" -eq 0 ] || { echo "FAIL: temporary files left: $(ls "$dir")"; failures=$((failures + 1)); }

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
