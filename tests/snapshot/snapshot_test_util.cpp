#include "snapshot_test_util.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "snapshot/published_view.h"
#include "snapshot/snapshot_builder.h"
#include "snapshot/snapshot_store.h"
#include "snapshot/sqlite_handle.h"
#include "support/fixture_snapshot.h"

namespace whoisd::test {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot read");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) throw std::runtime_error(path + ": cannot write");
}

void copy_file(const std::string& from, const std::string& to) { write_bytes(to, read_bytes(from)); }

void run_sql(const std::string& path, const std::string& sql) {
  sqlite::Db db = sqlite::open(path, SQLITE_OPEN_READWRITE);
  sqlite::exec(db.get(), sql.c_str());
}

std::string fixture_copy(const TempDir& dir, const std::string& name) {
  std::string path = dir.file(name);
  copy_file(shared_fixture_snapshot(), path);
  return path;
}

std::string open_error(const std::string& path) {
  SnapshotStore store(path);
  try {
    store.open();
  } catch (const SnapshotError& e) {
    CHECK_FALSE(store.is_open());
    return e.what();
  }
  return "";
}

void rebuild_published_view(const std::string& path) {
  {
    sqlite::Db db = sqlite::open(path, SQLITE_OPEN_READWRITE);
    write_published_view(db.get());
  }
  seal_snapshot(path);
}

void unseal(const std::string& path) { run_sql(path, "DELETE FROM meta WHERE key = 'sealed_change_counter'"); }

void forge_seal(const std::string& path) { seal_snapshot(path); }

std::vector<std::string> all_strings(const PublishedDomain& d) {
  std::vector<std::string> out = {d.u_label, d.a_label, d.status,
                                  d.registrant.name, d.registrant.address, d.registrant.locality,
                                  d.registrant.zip_code, d.registrant.zip_locality, d.registrant.country_code,
                                  d.registrant.email, d.admin.name, d.admin.email, d.tech.name, d.tech.email};
  for (const auto& ns : d.name_servers) {
    out.push_back(ns.host);
    out.insert(out.end(), ns.ipv4.begin(), ns.ipv4.end());
    out.insert(out.end(), ns.ipv6.begin(), ns.ipv6.end());
  }
  for (const auto& ds : d.ds_records) out.push_back(ds.digest_hex);
  return out;
}

std::vector<std::string> all_a_labels(const std::string& path) {
  sqlite::Db db = sqlite::open(sqlite::immutable_uri(path), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
  sqlite::Stmt stmt = sqlite::prepare(db.get(), "SELECT a_label FROM domains ORDER BY a_label");
  std::vector<std::string> out;
  while (sqlite3_step(stmt.get()) == SQLITE_ROW) out.emplace_back(sqlite::column_text(stmt.get(), 0));
  return out;
}

std::string dump_content(const std::string& path) {
  sqlite::Db db = sqlite::open(sqlite::immutable_uri(path), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
  std::string out;
  for (const char* sql : {"SELECT * FROM meta ORDER BY key", "SELECT * FROM contacts ORDER BY id",
                          "SELECT * FROM domains ORDER BY id", "SELECT * FROM name_servers ORDER BY 1, 2",
                          "SELECT * FROM glue_addresses ORDER BY 1, 2, 3, 4",
                          "SELECT * FROM ds_records ORDER BY 1, 2", "PRAGMA user_version"}) {
    sqlite::Stmt stmt = sqlite::prepare(db.get(), sql);
    while (sqlite3_step(stmt.get()) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(stmt.get()); ++c) {
        out += sqlite::column_text(stmt.get(), c);
        out += '\x1f';
      }
      out += '\n';
    }
  }
  return out;
}

}  // namespace whoisd::test
