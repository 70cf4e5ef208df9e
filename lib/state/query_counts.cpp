#include "state/query_counts.h"

#include <string>

#include "state/sqlite_statement.h"

namespace whoisd {

std::int64_t max_query_log_id(StateDb& db) {
  SqliteStatement select(db, "SELECT coalesce(max(id), 0) FROM query_log");
  return select.step() ? select.int64(0) : 0;
}

std::int64_t rebuild_query_counts(StateDb& db) {
  db.exec("DELETE FROM query_counts");
  // One sort of the whole log by (hour, source, outcome), then rows appended to the
  // table in its own order.
  db.exec(std::string("INSERT INTO query_counts (hour, source, outcome, queries, first_us, last_us) SELECT ") +
          std::string(kQueryCountHourSql) +
          " AS h, source, outcome, count(*), min(time_us), max(time_us) FROM query_log "
          "GROUP BY h, source, outcome ORDER BY h, source, outcome");
  SqliteStatement counted(db, "SELECT coalesce(sum(queries), 0) FROM query_counts");
  std::int64_t rows = counted.step() ? counted.int64(0) : 0;
  set_query_counts_through_id(db, max_query_log_id(db));
  return rows;
}

std::int64_t query_counts_through_id(StateDb& db) {
  SqliteStatement select(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'query_counts_through_id'");
  if (select.step()) return select.int64(0);
  return max_query_log_id(db);
}

void set_query_counts_through_id(StateDb& db, std::int64_t id) {
  SqliteStatement set(db, "INSERT OR REPLACE INTO meta (key, value) VALUES ('query_counts_through_id', ?)");
  set.bind(1, std::to_string(id)).run();
}

std::int64_t catch_up_query_counts(StateDb& db) {
  std::int64_t through = query_counts_through_id(db);
  std::int64_t max_id = max_query_log_id(db);
  std::int64_t rows = 0;
  if (max_id > through) {
    // The WHERE clause also settles the parsing ambiguity of an upsert after a SELECT.
    SqliteStatement add(db, std::string("INSERT INTO query_counts (hour, source, outcome, queries, first_us, last_us) "
                                        "SELECT ") +
                                std::string(kQueryCountHourSql) +
                                " AS h, source, outcome, count(*), min(time_us), max(time_us) FROM query_log "
                                "WHERE id > ?1 AND id <= ?2 GROUP BY h, source, outcome ORDER BY h, source, outcome "
                                "ON CONFLICT (hour, source, outcome) DO UPDATE SET queries = queries + excluded.queries, "
                                "first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us)");
    add.bind(1, through).bind(2, max_id).run();
    SqliteStatement counted(db, "SELECT count(*) FROM query_log WHERE id > ? AND id <= ?");
    counted.bind(1, through).bind(2, max_id);
    rows = counted.step() ? counted.int64(0) : 0;
  }
  set_query_counts_through_id(db, max_id);
  SqliteStatement forget(db, "DELETE FROM meta WHERE key = ?");
  forget.bind(1, kQueryCountsPurgedAboveKey).run();
  return rows;
}

}  // namespace whoisd
