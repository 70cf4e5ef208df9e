#include "state/retention.h"

#include <limits>
#include <set>
#include <string>
#include <tuple>

#include "state/query_counts.h"
#include "state/sqlite_statement.h"

namespace whoisd {
namespace {

// query_log's time_us for `cutoff`, saturated: a cutoff of "22000000w ago" times a
// million overflows, and the wrapped value, a time far in the future, would delete
// the whole log.
std::int64_t cutoff_us(UnixSeconds cutoff) {
  constexpr std::int64_t kUsPerSecond = 1'000'000;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max(), kMin = std::numeric_limits<std::int64_t>::min();
  if (cutoff > kMax / kUsPerSecond) return kMax;
  if (cutoff < kMin / kUsPerSecond) return kMin;
  return cutoff * kUsPerSecond;
}

}  // namespace

std::optional<UnixSeconds> newest_logged_query(StateDb& db) {
  SqliteStatement newest(db, "SELECT max(time_us) FROM query_log");  // the time index's last entry
  if (!newest.step() || newest.is_null(0)) return std::nullopt;
  // Floor division: a row at -0.5 s (a clock before 1970 when it was logged) is at -1.
  const std::int64_t us = newest.int64(0);
  return us / 1'000'000 - (us % 1'000'000 < 0 ? 1 : 0);
}

PurgeCounts purge_some(StateDb& db, UnixSeconds cutoff, std::size_t batch, std::size_t max_batches) {
  if (batch == 0) batch = 1;
  // The LIMIT in a subquery (SQLite is not built with DELETE ... LIMIT) over the
  // time index: each statement reads only the rows it removes.
  SqliteStatement queries(db,
                          "DELETE FROM query_log WHERE id IN "
                          "(SELECT id FROM query_log WHERE time_us < ? ORDER BY time_us LIMIT ?) "
                          "RETURNING time_us, source, outcome, id");
  // query_counts stays exact (query_counts.h): it counts the rows with id <= N, so each
  // (hour, source, outcome) whose rows <= N the batch deleted is counted again from
  // those left <= N, in the same transaction. Most of them have none left (their hour
  // is wholly older than the cutoff) and are removed; only the hour the cutoff falls
  // in keeps some. Recounting rather than subtracting also corrects first_us, which the
  // deleted rows may have been.
  //
  // Rows above N are the query-log writer's, counted only in its memory until its next
  // flush (about a minute). The purge deletes rows older than the retention, at least
  // an hour and in practice days, so it never reaches them: the rows above N arrived
  // within the last flush interval (plus the writer's backlog, seconds). Should it
  // anyway (the clock stepped back by more than the retention, or the daemon ran with
  // a retention that short), it says so in meta (kQueryCountsPurgedAboveKey) and the
  // writer's next flush counts the rows above N from query_log instead of its memory.
  // And should it delete the rows with the highest ids (the whole log was older than
  // the cutoff), SQLite may give those ids again to the next rows: N is lowered to the
  // highest id left, which counts the same rows.
  SqliteStatement forget_counts(db, "DELETE FROM query_counts WHERE hour = ? AND source = ? AND outcome = ?");
  SqliteStatement recount(db,
                          "INSERT INTO query_counts (hour, source, outcome, queries, first_us, last_us) "
                          "SELECT ?1, ?2, ?3, count(*), min(time_us), max(time_us) FROM query_log "
                          "INDEXED BY query_log_source WHERE source = ?2 AND time_us >= ?4 AND time_us < ?5 "
                          "AND outcome = ?3 AND id <= ?6 HAVING count(*) > 0");
  SqliteStatement purged_above(db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')");
  std::set<std::tuple<std::int64_t, std::string, std::string>> touched;
  SqliteStatement events(db,
                         "DELETE FROM abuse_events WHERE id IN "
                         "(SELECT id FROM abuse_events WHERE time < ? ORDER BY time LIMIT ?)");
  // Rows whose suspension's end the state writer never saw (suspension_reasons.h): few,
  // so not counted in PurgeCounts.
  SqliteStatement ended_reasons(db,
                                "DELETE FROM suspension_reasons WHERE source IN "
                                "(SELECT source FROM suspension_reasons WHERE until < ? LIMIT ?)");
  SqliteStatement actions(db,
                          "DELETE FROM admin_actions WHERE id IN "
                          "(SELECT id FROM admin_actions WHERE applied_at IS NOT NULL AND requested_at < ? "
                          "ORDER BY id LIMIT ?)");
  PurgeCounts counts;
  auto limit = static_cast<std::int64_t>(batch);
  for (std::size_t i = 0; i < max_batches; ++i) {
    StateDb::Transaction tx(db);
    const std::int64_t through = query_counts_through_id(db);
    queries.bind(1, cutoff_us(cutoff)).bind(2, limit);
    std::uint64_t q = 0;
    bool above = false;
    touched.clear();
    while (queries.step()) {
      ++q;
      if (queries.int64(3) > through)
        above = true;
      else
        touched.emplace(query_count_hour(queries.int64(0)), queries.text(1), queries.text(2));
    }
    queries.reset();
    if (above) purged_above.bind(1, kQueryCountsPurgedAboveKey).run();
    if (q > 0) {
      const std::int64_t highest = max_query_log_id(db);
      if (highest < through) set_query_counts_through_id(db, highest);
    }
    for (const auto& [hour, source, outcome] : touched) {
      forget_counts.bind(1, hour).bind(2, source).bind(3, outcome).run();
      recount.bind(1, hour)
          .bind(2, source)
          .bind(3, outcome)
          .bind(4, hour * kQueryCountHourUs)
          .bind(5, (hour + 1) * kQueryCountHourUs)
          .bind(6, through)
          .run();
    }
    events.bind(1, cutoff).bind(2, limit).run();
    auto e = static_cast<std::uint64_t>(sqlite3_changes64(db.handle()));
    actions.bind(1, cutoff).bind(2, limit).run();
    auto a = static_cast<std::uint64_t>(sqlite3_changes64(db.handle()));
    ended_reasons.bind(1, cutoff).bind(2, limit).run();
    tx.commit();
    counts.query_log += q;
    counts.abuse_events += e;
    counts.admin_actions += a;
    counts.more = q == batch || e == batch || a == batch;
    if (!counts.more) break;
  }
  return counts;
}

PurgeCounts purge_all(StateDb& db, UnixSeconds cutoff, std::size_t batch) {
  PurgeCounts total;
  do {
    PurgeCounts some = purge_some(db, cutoff, batch, 100);
    total.query_log += some.query_log;
    total.abuse_events += some.abuse_events;
    total.admin_actions += some.admin_actions;
    total.more = some.more;
  } while (total.more);
  return total;
}

}  // namespace whoisd
