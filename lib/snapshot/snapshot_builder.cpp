#include "snapshot/snapshot_builder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "snapshot/published_view.h"
#include "snapshot/snapshot_file.h"
#include "snapshot/snapshot_meta.h"
#include "snapshot/snapshot_schema.h"
#include "snapshot/snapshot_store.h"
#include "snapshot/sqlite_handle.h"

namespace whoisd {

namespace {

// fsync(2) of a file or directory by path; what failed is named in the error.
void sync_path(const std::string& path, const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw SnapshotError(path + ": cannot open " + what + " to sync it: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw SnapshotError(path + ": cannot sync " + what + ": " + std::strerror(err));
}

std::string directory_of(const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  return dir.empty() ? "." : dir.string();
}

}  // namespace

// Each write transaction moves the counter by one: the seal's own write included.
void seal_snapshot(const std::string& path) {
  const std::uint32_t expected = sqlite_change_counter(path) + 1;
  {
    sqlite::Db db = sqlite::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
    sqlite::exec(db.get(), "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;");
    const std::string seal = "INSERT OR REPLACE INTO meta (key, value) VALUES ('sealed_change_counter', '" +
                             std::to_string(expected) + "')";
    sqlite::exec(db.get(), seal.c_str());
  }
  if (const std::uint32_t counter = sqlite_change_counter(path); counter != expected)
    throw SnapshotError(path + ": cannot seal: SQLite's change counter is " + std::to_string(counter) +
                        " after the seal's write, not " + std::to_string(expected));
}

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
      // 16 KB pages: published_domains is stored WITHOUT ROWID, so its interior pages hold
      // whole rows (~350 bytes): with 4 KB pages its B-tree is 7 levels deep at 1,000,000
      // domains, with 16 KB 4, and a lookup costs 3.0 us instead of 3.7 here (8 KB and
      // 32-64 KB measured between the two; bench/README.md). Set before the first table.
      // The file is renamed into place only when complete: no rollback journal, no syncs.
      sqlite::exec(db.get(), "PRAGMA page_size = 16384; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;");
      sqlite::exec_script(db.get(), snapshot_schema_sql(), "schema.sql");
      fill(db.get());
      write_published_view(db.get());
    }
    seal_snapshot(temp_path);
    validate_snapshot(temp_path, full_check);
    // Written without syncs (above); on disk before its name is, so that a crash after
    // the rename cannot leave a partial file at the path whoisd serves.
    sync_path(temp_path, "the new snapshot");
    if (std::rename(temp_path.c_str(), out_path.c_str()) != 0) {
      throw SnapshotError(out_path + ": cannot rename " + temp_path + " over it: " + std::strerror(errno));
    }
    sync_path(directory_of(out_path), "its directory");
  } catch (const sqlite::SqliteError& e) {
    std::remove(temp_path.c_str());
    throw SnapshotError(out_path + ": cannot " + std::string(action) + ": " + e.what());
  } catch (const RefusedDomainsError& e) {
    std::remove(temp_path.c_str());
    throw SnapshotError(out_path + ": cannot " + std::string(action) + ": " + e.what());
  } catch (...) {
    std::remove(temp_path.c_str());
    throw;
  }
}

void build_snapshot_from_sql(const std::string& out_path, std::string_view sql, const std::string& origin) {
  write_snapshot_file(out_path, "build", true, [&](sqlite3* db) {
    sqlite::exec_script(db, sql, origin);
    // The SQL's fault, said of it, as build says it of an export (not of the temporary file).
    validate_exported_meta(read_meta(db), origin);
  });
}

namespace {

// Copies the documented columns of `table` from the export (its own read-only
// connection) into db, row by row. Names come from schema.sql and are plain identifiers:
// not quoted, because SQLite takes an unknown "quoted" column for a string literal.
void copy_table(sqlite3* from, sqlite3* db, const std::string& table, const std::vector<std::string>& columns,
                const std::string& export_path) {
  std::string list, params;
  for (const std::string& column : columns) {
    list += (list.empty() ? "" : ", ") + column;
    params += params.empty() ? "?" : ", ?";
  }
  sqlite::Stmt select;
  try {
    select = sqlite::prepare(from, "SELECT " + list + " FROM " + table);
  } catch (const sqlite::SqliteError& e) {
    throw SnapshotError(export_path + ": cannot read table '" + table + "': " + e.what());
  }
  // meta's derived and versioned keys are written anew, not copied.
  const std::string filter = table == "meta" ? " WHERE ?1 NOT IN ('schema_version', 'domain_count')" : "";
  sqlite::Stmt insert = sqlite::prepare(
      db, "INSERT INTO " + table + " (" + list + ") SELECT " + params + filter);
  const int n = static_cast<int>(columns.size());
  int rc;
  while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
    for (int c = 0; c < n; ++c) sqlite3_bind_value(insert.get(), c + 1, sqlite3_column_value(select.get(), c));
    int done = sqlite3_step(insert.get());
    sqlite3_reset(insert.get());
    if (done != SQLITE_DONE) {
      throw sqlite::SqliteError(done, "copying table '" + table + "' from " + export_path + ": " + sqlite3_errmsg(db));
    }
  }
  if (rc != SQLITE_DONE) {
    throw SnapshotError(export_path + ": cannot read table '" + table + "': " + sqlite3_errmsg(from));
  }
}

}  // namespace

std::int64_t build_snapshot_from_export(const std::string& export_path, const std::string& out_path) {
  check_snapshot_file(export_path);
  const std::optional<FileIdentity> input = identity_of(export_path);
  const std::optional<FileIdentity> output = identity_of(out_path);
  if (input && output && input->dev == output->dev && input->ino == output->ino) {
    throw SnapshotError(out_path + ": is the export itself; write the snapshot to another file (the export is "
                        "never modified)");
  }
  sqlite::Db from;
  try {
    from = sqlite::open(sqlite::immutable_uri(export_path), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
    const std::int64_t version = sqlite::query_int(from.get(), "PRAGMA user_version");
    if (version != 1 && version != kSnapshotSchemaVersion) {
      throw SnapshotError(export_path + ": schema version " + std::to_string(version) + ", expected an export in "
                          "schema version 1 or " + std::to_string(kSnapshotSchemaVersion) + " (see schema.sql)");
    }
    // Said of the export, not of the file being built (whoisd refuses an empty snapshot).
    if (sqlite::query_int(from.get(), "SELECT EXISTS (SELECT 1 FROM domains)") == 0)
      throw SnapshotError(export_path + ": holds no domains (an empty export?)");
    // Copied as they are, and required by whoisd: said of the export, before the build,
    // rather than of the temporary file once the whole build is done.
    validate_exported_meta(read_meta(from.get()), export_path);
  } catch (const sqlite::SqliteError& e) {
    throw SnapshotError(export_path + ": " + e.what());
  }
  // The action names the export: a value refused while deriving the view is its fault.
  write_snapshot_file(out_path, "build from " + export_path, true, [&](sqlite3* db) {
    sqlite::exec(db, "PRAGMA cache_size = -262144; BEGIN;");
    for (const auto& [table, columns] : documented_columns()) {
      if (table != kPublishedDomainsTable) copy_table(from.get(), db, table, columns, export_path);
    }
    const std::string version = "INSERT INTO meta (key, value) VALUES ('schema_version', '" +
                                std::to_string(kSnapshotSchemaVersion) + "')";
    sqlite::exec(db, version.c_str());
    sqlite::exec(db, "COMMIT");
  });
  return validate_snapshot(out_path, false).domains;
}

}  // namespace whoisd
