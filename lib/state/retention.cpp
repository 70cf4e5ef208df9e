#include "state/retention.h"

#include "state/sqlite_statement.h"

namespace whoisd {

PurgeCounts purge_some(StateDb& db, UnixSeconds cutoff, std::size_t batch, std::size_t max_batches) {
  if (batch == 0) batch = 1;
  // The LIMIT in a subquery (SQLite is not built with DELETE ... LIMIT) over the
  // time index: each statement reads only the rows it removes.
  SqliteStatement queries(db,
                          "DELETE FROM query_log WHERE id IN "
                          "(SELECT id FROM query_log WHERE time_us < ? ORDER BY time_us LIMIT ?)");
  SqliteStatement events(db,
                         "DELETE FROM abuse_events WHERE id IN "
                         "(SELECT id FROM abuse_events WHERE time < ? ORDER BY time LIMIT ?)");
  SqliteStatement actions(db,
                          "DELETE FROM admin_actions WHERE id IN "
                          "(SELECT id FROM admin_actions WHERE applied_at IS NOT NULL AND requested_at < ? "
                          "ORDER BY id LIMIT ?)");
  PurgeCounts counts;
  auto limit = static_cast<std::int64_t>(batch);
  for (std::size_t i = 0; i < max_batches; ++i) {
    StateDb::Transaction tx(db);
    queries.bind(1, cutoff * 1'000'000).bind(2, limit).run();
    auto q = static_cast<std::uint64_t>(sqlite3_changes64(db.handle()));
    events.bind(1, cutoff).bind(2, limit).run();
    auto e = static_cast<std::uint64_t>(sqlite3_changes64(db.handle()));
    actions.bind(1, cutoff).bind(2, limit).run();
    auto a = static_cast<std::uint64_t>(sqlite3_changes64(db.handle()));
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
