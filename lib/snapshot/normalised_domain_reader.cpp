#include "snapshot/normalised_domain_reader.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <utility>

#include "common/escape.h"
#include "snapshot/normalised_value_rules.h"

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

// A value in a message, quoted and escaped (escape_bytes: every byte outside printable
// ASCII as \xHH, so that what a terminal would not show, or show as a plain space, is
// seen); at most 100 bytes of it.
std::string shown(std::string_view value) { return "'" + escape_bytes(value, 100) + "'"; }

[[noreturn]] void refuse(std::string_view a_label, const std::string& column, const std::string& value,
                         const std::string& problem) {
  throw NormalisedValueError("domain '" + str(a_label) + "': " + column + " is " + value + ": " + problem);
}

// The value of a column schema.sql declares INTEGER, within [min, max]. SQLite does not
// enforce the type: the column's affinity stores what cannot be converted as it came
// ('2021-03-04 10:00:00' stays TEXT, 12.5 stays REAL, and a range CHECK such as
// BETWEEN 0 AND 65535 lets 12.5 through), and sqlite3_column_int64 would read 2021 and
// 12. So the storage class is checked first (sqlite3_column_type must come before any
// conversion of the column). `column` names table, column and row for the message.
std::int64_t integer_column(sqlite3_stmt* stmt, int index, std::string_view a_label, const std::string& column,
                            std::int64_t min, std::int64_t max, const std::string& expected) {
  const int type = sqlite3_column_type(stmt, index);
  if (type != SQLITE_INTEGER) {
    std::string value;
    switch (type) {
      case SQLITE_NULL: value = "NULL"; break;
      case SQLITE_FLOAT: value = "REAL " + str(sqlite::column_text(stmt, index)); break;
      case SQLITE_BLOB: value = "BLOB " + shown(sqlite::column_blob(stmt, index)); break;
      default: value = "TEXT " + shown(sqlite::column_text(stmt, index)); break;
    }
    refuse(a_label, column, value, "expected " + expected);
  }
  const std::int64_t value = sqlite3_column_int64(stmt, index);
  if (value < min || value > max) refuse(a_label, column, std::to_string(value), "expected " + expected);
  return value;
}

constexpr std::int64_t kMinInteger = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMaxInteger = std::numeric_limits<std::int64_t>::max();
const std::string kUnixSeconds = "an INTEGER (Unix seconds, UTC)";
const std::string kPosition = "an INTEGER of at least 1";

