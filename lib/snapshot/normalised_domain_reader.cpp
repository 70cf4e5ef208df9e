#include "snapshot/normalised_domain_reader.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>

namespace whoisd {

namespace {

// The registered domain and its three contacts in one statement (one index search on
// a_label, three rowid searches). Personal values of an opted-out contact are blanked
// here, in SQLite, so they never reach this process; a contact row that is missing
// (a dangling id) is treated as not disclosed. Phone, fax, tax number, arbitration
// option, handle and the managing entity's and technical contact's address fields are
// never selected.
constexpr std::string_view kDomainSql = R"sql(
SELECT d.id, d.a_label, d.u_label, d.status, d.created, d.expires,
       coalesce(r.opt_out, 1) <> 0,
       CASE WHEN r.opt_out = 0 THEN r.name ELSE '' END,
       CASE WHEN r.opt_out = 0 THEN r.address ELSE '' END,
       CASE WHEN r.opt_out = 0 THEN r.locality ELSE '' END,
       CASE WHEN r.opt_out = 0 THEN r.zip_code ELSE '' END,
       CASE WHEN r.opt_out = 0 THEN r.zip_locality ELSE '' END,
       CASE WHEN r.opt_out = 0 THEN r.country_code ELSE '' END,
       CASE WHEN r.opt_out = 0 THEN r.email ELSE '' END,
       coalesce(a.opt_out, 1) <> 0,
       CASE WHEN a.opt_out = 0 THEN a.name ELSE '' END,
       CASE WHEN a.opt_out = 0 THEN a.email ELSE '' END,
       coalesce(t.opt_out, 1) <> 0,
       CASE WHEN t.opt_out = 0 THEN t.name ELSE '' END,
       CASE WHEN t.opt_out = 0 THEN t.email ELSE '' END
FROM domains AS d
LEFT JOIN contacts AS r ON r.id = d.registrant_id
LEFT JOIN contacts AS a ON a.id = d.admin_id
LEFT JOIN contacts AS t ON t.id = d.tech_id
WHERE d.a_label = ?1
)sql";

// Name servers, glue and DS records of one domain in one statement: each arm reads one
// clustered primary-key range. Order is restored in C++ from the position columns, so
// nothing here depends on the order SQLite returns rows in.
constexpr std::string_view kChildrenSql = R"sql(
SELECT 1, position, NULL, NULL, NULL, host FROM name_servers WHERE domain_id = ?1
UNION ALL
SELECT 2, ns_position, ip_version, position, NULL, address FROM glue_addresses WHERE domain_id = ?1
UNION ALL
SELECT 3, position, key_tag, algorithm, digest_type, digest FROM ds_records WHERE domain_id = ?1
)sql";

enum DomainColumn {
  kId, kALabel, kULabel, kStatus, kCreated, kExpires,
  kRegistrantHidden, kRegistrantName, kRegistrantAddress, kRegistrantLocality, kRegistrantZipCode,
  kRegistrantZipLocality, kRegistrantCountryCode, kRegistrantEmail,
  kAdminHidden, kAdminName, kAdminEmail,
  kTechHidden, kTechName, kTechEmail,
};

std::string str(std::string_view view) { return std::string(view); }

}  // namespace

NormalisedDomainReader::NormalisedDomainReader(sqlite3* db)
    : db_(db), domain_(sqlite::prepare(db, kDomainSql, true)), children_(sqlite::prepare(db, kChildrenSql, true)) {}

const std::vector<std::string_view>& NormalisedDomainReader::statements() {
  static const std::vector<std::string_view> all = {kDomainSql, kChildrenSql};
  return all;
}

