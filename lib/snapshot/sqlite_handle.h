// Small RAII helpers around the SQLite C API, shared by the snapshot store, the builder
// and the tools. Errors are thrown as SqliteError carrying SQLite's own message; callers
// add the file name before it reaches a person.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace whoisd::sqlite {

struct SqliteError : std::runtime_error {
  SqliteError(int result_code, const std::string& message) : std::runtime_error(message), code(result_code) {}
  int code;
};

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Opens `filename` (a path, or a file: URI when flags has SQLITE_OPEN_URI).
Db open(const std::string& filename, int flags);
// The file: URI that opens `path` read-only and immutable (no locks, nothing created
// beside the file); use with SQLITE_OPEN_READONLY | SQLITE_OPEN_URI.
std::string immutable_uri(const std::string& path);
// Prepares one statement; SQLITE_PREPARE_PERSISTENT when it is kept for many runs.
Stmt prepare(sqlite3* db, std::string_view sql, bool persistent = false);
// Runs statements that return no rows we need.
void exec(sqlite3* db, const char* sql);
// Runs a script statement by statement; an error names `origin` and the line where the
// failing statement starts.
void exec_script(sqlite3* db, std::string_view script, const std::string& origin);
// The text of a column, "" for NULL.
inline std::string_view column_text(sqlite3_stmt* stmt, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
  if (text == nullptr) return {};
  return std::string_view(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
}
// The bytes of a BLOB (or TEXT) column, empty for NULL; valid until the statement moves.
inline std::string_view column_blob(sqlite3_stmt* stmt, int column) {
  const void* data = sqlite3_column_blob(stmt, column);
  if (data == nullptr) return {};
  return std::string_view(static_cast<const char*>(data), static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
}
// Resets a statement and clears its bindings when it goes out of scope, whatever
// happened while stepping it.
struct ResetGuard {
  sqlite3_stmt* stmt;
  ~ResetGuard() {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }
};
// Runs a one-row, one-column query and returns its integer (0 when no row).
std::int64_t query_int(sqlite3* db, const char* sql);
// Quotes a value as an SQL string literal ('it''s').
std::string quote(std::string_view value);

}  // namespace whoisd::sqlite
