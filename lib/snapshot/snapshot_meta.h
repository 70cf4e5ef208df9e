// The meta table of a snapshot or an export (schema.sql, "meta"): read once into a map,
// and the rules on the keys the registry's export provides ('exported_at', 'source'),
// which whoisd-snapshot build copies as they are: build applies them to the export
// before it builds, and the store (whoisd, `whoisd-snapshot check`) to the file it
// opens, with the same words. The keys build writes itself (schema_version,
// domain_count, sealed_change_counter) are the store's to check.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

struct sqlite3;

namespace whoisd {

using MetaRows = std::map<std::string, std::string>;

// Every row of db's meta table, key to value. Throws sqlite::SqliteError (no such table
// included).
MetaRows read_meta(sqlite3* db);

// A non-negative decimal number of at most 12 digits (meta's numbers are decimal text),
// or nullopt.
std::optional<std::int64_t> meta_decimal(const std::string& text);

// That meta holds 'exported_at' as Unix seconds and 'source'; returns exported_at.
// Throws SnapshotError naming path and the key, e.g. "EXPORT: meta table lacks the key
// 'source'", "EXPORT: meta exported_at is 'yesterday', expected Unix seconds".
std::int64_t validate_exported_meta(const MetaRows& meta, const std::string& path);

}  // namespace whoisd
