// Helpers shared by the state tests.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "policy/limiter.h"
#include "state/query_counts.h"
#include "state/source_journal.h"
#include "state/source_state_table.h"
#include "state/sqlite_statement.h"
#include "state/state_db.h"
#include "state/state_persister.h"
#include "support/temp_dir.h"

namespace whoisd::test {

// A new, empty state file in `dir`, created as the daemon creates it; its path.
inline std::string new_state(const TempDir& dir) {
  std::string path = whoisd::state_db_path(dir.path());
  whoisd::StateDb::open(path, whoisd::StateDb::Mode::create);
  return path;
}

// What most persister tests start from: a new state file in a private directory, a
// manual clock, a limiter of `limits` and its persister, loaded. Its members in that
// order, for `auto& [dir, path, clock, limiter, persister] = setup;`.
struct LoadedPersister {
  explicit LoadedPersister(const LimiterConfig& limits, StatePersisterOptions options = {})
      : path(new_state(dir)), limiter(limits, clock), persister(path, limiter, clock, options) {
    persister.load();
  }
  TempDir dir;
  std::string path;
  ManualClock clock;
  Limiter limiter;
  StatePersister persister;
};

// One integer from a query on its own connection to `path` (read-only).
inline std::int64_t sql_int(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  std::int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
    v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return v;
}

inline std::string sql_text(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  std::string v = "<no row>";
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(stmt, 0);
    v = t ? reinterpret_cast<const char*>(t) : "<null>";
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return v;
}

inline void sql_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error("sql_exec: " + message + " in " + sql);
}

// Rows of query_counts that differ from the count of query_log they must equal
// (query_counts.h: the rows with id <= N), in either direction: 0 when the summary is
// exact. `all_rows`: the count of every row instead, which it equals once the writer
// has flushed (N = max(id)).
inline std::int64_t query_counts_disagreement(const std::string& path, bool all_rows = true) {
  const std::string from_rows =
      std::string("SELECT ") + std::string(whoisd::kQueryCountHourSql) +
      " AS h, source, outcome, count(*), min(time_us), max(time_us) FROM query_log " +
      (all_rows ? "" : "WHERE id <= (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'query_counts_through_id') ") +
      "GROUP BY h, source, outcome";
  const std::string summary = "SELECT hour, source, outcome, queries, first_us, last_us FROM query_counts";
  return sql_int(path, "SELECT (SELECT count(*) FROM (" + from_rows + " EXCEPT " + summary +
                           ")) + (SELECT count(*) FROM (" + summary + " EXCEPT " + from_rows + "))");
}

// query_counts' N (query_counts.h) as stored.
inline std::int64_t query_counts_through_id(const std::string& path) {
  return sql_int(path, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'query_counts_through_id'");
}

// One integer from a query of source_state as the daemon's next load would see it:
// with what source_journal holds folded in (source_journal.h), in a transaction that is
// rolled back afterwards, so the file is left as it was.
inline std::int64_t stored_int(const std::string& path, const std::string& sql) {
  whoisd::StateDb db = whoisd::StateDb::open(path, whoisd::StateDb::Mode::read_write);
  whoisd::StateDb::Transaction tx(db);  // never committed
  whoisd::SourceStateTable table(db);
  whoisd::SourceJournal(db).fold(table);
  whoisd::SqliteStatement select(db, sql);
  return select.step() ? select.int64(0) : -1;
}

// What StateDb::open(path, mode) throws, or "" when it opens.
inline std::string open_error(const std::string& path, whoisd::StateDb::Mode mode) {
  try {
    whoisd::StateDb::open(path, mode);
  } catch (const whoisd::StateDbError& e) {
    return e.what();
  }
  return "";
}

}  // namespace whoisd::test
