#include "snapshot/snapshot_meta.h"

#include <algorithm>
#include <cctype>

#include "snapshot/snapshot_store.h"
#include "snapshot/sqlite_handle.h"

namespace whoisd {

MetaRows read_meta(sqlite3* db) {
  MetaRows meta;
  sqlite::Stmt stmt = sqlite::prepare(db, "SELECT key, value FROM meta");
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    meta[std::string(sqlite::column_text(stmt.get(), 0))] = std::string(sqlite::column_text(stmt.get(), 1));
  }
  if (rc != SQLITE_DONE) throw sqlite::SqliteError(rc, sqlite3_errmsg(db));
  return meta;
}

std::optional<std::int64_t> meta_decimal(const std::string& text) {
  const bool digits = !text.empty() && text.size() <= 12 &&
                      std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
  if (!digits) return std::nullopt;
  return std::stoll(text);
}

std::int64_t validate_exported_meta(const MetaRows& meta, const std::string& path) {
  for (const char* key : {"exported_at", "source"}) {
    if (meta.count(key) == 0) throw SnapshotError(path + ": meta table lacks the key '" + key + "'");
  }
  const std::string& exported = meta.at("exported_at");
  const std::optional<std::int64_t> exported_at = meta_decimal(exported);
  if (!exported_at) throw SnapshotError(path + ": meta exported_at is '" + exported + "', expected Unix seconds");
  return *exported_at;
}

}  // namespace whoisd
