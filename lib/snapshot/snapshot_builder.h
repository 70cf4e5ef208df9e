// Builds snapshot files: the schema (schema.sql), then the rows of the normalised tables
// (from a registry export file, SQL statements, the generator), then the derived
// published_domains and meta 'domain_count', into a temporary file beside the target
// that is validated and then renamed over it, so that a half-built file is never served.
#pragma once

#include <functional>
#include <string>
#include <string_view>

struct sqlite3;

namespace whoisd {

// The one way a snapshot file is written: a new database beside out_path gets
// schema.sql, then `fill` adds the rows of the normalised tables and meta's
// 'schema_version', 'exported_at' and 'source'; then published_domains and meta
// 'domain_count' are derived from them (write_published_view); the file is sealed
// (seal_snapshot), validated (PRAGMA quick_check too when full_check), synced and
// renamed over out_path, so a half-built file is never served.
// `action` ("build", "build from EXPORT", "generate") words the error. Throws SnapshotError on any SQL or
// file error, and listing the domains refused (write_published_view: every one counted,
// the first 20 named with their faults); the temporary file is removed then, and
// out_path is left as it was.
void write_snapshot_file(const std::string& out_path, std::string_view action, bool full_check,
                         const std::function<void(sqlite3* db)>& fill);

// Records in meta 'sealed_change_counter' the SQLite change counter the file has once
// that write is committed (schema.sql, meta): every later write transaction moves the
// counter, so whoisd and `whoisd-snapshot check` refuse a file edited after its build.
// The file must not be open elsewhere. Throws SnapshotError naming it.
void seal_snapshot(const std::string& path);

// Runs schema.sql and then `sql` in a new database and renames it to out_path. `origin`
// names where the SQL came from, for error messages, e.g. that its meta lacks 'source'
// (snapshot_meta.h's rules on exported keys, checked before anything is derived).
// Throws SnapshotError (naming out_path or origin) on any SQL or file error; the
// temporary file is removed then.
void build_snapshot_from_sql(const std::string& out_path, std::string_view sql, const std::string& origin);

// Builds a servable snapshot at out_path from a registry export: a SQLite file with the
// normalised tables of schema.sql (version 1 or 2; published_domains and 'domain_count',
// if present, are ignored and derived anew). The export is opened read-only and
// immutable and never written; out_path must name another file. The documented columns
// of the normalised tables and meta's rows are copied (extra tables and columns are
// left behind; meta 'schema_version' becomes the current version; an export without
// 'exported_at' in Unix seconds or without 'source' is refused before anything is
// built, by the store's own rule, snapshot_meta.h). Returns the number of domains.
// Throws SnapshotError naming the file and what is wrong; when domains are refused (a
// date that is not INTEGER, a host that is not a lower-case A-label, glue that is not
// an address, a digest that is not whole octets of hex or not its type's length, a
// domain whoisd could never answer for...), how many, and the first 20 each on a line
// with the domain, the table and column, and the value.
std::int64_t build_snapshot_from_export(const std::string& export_path, const std::string& out_path);

// Reads a whole file into a string; throws SnapshotError naming the file.
std::string read_text_file(const std::string& path);

}  // namespace whoisd
