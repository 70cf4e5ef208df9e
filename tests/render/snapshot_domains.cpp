#include "snapshot_domains.h"

#include <sqlite3.h>

#include <memory>
#include <stdexcept>

namespace whoisd::test {
namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

Db open_read_only(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) {
    throw std::runtime_error(path + ": cannot open: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  return db;
}

Stmt prepare(sqlite3* db, const std::string& path, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
    throw std::runtime_error(path + ": cannot prepare '" + sql + "': " + sqlite3_errmsg(db));
  }
  return Stmt(raw);
}

std::string text(sqlite3_stmt* s, int column) {
  const auto* p = sqlite3_column_text(s, column);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s, column)))
           : std::string();
}

void add(std::vector<std::string>& to, std::string value) {
  if (!value.empty()) to.push_back(std::move(value));
}

}  // namespace

std::vector<std::string> snapshot_a_labels(const std::string& snapshot_path) {
  Db db = open_read_only(snapshot_path);
  Stmt s = prepare(db.get(), snapshot_path, "SELECT a_label FROM domains ORDER BY id");
  std::vector<std::string> labels;
  int rc = 0;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) labels.push_back(text(s.get(), 0));
  if (rc != SQLITE_DONE) throw std::runtime_error(snapshot_path + ": reading domains: " + sqlite3_errmsg(db.get()));
  return labels;
}

std::vector<NeverPublished> snapshot_never_published(const std::string& snapshot_path) {
  Db db = open_read_only(snapshot_path);
  // Columns per contact (c = 0 registrant, 1 managing entity, 2 technical):
  //  0 name, 1 address, 2 locality, 3 zip_code, 4 zip_locality, 5 country_code, 6 email,
  //  7 phone, 8 fax, 9 tax_number, 10 arbitration_option, 11 handle, 12 opt_out
  constexpr int kPerContact = 13;
  Stmt s = prepare(db.get(), snapshot_path,
                   "SELECT d.a_label, d.u_label, d.status,"
                   " r.name, r.address, r.locality, r.zip_code, r.zip_locality, r.country_code, r.email,"
                   " r.phone, r.fax, r.tax_number, r.arbitration_option, r.handle, r.opt_out,"
                   " a.name, a.address, a.locality, a.zip_code, a.zip_locality, a.country_code, a.email,"
                   " a.phone, a.fax, a.tax_number, a.arbitration_option, a.handle, a.opt_out,"
                   " t.name, t.address, t.locality, t.zip_code, t.zip_locality, t.country_code, t.email,"
                   " t.phone, t.fax, t.tax_number, t.arbitration_option, t.handle, t.opt_out"
                   " FROM domains d JOIN contacts r ON r.id = d.registrant_id"
                   " JOIN contacts a ON a.id = d.admin_id JOIN contacts t ON t.id = d.tech_id ORDER BY d.id");
  Stmt ns = prepare(db.get(), snapshot_path,
                    "SELECT n.host FROM name_servers n JOIN domains d ON d.id = n.domain_id WHERE d.a_label = ?1"
                    " UNION ALL SELECT g.address FROM glue_addresses g JOIN domains d ON d.id = g.domain_id"
                    " WHERE d.a_label = ?1");
  std::vector<NeverPublished> all;
  int rc = 0;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    NeverPublished entry;
    entry.a_label = text(s.get(), 0);
    add(entry.published, entry.a_label);
    add(entry.published, text(s.get(), 1));
    add(entry.published, text(s.get(), 2));
    for (int c = 0; c < 3; ++c) {
      const int base = 3 + c * kPerContact;
      const bool opted_out = sqlite3_column_int(s.get(), base + 12) != 0;
      (c == 0 ? entry.registrant_opted_out : c == 1 ? entry.admin_opted_out : entry.tech_opted_out) = opted_out;
      (c == 0 ? entry.registrant_name : c == 1 ? entry.admin_name : entry.tech_name) = text(s.get(), base);
      for (const int hidden_column : {7, 8, 9, 10, 11}) add(entry.hidden, text(s.get(), base + hidden_column));
      for (int column = 0; column <= 6; ++column) {
        const bool address_field = column >= 1 && column <= 5;
        const bool published_field = c == 0 || !address_field;  // only the registrant's address is published
        std::string value = text(s.get(), base + column);
        if (!published_field) {
          add(entry.hidden, std::move(value));
        } else if (opted_out) {
          add(entry.opted_out, std::move(value));
        } else {
          add(entry.published, std::move(value));
        }
      }
    }
    sqlite3_bind_text(ns.get(), 1, entry.a_label.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(ns.get()) == SQLITE_ROW) add(entry.published, text(ns.get(), 0));
    sqlite3_reset(ns.get());
    all.push_back(std::move(entry));
  }
  if (rc != SQLITE_DONE) throw std::runtime_error(snapshot_path + ": reading domains: " + sqlite3_errmsg(db.get()));
  return all;
}

}  // namespace whoisd::test