std::string at_position(std::int64_t position) { return " (position " + std::to_string(position) + ")"; }

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
  d.a_label = str(sqlite::column_text(stmt, kALabel));
  // Children are found by id: a TEXT id would be read as 0 and find another domain's.
  const std::int64_t id = integer_column(stmt, kId, d.a_label, "domains.id", kMinInteger, kMaxInteger,
                                         "an INTEGER");
  d.u_label = str(sqlite::column_text(stmt, kULabel));
  // A domain whoisd could never answer for, or would print under another name: its
  // record would be published under a key no query reaches, or its "Domain:" line
  // would name another domain.
  std::string unicode_form;
  if (const std::string problem = registered_domain_problem(d.a_label, unicode_form); !problem.empty())
    refuse(d.a_label, "domains.a_label", shown(d.a_label), problem);
  if (d.u_label != unicode_form)
    refuse(d.a_label, "domains.u_label", shown(d.u_label),
           "it is not the Unicode form of its a_label ('" + unicode_form + "')");
  d.status = str(sqlite::column_text(stmt, kStatus));
  // schema.sql's CHECK (status <> ''), which build's copy into schema.sql's tables
  // enforces; SQLite's quick_check does not verify CHECK constraints, so a file made
  // without them (or with PRAGMA ignore_check_constraints) would publish an empty status.
  if (d.status.empty())
    refuse(d.a_label, "domains.status", sqlite3_column_type(stmt, kStatus) == SQLITE_NULL ? "NULL" : "''",
           "expected the domain's status, e.g. 'ACTIVE'");
  d.created = integer_column(stmt, kCreated, d.a_label, "domains.created", kMinInteger, kMaxInteger, kUnixSeconds);
  d.expires = integer_column(stmt, kExpires, d.a_label, "domains.expires", kMinInteger, kMaxInteger, kUnixSeconds);
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
        const std::int64_t position =
            integer_column(children, 1, d.a_label, "name_servers.position", 1, kMaxInteger, kPosition);
        PublishedNameServer server;
        server.host = str(sqlite::column_text(children, 5));
        if (const std::string problem = host_name_problem(server.host); !problem.empty())
          refuse(d.a_label, "name_servers.host" + at_position(position), shown(server.host), problem);
        servers.emplace_back(position, std::move(server));
        break;
      }
      case 2: {
        Glue g{};
        g.ns_position = integer_column(children, 1, d.a_label, "glue_addresses.ns_position", 1, kMaxInteger, kPosition);
        const std::string server = " (name server " + std::to_string(g.ns_position) + ")";
        g.ip_version = integer_column(children, 2, d.a_label, "glue_addresses.ip_version" + server, 4, 6, "4 or 6");
        if (g.ip_version == 5) refuse(d.a_label, "glue_addresses.ip_version" + server, "5", "expected 4 or 6");
        g.position = integer_column(children, 3, d.a_label, "glue_addresses.position" + server, 1, kMaxInteger,
                                    kPosition);
        const std::string_view address = sqlite::column_text(children, 5);
        // Published in canonical text (schema.sql promises it), whatever form inet_pton
        // accepted: one address, one spelling, in every answer.
        std::optional<std::string> canonical = canonical_glue_address(g.ip_version, address);
        if (!canonical) {
          const std::string family = g.ip_version == 4 ? "IPv4" : "IPv6";
          refuse(d.a_label,
                 "glue_addresses.address (name server " + std::to_string(g.ns_position) + ", " + family +
                     " position " + std::to_string(g.position) + ")",
                 shown(address), "not an " + family + " address (ip_version " + std::to_string(g.ip_version) + ")");
        }
        g.address = std::move(*canonical);
        glue.push_back(std::move(g));
        break;
      }
      case 3: {
        const std::int64_t position =
            integer_column(children, 1, d.a_label, "ds_records.position", 1, kMaxInteger, kPosition);
        const std::string where = at_position(position);
        PublishedDsRecord record;
        record.key_tag = static_cast<std::uint32_t>(
            integer_column(children, 2, d.a_label, "ds_records.key_tag" + where, 0, 65535, "an INTEGER from 0 to 65535"));
        record.algorithm = static_cast<std::uint32_t>(
            integer_column(children, 3, d.a_label, "ds_records.algorithm" + where, 0, 255, "an INTEGER from 0 to 255"));
        record.digest_type = static_cast<std::uint32_t>(integer_column(
            children, 4, d.a_label, "ds_records.digest_type" + where, 0, 255, "an INTEGER from 0 to 255"));
        record.digest_hex = str(sqlite::column_text(children, 5));
        if (const std::string problem = ds_digest_problem(record.digest_type, record.digest_hex); !problem.empty())
          refuse(d.a_label, "ds_records.digest" + where, shown(record.digest_hex), problem);
        for (char& c : record.digest_hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        ds.emplace_back(position, std::move(record));
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
    // schema.sql's foreign key, which SQLite does not enforce unless asked: glue of no
    // listed server is an export that lost a row or mixed two, not something to drop.
    if (server == servers.end() || server->first != g.ns_position)
      refuse(d.a_label, "glue_addresses.ns_position", std::to_string(g.ns_position),
             "no name server of the domain has that position (glue " + g.address + ")");
    (g.ip_version == 4 ? server->second.ipv4 : server->second.ipv6).push_back(std::move(g.address));
  }
  d.name_servers.reserve(servers.size());
  for (auto& server : servers) d.name_servers.push_back(std::move(server.second));
  d.ds_records.reserve(ds.size());
  for (auto& record : ds) d.ds_records.push_back(std::move(record.second));
  return d;
}

}  // namespace whoisd
