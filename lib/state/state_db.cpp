#include "state/state_db.h"

#include <sqlite3.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <set>
#include <system_error>

#include "common/log.h"
#include "state/query_counts.h"
#include "state/state_schema.h"

namespace whoisd {
namespace {

[[noreturn]] void throw_for(const std::string& path, std::string_view problem) {
  throw StateDbError("state database " + path + ": " + std::string(problem));
}

// One query returning a single integer; throws naming the file when it fails.
std::int64_t query_int(sqlite3* db, const std::string& path, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  std::int64_t value = 0;
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      value = sqlite3_column_int64(stmt, 0);
      rc = SQLITE_OK;
    }
  }
  std::string message = rc == SQLITE_OK ? "" : sqlite3_errmsg(db);
  int code = sqlite3_extended_errcode(db);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_OK) {
    if ((code & 0xff) == SQLITE_NOTADB || (code & 0xff) == SQLITE_CORRUPT)
      throw_for(path, "is corrupt or not a SQLite database (" + message + "); move it aside to start with empty state");
    if ((code & 0xff) == SQLITE_READONLY || (code & 0xff) == SQLITE_CANTOPEN || (code & 0xff) == SQLITE_PERM)
      throw_for(path, "is not writable by this user (" + message +
                          "; in WAL mode even readers need to write the -shm file: check the permissions of the "
                          "file and its directory)");
    throw_for(path, "cannot be read: " + message);
  }
  return value;
}

std::string query_text(sqlite3* db, const std::string& path, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  std::string value;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  if (rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    if (text) value = reinterpret_cast<const char*>(text);
  }
  std::string message = sqlite3_errmsg(db);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_OK) throw_for(path, message);
  return value;
}

std::set<std::string> table_names(sqlite3* db, const std::string& path) {
  sqlite3_stmt* stmt = nullptr;
  std::set<std::string> names;
  if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'table'", -1, &stmt, nullptr) != SQLITE_OK)
    throw_for(path, std::string("cannot be read: ") + sqlite3_errmsg(db));
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    names.insert(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) throw_for(path, std::string("is corrupt: ") + sqlite3_errmsg(db));
  return names;
}

// The tables a piece of schema SQL creates ("CREATE TABLE name (...").
std::set<std::string> tables_created_by(std::string_view sql) {
  std::set<std::string> names;
  constexpr std::string_view kCreate = "CREATE TABLE ";
  for (std::size_t at = sql.find(kCreate); at != std::string_view::npos; at = sql.find(kCreate, at + 1)) {
    std::size_t start = at + kCreate.size();
    std::size_t end = start;
    while (end < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[end])) || sql[end] == '_')) ++end;
    names.emplace(sql.substr(start, end - start));
  }
  return names;
}

