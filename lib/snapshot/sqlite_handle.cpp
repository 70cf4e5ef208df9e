#include "snapshot/sqlite_handle.h"

#include <algorithm>

namespace whoisd::sqlite {

namespace {

[[noreturn]] void fail(sqlite3* db, int code) {
  throw SqliteError(code, db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code));
}

}  // namespace

Db open(const std::string& filename, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(filename.c_str(), &raw, flags, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) {
    // The message of a failed open lives in the handle, when one was allocated.
    std::string message = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    throw SqliteError(rc, message);
  }
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Stmt prepare(sqlite3* db, std::string_view sql, bool persistent) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              persistent ? SQLITE_PREPARE_PERSISTENT : 0u, &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) fail(db, rc);
  return stmt;
}

void exec(sqlite3* db, const char* sql) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(db, rc);
}

void exec_script(sqlite3* db, std::string_view script, const std::string& origin) {
  const char* const begin = script.data();
  const char* const end = begin + script.size();
  const char* next = begin;
  auto line_of = [&](const char* at) {
    return 1 + std::count(begin, at, '\n');
  };
  while (next < end) {
    const char* start = next;
    while (start < end && (*start == ' ' || *start == '\n' || *start == '\r' || *start == '\t')) ++start;
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db, next, static_cast<int>(end - next), &raw, &next);
    Stmt stmt(raw);
    if (rc != SQLITE_OK) {
      throw SqliteError(rc, origin + ":" + std::to_string(line_of(start)) + ": " + sqlite3_errmsg(db));
    }
    if (!stmt) continue;  // only white space or comments were left
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) {
      throw SqliteError(rc, origin + ":" + std::to_string(line_of(start)) + ": " + sqlite3_errmsg(db));
    }
  }
}

std::int64_t query_int(sqlite3* db, const char* sql) {
  Stmt stmt = prepare(db, sql);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_ROW) return sqlite3_column_int64(stmt.get(), 0);
  if (rc == SQLITE_DONE) return 0;
  fail(db, rc);
}

std::string immutable_uri(const std::string& path) {
  static const char hex[] = "0123456789ABCDEF";
  // An absolute path gets an empty authority ("file:///..."), so that a path starting
  // with "//" is not read as a host name.
  std::string out = path.empty() || path[0] != '/' ? "file:" : "file://";
  for (unsigned char c : path) {
    if (c == '%' || c == '?' || c == '#' || c < 0x20 || c >= 0x7f) {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "?mode=ro&immutable=1";
}

std::string quote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

}  // namespace whoisd::sqlite
