// The state database's schema, version kStateSchemaVersion (state_db.h). A change to
// it is a new version: bump kStateSchemaVersion (old files are then refused by name,
// never reset).
#pragma once

#include <span>
#include <string_view>

namespace whoisd {

// The CREATE statements of a new state database, run in one transaction.
std::string_view state_schema_sql();
// The tables a state database must have.
std::span<const std::string_view> state_schema_tables();

}  // namespace whoisd
