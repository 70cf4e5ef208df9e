// query_counts, the query log counted per UTC hour, source and outcome (state_schema.cpp):
// what whoisd-admin top reads for the whole hours of its period, so that 30 days cost
// the hours' counts and not 30 days of rows.
//
// It counts the rows up to an id: the meta key query_counts_through_id = N, and
//   query_counts == GROUP BY (hour, source, outcome) over the query_log rows with id <= N
// in every committed state of the file. The query-log writer counts the rows it writes
// in memory and adds them, with the new N, in one transaction a minute or every
// 200,000 rows (query_log.cpp: one upsert per key a flush instead of one per key and
// batch, which touched a page of query_counts for nearly every row when most sources
// are seen once). The rows above N are few (a minute of them, at most 200,000): a
// report reads them as rows (top_sources), and the purge recounts only the rows <= N of
// what it deleted from. So a report that combines the summary with rows is exact,
// never an estimate.
#pragma once

#include <cstdint>
#include <string_view>

#include "state/state_db.h"

namespace whoisd {

inline constexpr std::int64_t kQueryCountHourUs = 3'600'000'000;

// The hour of a query_log time: floor(time_us / 1 h), also for times before 1970.
constexpr std::int64_t query_count_hour(std::int64_t time_us) {
  std::int64_t hour = time_us / kQueryCountHourUs;
  return time_us % kQueryCountHourUs < 0 ? hour - 1 : hour;
}

// The same hour in SQL, for a column or parameter named `time_us`.
inline constexpr std::string_view kQueryCountHourSql =
    "((time_us - ((time_us % 3600000000) + 3600000000) % 3600000000) / 3600000000)";

// Replaces query_counts with the count of the whole query_log and sets N = max(id), in
// the caller's transaction (the upgrade from schema version 1; tests that write
// query_log rows directly). Returns the number of query_log rows counted. Throws StateDbError.
std::int64_t rebuild_query_counts(StateDb& db);

// N, the highest query_log id that query_counts counts. A file without the key was
// made by the first schema-2 writer, which added every batch's counts in the batch's
// own transaction, or was just created: all its rows are counted, N = max(id) (0 when
// empty). Read it in the transaction that reads the summary. Throws StateDbError.
std::int64_t query_counts_through_id(StateDb& db);

// The highest query_log id, 0 when the log is empty. Throws StateDbError.
std::int64_t max_query_log_id(StateDb& db);

// Counts the rows above N into query_counts (one INSERT ... SELECT ... GROUP BY, upserts)
// and sets N = max(id), in the caller's write transaction: the query-log writer at its
// start (its in-memory counts died with the previous process) and whenever it cannot
// trust them. Cheap: the rows above N are at most about one flush interval of them.
// Returns the number of rows counted. Throws StateDbError.
std::int64_t catch_up_query_counts(StateDb& db);

// Sets N, in the caller's write transaction. Throws StateDbError.
void set_query_counts_through_id(StateDb& db, std::int64_t id);

// The meta key the purge sets when it deleted rows above N (ones the writer may hold
// counts of in memory): the writer's next flush then counts from the rows instead
// (catch_up_query_counts) and removes the key. retention.cpp says why it never happens
// in practice.
inline constexpr std::string_view kQueryCountsPurgedAboveKey = "query_counts_purged_above_through_id";

}  // namespace whoisd
