// query_counts, the query log counted per UTC hour, source and outcome (state_schema.cpp):
// what whoisd-admin top reads for the whole hours of its period, so that 30 days cost
// the hours' counts and not 30 days of rows. It always equals the GROUP BY of
// query_log it summarises (the writer adds each batch's counts in the batch's
// transaction; the purge recounts what it deleted from), so a report that combines it
// with rows is exact, never an estimate.
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

// Replaces query_counts with the count of the whole query_log, in the caller's
// transaction (the upgrade from schema version 1; tests that write query_log rows
// directly). Returns the number of query_log rows counted. Throws StateDbError.
std::int64_t rebuild_query_counts(StateDb& db);

}  // namespace whoisd
