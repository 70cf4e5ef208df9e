#include "snapshot/snapshot_builder.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "snapshot/snapshot_schema.h"
#include "snapshot/snapshot_store.h"
#include "snapshot/sqlite_handle.h"

namespace whoisd {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SnapshotError(path + ": cannot open for reading: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw SnapshotError(path + ": read failed");
  return text.str();
}

void write_snapshot_file(const std::string& out_path, std::string_view action, bool full_check,
                         const std::function<void(sqlite3* db)>& fill) {
  const std::string temp_path = out_path + ".tmp-" + std::to_string(::getpid());
  std::remove(temp_path.c_str());
  try {
    {
      sqlite::Db db = sqlite::open(temp_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
      // The file is renamed into place only when complete: no rollback journal, no syncs.
      sqlite::exec(db.get(), "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;");
      sqlite::exec_script(db.get(), snapshot_schema_sql(), "schema.sql");
      fill(db.get());
    }
    validate_snapshot(temp_path, full_check);
    if (std::rename(temp_path.c_str(), out_path.c_str()) != 0) {
      throw SnapshotError(out_path + ": cannot rename " + temp_path + " over it: " + std::strerror(errno));
    }
  } catch (const sqlite::SqliteError& e) {
    std::remove(temp_path.c_str());
    throw SnapshotError(out_path + ": cannot " + std::string(action) + ": " + e.what());
  } catch (...) {
    std::remove(temp_path.c_str());
    throw;
  }
}

void build_snapshot_from_sql(const std::string& out_path, std::string_view sql, const std::string& origin) {
  write_snapshot_file(out_path, "build", true, [&](sqlite3* db) { sqlite::exec_script(db, sql, origin); });
}

}  // namespace whoisd