std::optional<PublishedDomain> NormalisedDomainReader::read(std::string_view a_label) {
  sqlite3_stmt* stmt = domain_.get();
  sqlite::ResetGuard domain_reset{stmt};
  sqlite3_bind_text(stmt, 1, a_label.data(), static_cast<int>(a_label.size()), SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) throw sqlite::SqliteError(rc, sqlite3_errmsg(db_));

  PublishedDomain d;
  const sqlite3_int64 id = sqlite3_column_int64(stmt, kId);
  d.a_label = str(sqlite::column_text(stmt, kALabel));
  d.u_label = str(sqlite::column_text(stmt, kULabel));
  d.status = str(sqlite::column_text(stmt, kStatus));
  d.created = sqlite3_column_int64(stmt, kCreated);
  d.expires = sqlite3_column_int64(stmt, kExpires);
  d.registrant.disclosed = sqlite3_column_int(stmt, kRegistrantHidden) == 0;
  d.registrant.name = str(sqlite::column_text(stmt, kRegistrantName));
  d.registrant.address = str(sqlite::column_text(stmt, kRegistrantAddress));
  d.registrant.locality = str(sqlite::column_text(stmt, kRegistrantLocality));
  d.registrant.zip_code = str(sqlite::column_text(stmt, kRegistrantZipCode));
  d.registrant.zip_locality = str(sqlite::column_text(stmt, kRegistrantZipLocality));
  d.registrant.country_code = str(sqlite::column_text(stmt, kRegistrantCountryCode));
  d.registrant.email = str(sqlite::column_text(stmt, kRegistrantEmail));
  d.admin.disclosed = sqlite3_column_int(stmt, kAdminHidden) == 0;
  d.admin.name = str(sqlite::column_text(stmt, kAdminName));
  d.admin.email = str(sqlite::column_text(stmt, kAdminEmail));
  d.tech.disclosed = sqlite3_column_int(stmt, kTechHidden) == 0;
  d.tech.name = str(sqlite::column_text(stmt, kTechName));
  d.tech.email = str(sqlite::column_text(stmt, kTechEmail));

  struct Glue {
    std::int64_t ns_position, ip_version, position;
    std::string address;
  };
  std::vector<std::pair<std::int64_t, PublishedNameServer>> servers;
  std::vector<Glue> glue;
  std::vector<std::pair<std::int64_t, PublishedDsRecord>> ds;

  sqlite3_stmt* children = children_.get();
  sqlite::ResetGuard children_reset{children};
  sqlite3_bind_int64(children, 1, id);
  while ((rc = sqlite3_step(children)) == SQLITE_ROW) {
    switch (sqlite3_column_int(children, 0)) {
      case 1: {
        PublishedNameServer server;
        server.host = str(sqlite::column_text(children, 5));
        servers.emplace_back(sqlite3_column_int64(children, 1), std::move(server));
        break;
      }
      case 2:
        glue.push_back(Glue{sqlite3_column_int64(children, 1), sqlite3_column_int64(children, 2),
                            sqlite3_column_int64(children, 3), str(sqlite::column_text(children, 5))});
        break;
      case 3: {
        PublishedDsRecord record;
        record.key_tag = static_cast<std::uint32_t>(sqlite3_column_int64(children, 2));
        record.algorithm = static_cast<std::uint32_t>(sqlite3_column_int64(children, 3));
        record.digest_type = static_cast<std::uint32_t>(sqlite3_column_int64(children, 4));
        record.digest_hex = str(sqlite::column_text(children, 5));
        for (char& c : record.digest_hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        ds.emplace_back(sqlite3_column_int64(children, 1), std::move(record));
        break;
      }
      default:
        break;
    }
  }
  if (rc != SQLITE_DONE) throw sqlite::SqliteError(rc, sqlite3_errmsg(db_));

  auto by_position = [](const auto& x, const auto& y) { return x.first < y.first; };
  std::stable_sort(servers.begin(), servers.end(), by_position);
  std::stable_sort(ds.begin(), ds.end(), by_position);
  std::sort(glue.begin(), glue.end(), [](const Glue& x, const Glue& y) {
    return std::tie(x.ns_position, x.ip_version, x.position) < std::tie(y.ns_position, y.ip_version, y.position);
  });
  for (Glue& g : glue) {
    auto server = std::lower_bound(servers.begin(), servers.end(), g.ns_position,
                                   [](const auto& s, std::int64_t position) { return s.first < position; });
    if (server == servers.end() || server->first != g.ns_position) continue;  // glue of no listed server
    (g.ip_version == 4 ? server->second.ipv4 : server->second.ipv6).push_back(std::move(g.address));
  }
  d.name_servers.reserve(servers.size());
  for (auto& server : servers) d.name_servers.push_back(std::move(server.second));
  d.ds_records.reserve(ds.size());
  for (auto& record : ds) d.ds_records.push_back(std::move(record.second));
  return d;
}

}  // namespace whoisd
