// Builds a snapshot file from SQL: the schema (schema.sql), then the caller's statements
// (INSERTs of an export, the test fixture), into a temporary file beside the target that
// is validated and then renamed over it, so that a half-built file is never served.
#pragma once

#include <functional>
#include <string>
#include <string_view>

struct sqlite3;

namespace whoisd {

// The one way a snapshot file is written: a new database beside out_path gets
// schema.sql, then `fill` adds the rows; the file is validated (PRAGMA quick_check too
// when full_check) and renamed over out_path, so a half-built file is never served.
// `action` ("build", "generate") words the error. Throws SnapshotError on any SQL or
// file error; the temporary file is removed then.
void write_snapshot_file(const std::string& out_path, std::string_view action, bool full_check,
                         const std::function<void(sqlite3* db)>& fill);

// Runs schema.sql and then `sql` in a new database and renames it to out_path. `origin`
// names where the SQL came from, for error messages. Throws SnapshotError (naming
// out_path or origin) on any SQL or file error; the temporary file is removed then.
void build_snapshot_from_sql(const std::string& out_path, std::string_view sql, const std::string& origin);

// Reads a whole file into a string; throws SnapshotError naming the file.
std::string read_text_file(const std::string& path);

}  // namespace whoisd
