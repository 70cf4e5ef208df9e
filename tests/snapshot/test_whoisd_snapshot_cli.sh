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
expect 0 "valid snapshot, schema version 1, 1000 domains" "$tool" check "$dir/gen.sqlite"
expect 0 "nome.pt" "$tool" check --quick "$dir/gen.sqlite"
expect 0 "PENDING DELETE" "$tool" check "$dir/gen.sqlite"
expect 0 "36 domains" "$tool" import "$fixture_sql" --out "$dir/fixture.sqlite"
expect 0 'ACTIVE\\r\\nDomain: forged.pt' "$tool" check "$dir/fixture.sqlite"
expect 0 "PRAGMA user_version = 1" "$tool" schema

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
expect 1 "$dir/gen.sqlite" "$tool" generate --domains 5 --out "$dir/gen.sqlite/inside"

expect 2 "required" "$tool"
expect 2 "domains" "$tool" generate --domains 0 --out "$dir/zero.sqlite"
expect 2 "out" "$tool" generate --domains 10

# Nothing but the files made on purpose is left behind (no temporary files).
left=$(ls "$dir" | grep -c tmp)
[ "$left" -eq 0 ] || { echo "FAIL: temporary files left: $(ls "$dir")"; failures=$((failures + 1)); }

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