// Version 1 -> 2: adds query_counts and fills it from the whole query_log, in one
// transaction (an interrupted upgrade leaves version 1, tried again at the next start).
// Seconds for a large log (16 s for 10,000,000 rows on the development machine),
// once; logged before and after so that a slow start says why.
void upgrade_from_version_1(StateDb& db, const std::string& path) {
  StateDb::Transaction tx(db);
  // Another process may have upgraded it since this one read the version.
  if (query_int(db.handle(), path, "PRAGMA user_version") != 1) return;
  std::int64_t rows = query_int(db.handle(), path, "SELECT count(*) FROM query_log");
  log::info("state_schema_upgrading").kv("file", path).kv("from_version", 1).kv("to_version", 2).kv("query_log_rows",
                                                                                                     rows);
  auto start = std::chrono::steady_clock::now();
  db.exec(state_schema_added_in_version_2());
  std::int64_t counted = rebuild_query_counts(db);
  std::int64_t hours = query_int(db.handle(), path, "SELECT count(*) FROM query_counts");
  db.exec("PRAGMA user_version = 2");
  tx.commit();
  log::info("state_schema_upgraded")
      .kv("file", path)
      .kv("from_version", 1)
      .kv("to_version", 2)
      .kv("query_log_rows", counted)
      .kv("query_counts_rows", hours)
      .kv("ms", std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
}

// Version 2 -> 3: adds the (empty) source_journal; source_state stays as it is.
void upgrade_from_version_2(StateDb& db, const std::string& path) {
  StateDb::Transaction tx(db);
  if (query_int(db.handle(), path, "PRAGMA user_version") != 2) return;
  db.exec(state_schema_added_in_version_3());
  db.exec("PRAGMA user_version = 3");
  tx.commit();
  log::info("state_schema_upgraded").kv("file", path).kv("from_version", 2).kv("to_version", 3);
}

// Version 3 -> 4: abuse_events made again with its two new kinds, rows kept. Quick:
// the abuse log holds a row per suspension and operator command, not per query.
void upgrade_from_version_3(StateDb& db, const std::string& path) {
  StateDb::Transaction tx(db);
  if (query_int(db.handle(), path, "PRAGMA user_version") != 3) return;
  std::int64_t rows = query_int(db.handle(), path, "SELECT count(*) FROM abuse_events");
  db.exec(state_schema_changed_in_version_4());
  db.exec("PRAGMA user_version = 4");
  tx.commit();
  log::info("state_schema_upgraded").kv("file", path).kv("from_version", 3).kv("to_version", 4).kv("abuse_events_rows",
                                                                                                    rows);
}

// Version 4 -> 5: adds suspension_reasons, filled from the abuse log for the stored
// suspensions. Quick: a row per suspended source.
void upgrade_from_version_4(StateDb& db, const std::string& path) {
  StateDb::Transaction tx(db);
  if (query_int(db.handle(), path, "PRAGMA user_version") != 4) return;
  db.exec(state_schema_added_in_version_5());
  db.exec(state_schema_filled_in_version_5());
  std::int64_t reasons = query_int(db.handle(), path, "SELECT count(*) FROM suspension_reasons");
  db.exec("PRAGMA user_version = 5");
  tx.commit();
  log::info("state_schema_upgraded").kv("file", path).kv("from_version", 4).kv("to_version", 5).kv(
      "suspension_reasons_rows", reasons);
}

}  // namespace

std::string state_db_path(std::string_view state_dir) {
  std::string path(state_dir);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (!path.empty() && path.back() != '/') path += '/';
  path += kStateFileName;
  return path;
}

std::int64_t unix_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

