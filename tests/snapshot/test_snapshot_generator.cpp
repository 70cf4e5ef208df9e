// The synthetic snapshot generator: deterministic per seed, and at 10,000 domains it
// covers every hierarchy, status, IDNs, opt-outs, glue and DS; every generated domain
// looks up, and its A-label is the UTS #46 form of its U-label.
#include <catch2/catch.hpp>

#include <unicode/uidna.h>

#include <filesystem>
#include <map>

#include "snapshot/snapshot_generator.h"
#include "snapshot/snapshot_store.h"
#include "snapshot/sqlite_handle.h"
#include "snapshot_test_util.h"
#include "support/temp_dir.h"

using whoisd::GeneratorOptions;
using whoisd::test::TempDir;

namespace {

std::int64_t count(const std::string& path, const char* sql) {
  whoisd::sqlite::Db db =
      whoisd::sqlite::open(whoisd::sqlite::immutable_uri(path), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
  return whoisd::sqlite::query_int(db.get(), sql);
}

std::map<std::string, std::int64_t> group_counts(const std::string& path, const char* sql) {
  whoisd::sqlite::Db db =
      whoisd::sqlite::open(whoisd::sqlite::immutable_uri(path), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
  whoisd::sqlite::Stmt stmt = whoisd::sqlite::prepare(db.get(), sql);
  std::map<std::string, std::int64_t> out;
  while (sqlite3_step(stmt.get()) == SQLITE_ROW) {
    out[std::string(whoisd::sqlite::column_text(stmt.get(), 0))] = sqlite3_column_int64(stmt.get(), 1);
  }
  return out;
}

// The 10,000-domain snapshot the coverage tests share (built once per process).
const std::string& generated_10k() {
  static TempDir dir;
  static const std::string path = [] {
    std::string p = dir.file("10k.sqlite");
    GeneratorOptions options;
    options.domains = 10000;
    options.seed = 2026;
    whoisd::generate_snapshot(p, options);
    return p;
  }();
  return path;
}

}  // namespace

TEST_CASE("the same seed gives the same content; another seed gives other content") {
  TempDir dir;
  GeneratorOptions options;
  options.domains = 2000;
  options.seed = 7;
  options.exported_at = 1790000000;
  whoisd::GeneratorSummary first = whoisd::generate_snapshot(dir.file("one.sqlite"), options);
  whoisd::GeneratorSummary second = whoisd::generate_snapshot(dir.file("two.sqlite"), options);
  const std::string one = whoisd::test::dump_content(dir.file("one.sqlite"));
  CHECK(one == whoisd::test::dump_content(dir.file("two.sqlite")));
  CHECK(first.contacts == second.contacts);
  CHECK(first.name_servers == second.name_servers);
  CHECK(first.domains == 2000);

  options.seed = 8;
  whoisd::generate_snapshot(dir.file("three.sqlite"), options);
  CHECK(one != whoisd::test::dump_content(dir.file("three.sqlite")));

  // Nothing but the snapshot is left in the directory (the temporary file was renamed).
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  CHECK(files == 3);
}

TEST_CASE("the generated snapshot validates and reports its size and export time") {
  whoisd::SnapshotInfo info = whoisd::validate_snapshot(generated_10k(), true);
  CHECK(info.domains == 10000);
  CHECK(info.schema_version == 2);
  CHECK(info.exported_at == GeneratorOptions{}.exported_at);
}

TEST_CASE("at 10,000 domains every hierarchy and every status is present") {
  auto hierarchies = group_counts(generated_10k(), "SELECT hierarchy, count(*) FROM domains GROUP BY 1");
  for (const std::string& h : whoisd::generated_hierarchies()) {
    INFO(h);
    CHECK(hierarchies[h] > 0);
  }
  CHECK(hierarchies.size() == 9);
  CHECK(hierarchies["pt"] > hierarchies["com.pt"]);  // most registrations sit directly under .pt

  auto statuses = group_counts(generated_10k(), "SELECT status, count(*) FROM domains GROUP BY 1");
  for (const std::string& s : whoisd::generated_statuses()) {
    INFO(s);
    CHECK(statuses[s] > 0);
  }
  CHECK(statuses.size() == whoisd::generated_statuses().size());
  CHECK(statuses["ACTIVE"] > 10000 / 2);
}

TEST_CASE("IDNs are present, and each A-label is the UTS #46 form of its U-label") {
  const std::string& path = generated_10k();
  CHECK(count(path, "SELECT count(*) FROM domains WHERE a_label <> u_label") > 200);
  CHECK(count(path, "SELECT count(*) FROM domains WHERE a_label <> u_label AND a_label NOT LIKE 'xn--%'") == 0);
  for (const char* letter : {"ç", "ã", "é", "ô", "á", "õ"}) {
    std::string sql = std::string("SELECT count(*) FROM domains WHERE u_label LIKE '%") + letter + "%'";
    INFO(letter);
    CHECK(count(path, sql.c_str()) > 0);
  }

  UErrorCode status = U_ZERO_ERROR;
  UIDNA* idna = uidna_openUTS46(UIDNA_NONTRANSITIONAL_TO_ASCII | UIDNA_NONTRANSITIONAL_TO_UNICODE, &status);
  REQUIRE(U_SUCCESS(status));
  whoisd::sqlite::Db db =
      whoisd::sqlite::open(whoisd::sqlite::immutable_uri(path), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
  whoisd::sqlite::Stmt stmt = whoisd::sqlite::prepare(db.get(), "SELECT a_label, u_label FROM domains");
  int checked = 0, wrong = 0;
  while (sqlite3_step(stmt.get()) == SQLITE_ROW) {
    std::string a_label(whoisd::sqlite::column_text(stmt.get(), 0));
    std::string u_label(whoisd::sqlite::column_text(stmt.get(), 1));
    char out[512];
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    status = U_ZERO_ERROR;
    int32_t n = uidna_nameToASCII_UTF8(idna, u_label.data(), static_cast<int32_t>(u_label.size()), out,
                                       sizeof out, &info, &status);
    if (U_FAILURE(status) || info.errors != 0 || std::string(out, static_cast<std::size_t>(n)) != a_label) {
      ++wrong;
      UNSCOPED_INFO(u_label << " -> " << a_label);
    }
    ++checked;
  }
  uidna_close(idna);
  CHECK(checked == 10000);
  CHECK(wrong == 0);
}

TEST_CASE("about 10% of contacts opted out; contacts carry the never-published fields") {
  const std::string& path = generated_10k();
  const double contacts = static_cast<double>(count(path, "SELECT count(*) FROM contacts"));
  const double opted_out = static_cast<double>(count(path, "SELECT count(*) FROM contacts WHERE opt_out = 1"));
  CHECK(opted_out / contacts > 0.05);
  CHECK(opted_out / contacts < 0.15);
  CHECK(count(path, "SELECT count(*) FROM domains d JOIN contacts c ON c.id = d.registrant_id WHERE c.opt_out = 1") > 0);
  CHECK(count(path, "SELECT count(*) FROM domains d JOIN contacts c ON c.id = d.tech_id WHERE c.opt_out = 1") > 0);
  CHECK(count(path, "SELECT count(*) FROM contacts WHERE phone = ''") == 0);
  CHECK(count(path, "SELECT count(*) FROM contacts WHERE tax_number <> ''") > contacts * 0.8);
  CHECK(count(path, "SELECT count(*) FROM contacts WHERE fax <> ''") > 0);
  CHECK(count(path, "SELECT count(*) FROM contacts WHERE arbitration_option <> ''") > 0);
  CHECK(count(path, "SELECT count(*) FROM contacts WHERE name LIKE '%ã%' OR name LIKE '%ç%' OR name LIKE '%é%'") > 0);
  CHECK(count(path, "SELECT count(*) FROM contacts WHERE country_code <> 'PT'") > 0);
  // Every reference resolves.
  CHECK(count(path,
              "SELECT count(*) FROM domains d WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = d.registrant_id) "
              "OR NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = d.admin_id) "
              "OR NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = d.tech_id)") == 0);
}

TEST_CASE("name servers: none for reservations, 1 to 4 otherwise, with and without glue; DS records") {
  const std::string& path = generated_10k();
  CHECK(count(path,
              "SELECT count(*) FROM domains d WHERE status = 'RESERVED' "
              "AND EXISTS (SELECT 1 FROM name_servers n WHERE n.domain_id = d.id)") == 0);
  CHECK(count(path,
              "SELECT count(*) FROM domains d WHERE status <> 'RESERVED' "
              "AND NOT EXISTS (SELECT 1 FROM name_servers n WHERE n.domain_id = d.id)") == 0);
  auto per_domain = group_counts(path, "SELECT n, count(*) FROM (SELECT count(*) AS n FROM name_servers GROUP BY domain_id) GROUP BY n");
  CHECK(per_domain.size() == 4);
  for (const char* n : {"1", "2", "3", "4"}) CHECK(per_domain[n] > 0);
  CHECK(count(path, "SELECT count(*) FROM glue_addresses WHERE ip_version = 4") > 0);
  CHECK(count(path, "SELECT count(*) FROM glue_addresses WHERE ip_version = 6") > 0);
  CHECK(count(path,
              "SELECT count(*) FROM name_servers n WHERE NOT EXISTS (SELECT 1 FROM glue_addresses g "
              "WHERE g.domain_id = n.domain_id AND g.ns_position = n.position)") > 0);
  // In-zone servers without glue (the registry lacks it now and then).
  CHECK(count(path,
              "SELECT count(*) FROM name_servers n JOIN domains d ON d.id = n.domain_id "
              "WHERE n.host LIKE '%.' || d.a_label AND NOT EXISTS (SELECT 1 FROM glue_addresses g "
              "WHERE g.domain_id = n.domain_id AND g.ns_position = n.position)") > 0);
  CHECK(count(path, "SELECT count(DISTINCT domain_id) FROM ds_records") > 300);
  CHECK(count(path, "SELECT count(*) FROM ds_records WHERE digest_type = 4 AND length(digest) = 96") > 0);
}

TEST_CASE("every generated domain looks up through the store") {
  const std::string& path = generated_10k();
  whoisd::SnapshotStore store(path);
  store.open();
  int found = 0, idn = 0, hidden = 0, glue = 0, ds = 0;
  for (const std::string& name : whoisd::test::all_a_labels(path)) {
    auto d = store.lookup(name);
    if (!d) continue;
    ++found;
    idn += d->is_idn() ? 1 : 0;
    hidden += d->registrant.disclosed ? 0 : 1;
    if (!d->registrant.disclosed) CHECK(d->registrant.name.empty());
    for (const auto& ns : d->name_servers) glue += ns.ipv4.empty() ? 0 : 1;
    ds += d->ds_records.empty() ? 0 : 1;
  }
  CHECK(found == 10000);
  CHECK(idn > 0);
  CHECK(hidden > 0);
  CHECK(glue > 0);
  CHECK(ds > 0);
}

TEST_CASE("the generator refuses to make an empty snapshot") {
  TempDir dir;
  GeneratorOptions options;
  options.domains = 0;
  CHECK_THROWS_WITH(whoisd::generate_snapshot(dir.file("none.sqlite"), options),
                    Catch::Contains(dir.file("none.sqlite")));
}
