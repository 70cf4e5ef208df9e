// The state database's schema, version kStateSchemaVersion (state_db.h). A change to
// it is a new version: bump kStateSchemaVersion, and either upgrade the older files in
// StateDb::open or refuse them by name (never reset them).
//
// Versions: 1, the first; 2 (2026-11-23) adds query_counts, the query log counted per
// hour, source and outcome (whoisd-admin top), built from query_log when the daemon
// opens a version-1 file. Within version 2, the meta key query_counts_through_id
// (query_counts.h) says up to which query_log id it counts; a file without it counts
// every row (StateDb::open adds it); 3 (2026-11-23) adds source_journal, the limiter's
// changed sources appended each round and folded into source_state every minute
// (source_journal.h); the daemon adds the (empty) table to a version-1 or -2 file;
// 4 adds two kinds of abuse_events, suspension_kept and episodes_forgotten (what an
// operator's suspend or lift did when it changed no suspension), by making the table
// again with its rows; 5 adds suspension_reasons, each suspension's reason, operator and
// kind kept with it (the abuse log's events are purged after the retention, and a
// manual suspension may outlive it), filled from the abuse log by the upgrade.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace whoisd {

// The CREATE statements of a new state database, run in one transaction.
std::string state_schema_sql();
// Version 1's CREATE statements, as whoisd before version 2 ran them (tests of the upgrade).
std::string_view state_schema_version_1_sql();
// The CREATE statements that version 2 added to version 1 (the upgrade runs them).
std::string_view state_schema_added_in_version_2();
// The CREATE statements that version 3 added to version 2 (the upgrade runs them).
std::string_view state_schema_added_in_version_3();
// The statements that make version 3's abuse_events into version 4's, rows kept (the upgrade runs them).
std::string_view state_schema_changed_in_version_4();
// The CREATE statements that version 5 added to version 4 (the upgrade runs them) ...
std::string_view state_schema_added_in_version_5();
// ... and the statements that fill them from version 4's tables (the upgrade only).
std::string_view state_schema_filled_in_version_5();
// The tables a state database must have.
std::span<const std::string_view> state_schema_tables();

}  // namespace whoisd
