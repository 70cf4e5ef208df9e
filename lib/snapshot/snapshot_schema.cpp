#include "snapshot/snapshot_schema.h"

#include "snapshot/sqlite_handle.h"

namespace whoisd {

const std::map<std::string, std::vector<std::string>>& documented_columns() {
  static const auto columns = [] {
    std::map<std::string, std::vector<std::string>> out;
    sqlite::Db db = sqlite::open(":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite::exec_script(db.get(), snapshot_schema_sql(), "schema.sql");
    sqlite::Stmt tables = sqlite::prepare(
        db.get(), "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
    while (sqlite3_step(tables.get()) == SQLITE_ROW) {
      std::string table(sqlite::column_text(tables.get(), 0));
      sqlite::Stmt info = sqlite::prepare(db.get(), "SELECT name FROM pragma_table_info(?1)");
      sqlite3_bind_text(info.get(), 1, table.c_str(), -1, SQLITE_TRANSIENT);
      auto& list = out[table];
      while (sqlite3_step(info.get()) == SQLITE_ROW) list.emplace_back(sqlite::column_text(info.get(), 0));
    }
    return out;
  }();
  return columns;
}

}  // namespace whoisd