StateDb StateDb::open(const std::string& path, Mode mode) {
  namespace fs = std::filesystem;
  std::error_code ec;
  bool exists = fs::exists(path, ec);
  if (ec) throw_for(path, "cannot be examined: " + ec.message());
  if (exists && !fs::is_regular_file(path, ec)) throw_for(path, "is not a regular file");
  if (!exists) {
    if (mode != Mode::create)
      throw_for(path, "does not exist (the daemon creates it at its first start; check --state-dir or [state] dir)");
    fs::path dir = fs::path(path).parent_path();
    if (!dir.empty()) {
      fs::create_directories(dir, ec);
      if (ec) throw_for(path, "cannot create its directory " + dir.string() + ": " + ec.message());
    }
  }

  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const bool reads_only = mode == Mode::read_only || mode == Mode::check;
  flags |= reads_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (mode == Mode::create) flags |= SQLITE_OPEN_CREATE;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  StateDb db(path, raw);  // closes on every exit below
  if (rc != SQLITE_OK)
    throw_for(path, std::string("cannot be opened: ") + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(raw, 5000);
  sqlite3_extended_result_codes(raw, 1);

  // The first read of the file: a file that is not a database fails here.
  std::int64_t version = query_int(raw, path, "PRAGMA user_version");
  std::set<std::string> tables = table_names(raw, path);

  if (!reads_only && sqlite3_db_readonly(raw, "main") == 1)
    throw_for(path, "is not writable by this user (check the permissions of the file and its directory)");

  if (version == 0 && tables.empty()) {
    if (mode == Mode::check) return db;  // the start makes the schema in it (a first start cut short leaves one)
    if (mode != Mode::create)
      throw_for(path, "is empty, without the whoisd state schema (the daemon creates it at its first start)");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(std::string("BEGIN IMMEDIATE;") + state_schema_sql() + "PRAGMA user_version = " +
            std::to_string(kStateSchemaVersion) + "; COMMIT;");
    version = kStateSchemaVersion;
    tables = table_names(raw, path);
  } else if (version == 0) {
    throw_for(path, "is not a whoisd state database (it has tables but no schema version)");
  } else if (version >= 1 && version < kStateSchemaVersion) {
    // Only the daemon upgrades: whoisd-admin may be run while an older daemon still
    // writes the file (which would not fold a journal it does not know, nor write an
    // abuse event kind it does not know), and an upgrade of a large log holds it for
    // seconds.
    if (mode == Mode::check) {
      // The upgrade needs the tables of that version: all but those the later versions add.
      std::set<std::string> later;
      later.merge(tables_created_by(state_schema_added_in_version_5()));
      if (version < 3) later.merge(tables_created_by(state_schema_added_in_version_3()));
      if (version < 2) later.merge(tables_created_by(state_schema_added_in_version_2()));
      for (std::string_view table : state_schema_tables())
        if (!later.count(std::string(table)) && !tables.count(std::string(table)))
          throw_for(path, "is corrupt: state schema version " + std::to_string(version) + " without its table " +
                              std::string(table));
      db.schema_version_ = version;
      return db;
    }
    if (mode != Mode::create)
      throw_for(path, "has state schema version " + std::to_string(version) + "; this whoisd uses version " +
                          std::to_string(kStateSchemaVersion) +
                          ", which the daemon makes of it when it next starts (restart whoisd, then run this again)");
    if (version == 1) upgrade_from_version_1(db, path);
    if (version <= 2) upgrade_from_version_2(db, path);
    if (version <= 3) upgrade_from_version_3(db, path);
    upgrade_from_version_4(db, path);
    version = kStateSchemaVersion;
    tables = table_names(raw, path);
  } else if (version != kStateSchemaVersion) {
    throw_for(path, "has state schema version " + std::to_string(version) + ", this whoisd uses version " +
                        std::to_string(kStateSchemaVersion) + " (it is never reset silently: move it aside or use the "
                        "matching whoisd)");
  }
  for (std::string_view table : state_schema_tables())
    if (!tables.count(std::string(table)))
      throw_for(path, "is corrupt: table " + std::string(table) + " is missing");

  db.schema_version_ = version;
  if (!reads_only) {
    std::string journal = query_text(raw, path, "PRAGMA journal_mode = WAL");
    if (journal != "wal") throw_for(path, "cannot use write-ahead logging (journal mode is '" + journal + "')");
    db.exec("PRAGMA synchronous = NORMAL");
    // Checkpoints every 8,000 pages of WAL (about 32 MB) instead of SQLite's 1,000: the
    // query log's indexes rewrite the same pages in every transaction, and a checkpoint
    // copies each page once however often it was logged, so fewer checkpoints mean
    // fewer writes (12 % of the query-log writer's CPU per row, bench_query_log). The
    // -wal file keeps that size on disk. Per connection, so both writers of the daemon
    // (query log and limiter state) get it.
    db.exec("PRAGMA wal_autocheckpoint = 8000");
    // Proves now, at start, that the file and its directory (for the -wal and -shm
    // files) are writable, rather than at the first query hours later.
    try {
      db.exec("INSERT OR REPLACE INTO meta(key, value) VALUES ('last_opened_at', CAST(strftime('%s','now') AS TEXT))");
      // query_counts' N (query_counts.h), before anything writes rows: 0 for a new file;
      // for a file of the first schema-2 writer, which counted every batch in its own
      // transaction, all its rows.
      db.exec("INSERT OR IGNORE INTO meta(key, value) SELECT 'query_counts_through_id', "
              "CAST(coalesce(max(id), 0) AS TEXT) FROM query_log");
    } catch (const StateDbError& e) {
      throw_for(path, std::string("is not writable: ") + e.what());
    }
  }
  return db;
}

StateDb::StateDb(StateDb&& other) noexcept : path_(std::move(other.path_)), db_(other.db_) { other.db_ = nullptr; }

StateDb& StateDb::operator=(StateDb&& other) noexcept {
  if (this != &other) {
    if (db_) sqlite3_close_v2(db_);
    path_ = std::move(other.path_);
    db_ = other.db_;
    other.db_ = nullptr;
  }
  return *this;
}

StateDb::~StateDb() {
  if (db_) sqlite3_close_v2(db_);
}

void StateDb::exec(std::string_view sql) {
  char* message = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string why = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    throw_for(path_, why);
  }
}

void StateDb::fail(std::string_view what) const {
  throw_for(path_, std::string(what) + ": " + sqlite3_errmsg(db_));
}

StateDb::Transaction::Transaction(StateDb& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

StateDb::Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void StateDb::Transaction::commit() {
  db_.exec("COMMIT");
  open_ = false;
}

}  // namespace whoisd
