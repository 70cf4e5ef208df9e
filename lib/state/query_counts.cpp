#include "state/query_counts.h"

#include <string>

#include "state/sqlite_statement.h"

namespace whoisd {

std::int64_t rebuild_query_counts(StateDb& db) {
  db.exec("DELETE FROM query_counts");
  // One sort of the whole log by (hour, source, outcome), then rows appended to the
  // table in its own order.
  db.exec(std::string("INSERT INTO query_counts (hour, source, outcome, queries, first_us, last_us) SELECT ") +
          std::string(kQueryCountHourSql) +
          " AS h, source, outcome, count(*), min(time_us), max(time_us) FROM query_log "
          "GROUP BY h, source, outcome ORDER BY h, source, outcome");
  SqliteStatement counted(db, "SELECT coalesce(sum(queries), 0) FROM query_counts");
  return counted.step() ? counted.int64(0) : 0;
}

}  // namespace whoisd
