// The hand-written fixture snapshot (tests/fixtures/fixture.sql over lib/snapshot/schema.sql)
// for tests of every component. Include as "support/fixture_snapshot.h".
#pragma once

#include <string>

namespace whoisd::test {

// Builds the fixture snapshot at `path` (replacing any file there) and returns path.
// Throws whoisd::SnapshotError when the schema or the fixture does not load.
std::string build_fixture_snapshot(const std::string& path);

// One fixture snapshot per test process, built on first use in a private temporary
// directory that is removed at exit. Thread-safe. Do not modify the file.
const std::string& shared_fixture_snapshot();

// The path of tests/fixtures/fixture.sql.
std::string fixture_sql_path();

}  // namespace whoisd::test
