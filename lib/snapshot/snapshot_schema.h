// The snapshot schema (lib/snapshot/schema.sql), built into the library so that the
// store validates files against the very text that documents them, and the tools create
// files from it.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace whoisd {

// Version 2 added the derived table published_domains and meta 'domain_count'.
inline constexpr int kSnapshotSchemaVersion = 2;

// The table whoisd-snapshot build derives from the normalised ones: not part of a
// registry export, required in a snapshot that is served.
inline constexpr std::string_view kPublishedDomainsTable = "published_domains";

// The whole text of lib/snapshot/schema.sql.
std::string_view snapshot_schema_sql();

// Every table schema.sql declares and its columns in declaration order, read from an
// in-memory database built from the text itself, so checks and documentation cannot
// diverge.
const std::map<std::string, std::vector<std::string>>& documented_columns();

}  // namespace whoisd
