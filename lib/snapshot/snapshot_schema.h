// The snapshot schema (lib/snapshot/schema.sql), built into the library so that the
// store validates files against the very text that documents them, and the tools create
// files from it.
#pragma once

#include <string_view>

namespace whoisd {

inline constexpr int kSnapshotSchemaVersion = 1;

// The whole text of lib/snapshot/schema.sql.
std::string_view snapshot_schema_sql();

}  // namespace whoisd
