// published_domains, the derived per-domain table lookups read (schema.sql): it holds
// exactly what the normalised tables publish, for every fixture and generated domain;
// the store refuses an old layout, a missing or wrong domain_count, and a stale, edited
// or garbage derived table where it probes, and a garbage record it meets later is a
// SnapshotError naming the file and the domain; `compare_published_view` (what
// `whoisd-snapshot check` runs) finds every difference; `build_snapshot_from_export`
// makes a servable file of a registry export without touching it.
#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>

#include "snapshot/normalised_domain_reader.h"
#include "snapshot/published_record.h"
#include "snapshot/published_view.h"
#include "snapshot/snapshot_builder.h"
#include "snapshot/snapshot_generator.h"
#include "snapshot/snapshot_store.h"
#include "snapshot/sqlite_handle.h"
#include "snapshot_test_util.h"
#include "support/fixture_snapshot.h"
#include "support/temp_dir.h"

using whoisd::PublishedDomain;
using whoisd::SnapshotError;
using whoisd::SnapshotStore;
using whoisd::test::fixture_copy;
using whoisd::test::open_error;
using whoisd::test::TempDir;

namespace {

whoisd::sqlite::Db open_read_only(const std::string& path) {
  return whoisd::sqlite::open(whoisd::sqlite::immutable_uri(path), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
}

// Every domain of the file looked up through the store (published_domains) equals what
// the normalised statements give; returns how many were compared.
std::size_t check_derived_equals_normalised(const std::string& path) {
  SnapshotStore store(path);
  store.open();
  whoisd::sqlite::Db db = open_read_only(path);
  whoisd::NormalisedDomainReader normalised(db.get());
  std::size_t compared = 0;
  for (const std::string& name : whoisd::test::all_a_labels(path)) {
    std::optional<PublishedDomain> derived = store.lookup(name);
    std::optional<PublishedDomain> expected = normalised.read(name);
    INFO(name);
    REQUIRE(derived);
    REQUIRE(expected);
    CHECK(whoisd::first_difference(*expected, *derived) == "");
    CHECK(*derived == *expected);
    ++compared;
  }
  return compared;
}

whoisd::PublishedViewComparison compare(const std::string& path, std::int64_t domain_count) {
  whoisd::sqlite::Db db = open_read_only(path);
  return whoisd::compare_published_view(db.get(), domain_count, 10);
}

// Replaces the record of a_label in the file at path.
void set_record(const std::string& path, const std::string& a_label, const std::string& record) {
  whoisd::sqlite::Db db = whoisd::sqlite::open(path, SQLITE_OPEN_READWRITE);
  whoisd::sqlite::Stmt stmt =
      whoisd::sqlite::prepare(db.get(), "UPDATE published_domains SET record = ?2 WHERE a_label = ?1");
  sqlite3_bind_text(stmt.get(), 1, a_label.data(), static_cast<int>(a_label.size()), SQLITE_STATIC);
  sqlite3_bind_blob(stmt.get(), 2, record.data(), static_cast<int>(record.size()), SQLITE_STATIC);
  REQUIRE(sqlite3_step(stmt.get()) == SQLITE_DONE);
  REQUIRE(sqlite3_changes(db.get()) == 1);
}

// Renames the fixture's domain `from` to `to` (a_label and u_label) in domains and in
// published_domains of the file at path, its record rewritten to match the row: a file
// made by hand (or by an older build) whose records agree with its normalised tables.
void rename_domain(const std::string& path, const std::string& from, const std::string& to) {
  whoisd::sqlite::Db fixture = open_read_only(whoisd::test::shared_fixture_snapshot());
  PublishedDomain d = *whoisd::NormalisedDomainReader(fixture.get()).read(from);
  d.u_label = to;
  whoisd::test::run_sql(path, "UPDATE domains SET a_label = '" + to + "', u_label = '" + to + "' WHERE a_label = '" +
                                  from + "'; UPDATE published_domains SET a_label = '" + to + "' WHERE a_label = '" +
                                  from + "';");
  set_record(path, to, whoisd::encode_published_record(d));
}

// Domains the open-time probes do not reach (not first at or after any probe point,
// not last): their records are only read by lookups and by the full comparison.
const std::string kUnprobed = "exemplo.pt";
const std::string kOtherUnprobed = "longo.pt";

}  // namespace

TEST_CASE("published_domains equals the normalised tables for every fixture domain") {
  CHECK(check_derived_equals_normalised(whoisd::test::shared_fixture_snapshot()) == 36);
  whoisd::PublishedViewComparison result = compare(whoisd::test::shared_fixture_snapshot(), 36);
  CHECK(result.mismatches.count() == 0);
  CHECK(result.domains == 36);
  CHECK(result.published == 36);
}

TEST_CASE("published_domains equals the normalised tables for every domain of a generated file") {
  TempDir dir;
  whoisd::GeneratorOptions options;
  options.domains = 3000;
  options.seed = 11;
  whoisd::generate_snapshot(dir.file("gen.sqlite"), options);
  CHECK(check_derived_equals_normalised(dir.file("gen.sqlite")) == 3000);
  CHECK(compare(dir.file("gen.sqlite"), 3000).mismatches.count() == 0);
  CHECK(whoisd::validate_snapshot(dir.file("gen.sqlite"), false).domains == 3000);
}

TEST_CASE("no never-published value is stored in published_domains, not even in the bytes") {
  whoisd::sqlite::Db db = open_read_only(whoisd::test::shared_fixture_snapshot());
  // PHONE-, FAX-, NIF-, ARBITRATION-, HANDLE-, ADDR- and OPTOUT-SECRET markers.
  CHECK(whoisd::sqlite::query_int(db.get(), "SELECT count(*) FROM published_domains WHERE instr(record, "
                                            "CAST('SECRET' AS BLOB)) > 0") == 0);
  CHECK(whoisd::sqlite::query_int(db.get(), "SELECT count(*) FROM published_domains") == 36);
}

TEST_CASE("the layout of version 1 is refused with the command that converts it, which works") {
  TempDir dir;
  std::string old_path = fixture_copy(dir, "old.sqlite");
  whoisd::test::run_sql(old_path, "DROP TABLE published_domains; DELETE FROM meta WHERE key = 'domain_count'; "
                                  "UPDATE meta SET value = '1' WHERE key = 'schema_version'; PRAGMA user_version = 1;");
  const std::string before = whoisd::test::read_bytes(old_path);
  CHECK_THAT(open_error(old_path), Catch::Contains(old_path) && Catch::Contains("schema version 1") &&
                                       Catch::Contains("published_domains") &&
                                       Catch::Contains("whoisd-snapshot build " + old_path + " --out"));

  std::string built = dir.file("built.sqlite");
  CHECK(whoisd::build_snapshot_from_export(old_path, built) == 36);
  CHECK(whoisd::test::read_bytes(old_path) == before);  // the export is never written
  CHECK(check_derived_equals_normalised(built) == 36);
  // The normalised content is copied whole (meta's version, count and seal aside).
  whoisd::test::run_sql(old_path, "UPDATE meta SET value = '2' WHERE key = 'schema_version'; PRAGMA user_version = 2; "
                                  "INSERT INTO meta VALUES ('domain_count', '36');");
  whoisd::test::run_sql(old_path, "DELETE FROM meta WHERE key = 'sealed_change_counter'");
  const std::string built_copy = dir.file("built-copy.sqlite");
  whoisd::test::copy_file(built, built_copy);
  whoisd::test::unseal(built_copy);
  CHECK(whoisd::test::dump_content(built_copy) == whoisd::test::dump_content(old_path));

  CHECK_THROWS_WITH(whoisd::build_snapshot_from_export(built, built), Catch::Contains("is the export itself"));
}

TEST_CASE("a version-2 file without published_domains is refused, naming the table and the command") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::test::run_sql(path, "DROP TABLE published_domains");
  CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("missing table 'published_domains'") &&
                                   Catch::Contains("whoisd-snapshot build"));
}

TEST_CASE("build refuses a domain whoisd could never answer for, or would print under another name") {
  TempDir dir;
  auto refused = [&](const std::string& sql) {
    std::string path = fixture_copy(dir, "edited.sqlite");
    whoisd::test::run_sql(path, sql);
    try {
      whoisd::build_snapshot_from_export(path, dir.file("out.sqlite"));
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  // A 64-octet label: DNS allows 63, and the parser refuses the query.
  CHECK_THAT(refused("UPDATE domains SET a_label = 'x' || a_label, u_label = 'x' || u_label WHERE a_label LIKE "
                     "'a123456789-%'"),
             Catch::Contains("domain 'xa123456789-") && Catch::Contains("refused (label too long)"));
  // A hierarchy's own name registered directly under .pt.
  CHECK_THAT(refused("UPDATE domains SET a_label = 'net.pt', u_label = 'net.pt' WHERE a_label = 'ip.pt'"),
             Catch::Contains("domain 'net.pt'") && Catch::Contains("hierarchy name"));
  // An 'xn--' label that does not decode, or not to a valid U-label: the query parser
  // (whoisd's UTS #46 options, as for name servers' A-labels) refuses a query for it.
  CHECK_THAT(refused("UPDATE domains SET a_label = 'xn--abc.pt', u_label = 'xn--abc.pt' WHERE a_label = 'ip.pt'"),
             Catch::Contains("domain 'xn--abc.pt'") && Catch::Contains("refused (malformed IDN (punycode))"));
  CHECK_THAT(refused("UPDATE domains SET a_label = 'xn--ab-ivd.pt', u_label = 'xn--ab-ivd.pt' WHERE a_label = 'ip.pt'"),
             Catch::Contains("domain 'xn--ab-ivd.pt'") && Catch::Contains("refused (invalid right-to-left label)"));
  // A u_label that is not the a_label's Unicode form: "Domain:" would name another domain.
  CHECK_THAT(refused("UPDATE domains SET u_label = 'evil.pt' WHERE a_label = 'xn--aores-yra.pt'"),
             Catch::Contains("domain 'xn--aores-yra.pt'") && Catch::Contains("domains.u_label is 'evil.pt'") &&
                 Catch::Contains("'açores.pt'"));
}

TEST_CASE("an empty export is refused by build, naming the export") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::test::run_sql(path, "DELETE FROM published_domains; DELETE FROM ds_records; DELETE FROM glue_addresses; "
                              "DELETE FROM name_servers; DELETE FROM domains;");
  CHECK_THROWS_WITH(whoisd::build_snapshot_from_export(path, dir.file("out.sqlite")),
                    path + ": holds no domains (an empty export?)");
}

TEST_CASE("an export lacking a normalised table or column is refused by build, naming it") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::test::run_sql(path, "ALTER TABLE contacts DROP COLUMN zip_locality");
  CHECK_THROWS_WITH(whoisd::build_snapshot_from_export(path, dir.file("out.sqlite")),
                    Catch::Contains(path) && Catch::Contains("contacts") && Catch::Contains("zip_locality"));
  std::string other = fixture_copy(dir, "other.sqlite");
  whoisd::test::run_sql(other, "DROP TABLE glue_addresses");
  CHECK_THROWS_WITH(whoisd::build_snapshot_from_export(other, dir.file("out.sqlite")),
                    Catch::Contains(other) && Catch::Contains("glue_addresses"));
}

TEST_CASE("an export whose meta lacks what whoisd requires is refused by build before it builds, naming the export") {
  // The store's rules on the exported keys, applied to the export: the error named the
  // temporary file, after a whole build, when only the store's validation applied them.
  TempDir dir;
  const std::string out = dir.file("out.sqlite");
  std::string no_source = fixture_copy(dir, "no-source.sqlite");
  whoisd::test::run_sql(no_source, "DELETE FROM meta WHERE key = 'source'");
  CHECK_THROWS_WITH(whoisd::build_snapshot_from_export(no_source, out),
                    no_source + ": meta table lacks the key 'source'");
  std::string bad_date = fixture_copy(dir, "bad-date.sqlite");
  whoisd::test::run_sql(bad_date, "UPDATE meta SET value = 'yesterday' WHERE key = 'exported_at'");
  CHECK_THROWS_WITH(whoisd::build_snapshot_from_export(bad_date, out),
                    bad_date + ": meta exported_at is 'yesterday', expected Unix seconds");
  std::string no_meta = fixture_copy(dir, "no-meta.sqlite");
  whoisd::test::run_sql(no_meta, "DROP TABLE meta");
  CHECK_THROWS_WITH(whoisd::build_snapshot_from_export(no_meta, out),
                    Catch::Contains(no_meta + ": ") && Catch::Contains("meta"));
  CHECK_FALSE(std::filesystem::exists(out));
}

TEST_CASE("meta domain_count: missing or not a number is refused; a wrong number is found by the full comparison") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  SECTION("missing") {
    whoisd::test::run_sql(path, "DELETE FROM meta WHERE key = 'domain_count'");
    CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("lacks the key 'domain_count'") &&
                                     Catch::Contains("whoisd-snapshot build"));
  }
  SECTION("not a number") {
    whoisd::test::run_sql(path, "UPDATE meta SET value = 'many' WHERE key = 'domain_count'");
    CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("domain_count is 'many'"));
    whoisd::test::run_sql(path, "UPDATE meta SET value = '-5' WHERE key = 'domain_count'");
    CHECK_THAT(open_error(path), Catch::Contains("domain_count is '-5'"));
  }
  SECTION("zero") {
    whoisd::test::run_sql(path, "UPDATE meta SET value = '0' WHERE key = 'domain_count'");
    CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("holds no domains"));
  }
  SECTION("a plausible wrong number: reported as it is on open (not counted), found by the comparison") {
    whoisd::test::run_sql(path, "UPDATE meta SET value = '37' WHERE key = 'domain_count'");
    whoisd::test::forge_seal(path);  // a sealed file is refused for any edit
    CHECK(whoisd::validate_snapshot(path, false).domains == 37);
    whoisd::PublishedViewComparison result = compare(path, 37);
    CHECK(result.mismatches.count() == 1);
    REQUIRE(result.mismatches.listed().size() == 1);
    CHECK_THAT(result.mismatches.listed()[0], Catch::Contains("meta 'domain_count' is 37, domains holds 36"));
  }
}

TEST_CASE("any edit of a built snapshot is refused: its published view would be stale") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  REQUIRE(open_error(path) == "");
  // An opt-out recorded in the served file by hand: published_domains still holds the
  // contact's data. (Here a probed domain shares the contact, so a probe names it first.)
  whoisd::test::run_sql(path, "UPDATE contacts SET opt_out = 1 WHERE id = (SELECT registrant_id FROM domains "
                              "WHERE a_label = '" + kUnprobed + "')");
  CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("whoisd-snapshot build " + path + " --out"));
  // An edit no probe can see, of a column that is never published.
  std::string unseen = fixture_copy(dir, "unseen.sqlite");
  whoisd::test::run_sql(unseen, "UPDATE contacts SET phone = '+351 000 000 000'");
  CHECK_THAT(open_error(unseen), Catch::Contains(unseen) && Catch::Contains("changed after whoisd-snapshot built it") &&
                                     Catch::Contains("whoisd-snapshot build " + unseen + " --out"));
  // So is a VACUUM (it moves the counter too), and a file emptied by hand.
  std::string vacuumed = fixture_copy(dir, "vacuumed.sqlite");
  whoisd::test::run_sql(vacuumed, "VACUUM");
  CHECK_THAT(open_error(vacuumed), Catch::Contains("changed after whoisd-snapshot built it"));
  std::string emptied = fixture_copy(dir, "emptied.sqlite");
  whoisd::test::run_sql(emptied, "DELETE FROM published_domains; DELETE FROM ds_records; DELETE FROM glue_addresses; "
                                 "DELETE FROM name_servers; DELETE FROM domains;");
  CHECK_THAT(open_error(emptied), Catch::Contains("changed after whoisd-snapshot built it"));
  // Building from the edited file makes it servable, the opt-out applied.
  std::string rebuilt = dir.file("rebuilt.sqlite");
  CHECK(whoisd::build_snapshot_from_export(path, rebuilt) == 36);
  CHECK(open_error(rebuilt) == "");
  SnapshotStore store(rebuilt);
  store.open();
  CHECK_FALSE(store.lookup(kUnprobed)->registrant.disclosed);
  // A file without the seal (built before it existed) is refused too: an edit of it could
  // not be told. Building from it seals it.
  std::string unsealed = fixture_copy(dir, "unsealed.sqlite");
  whoisd::test::unseal(unsealed);
  CHECK_THAT(open_error(unsealed), Catch::Contains(unsealed + ": not sealed by whoisd-snapshot") &&
                                       Catch::Contains("whoisd-snapshot build " + unsealed + " --out NEW.sqlite"));
  std::string resealed = dir.file("resealed.sqlite");
  CHECK(whoisd::build_snapshot_from_export(unsealed, resealed) == 36);
  CHECK(open_error(resealed) == "");
}

TEST_CASE("a stale published_domains is refused where the probes reach it") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::test::unseal(path);  // what the probes find in a file without the seal
  SECTION("a domain added to domains only (before every other name)") {
    whoisd::test::run_sql(path, "INSERT INTO domains SELECT id + 1000, '0-novo.pt', '0-novo.pt', hierarchy, created, "
                                "expires, status, registrant_id, admin_id, tech_id FROM domains WHERE a_label = 'exemplo.pt'");
    CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("does not match domains") &&
                                     Catch::Contains("'0-novo.pt' in domains") && Catch::Contains("whoisd-snapshot build"));
  }
  SECTION("the last domain removed from published_domains only") {
    whoisd::test::run_sql(path, "DELETE FROM published_domains WHERE a_label = (SELECT max(a_label) FROM domains)");
    CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("the last domain"));
  }
  SECTION("a probed domain's normalised data changed after the build") {
    const std::string first = whoisd::test::all_a_labels(path).front();
    whoisd::test::run_sql(path, "UPDATE domains SET status = 'SUSPENDED' WHERE a_label = '" + first + "'");
    CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("'" + first + "'") &&
                                     Catch::Contains("differs from the normalised tables in status"));
  }
  SECTION("a probed record edited by hand") {
    const std::string first = whoisd::test::all_a_labels(path).front();
    whoisd::sqlite::Db db = open_read_only(whoisd::test::shared_fixture_snapshot());
    PublishedDomain d = *whoisd::NormalisedDomainReader(db.get()).read(first);
    d.registrant.email = "forged@example.pt";
    set_record(path, first, whoisd::encode_published_record(d));
    CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("registrant"));
  }
}

TEST_CASE("the full comparison names an empty status, which schema.sql's CHECK keeps out of a build") {
  // Past the CHECK (a file made without it, or with PRAGMA ignore_check_constraints):
  // SQLite's quick_check does not verify CHECK constraints.
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::sqlite::Db fixture = open_read_only(whoisd::test::shared_fixture_snapshot());
  PublishedDomain d = *whoisd::NormalisedDomainReader(fixture.get()).read(kUnprobed);
  d.status = "";
  whoisd::test::run_sql(path, "PRAGMA ignore_check_constraints = ON; UPDATE domains SET status = '' WHERE a_label = '" +
                                  kUnprobed + "'");
  set_record(path, kUnprobed, whoisd::encode_published_record(d));
  whoisd::test::forge_seal(path);
  REQUIRE(whoisd::validate_snapshot(path, true).domains == 36);  // quick_check included
  whoisd::PublishedViewComparison result = compare(path, 36);
  CHECK(result.refused == 1);
  REQUIRE(result.mismatches.listed().size() == 1);
  CHECK(result.mismatches.listed()[0] ==
        "domain '" + kUnprobed + "': domains.status is '': expected the domain's status, e.g. 'ACTIVE'");
}

TEST_CASE("the full comparison names domains sharing an id, which schema.sql's UNIQUE keeps out of a build") {
  // A file made without the constraint (domains made anew without UNIQUE on id), whose
  // records were derived from it and sealed: kOtherUnprobed takes kUnprobed's id, so both
  // records hold the name servers of both, and match the normalised tables.
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::test::run_sql(
      path,
      "CREATE TABLE loose (id INTEGER NOT NULL, a_label TEXT NOT NULL PRIMARY KEY, u_label TEXT NOT NULL, "
      "hierarchy TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL, status TEXT NOT NULL, "
      "registrant_id INTEGER NOT NULL, admin_id INTEGER NOT NULL, tech_id INTEGER NOT NULL) WITHOUT ROWID; "
      "INSERT INTO loose SELECT id, a_label, u_label, hierarchy, created, expires, status, registrant_id, admin_id, "
      "tech_id FROM domains; DROP TABLE domains; ALTER TABLE loose RENAME TO domains; "
      "UPDATE domains SET id = (SELECT id FROM domains WHERE a_label = '" + kUnprobed + "') WHERE a_label = '" +
          kOtherUnprobed + "';");
  whoisd::test::rebuild_published_view(path);
  REQUIRE(open_error(path) == "");
  whoisd::PublishedViewComparison result = compare(path, 36);
  CHECK(result.mismatches.count() == 2);
  CHECK(result.refused == 2);
  REQUIRE(result.mismatches.listed().size() == 2);
  const std::string problem = "domains.id is 2, the id of 2 domains: expected each domain's own (schema.sql: UNIQUE), "
                              "else each is published with the name servers, glue and DS records of all of them";
  CHECK(result.mismatches.listed()[0] == "domain '" + kUnprobed + "': " + problem);
  CHECK(result.mismatches.listed()[1] == "domain '" + kOtherUnprobed + "': " + problem);
  // The fixture as built: no id is shared.
  CHECK(compare(whoisd::test::shared_fixture_snapshot(), 36).mismatches.count() == 0);
}

TEST_CASE("a probed domain whose name build refuses is refused on open, with what to correct") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  // Before every other 'xn--' name of the fixture: the first at or after the probe point 'xn--'.
  rename_domain(path, kUnprobed, "xn--abc.pt");
  whoisd::test::forge_seal(path);
  CHECK_THAT(open_error(path),
             Catch::Contains(path + ": its normalised tables hold a value whoisd does not publish: domain 'xn--abc.pt': "
                                    "domains.a_label is 'xn--abc.pt': a query for it is refused (malformed IDN "
                                    "(punycode)); correct the export and build the snapshot again"));
}

TEST_CASE("an edit the probes do not reach is found by the full comparison, naming domain and field") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::test::run_sql(path, "UPDATE name_servers SET host = 'ns9.exemplo.pt' WHERE position = 2 AND domain_id = "
                              "(SELECT id FROM domains WHERE a_label = '" + kUnprobed + "')");
  whoisd::test::run_sql(path, "DELETE FROM published_domains WHERE a_label = '" + kOtherUnprobed + "'");
  whoisd::test::forge_seal(path);  // behind a seal that matches, only the comparison finds it
  CHECK(open_error(path) == "");
  whoisd::PublishedViewComparison result = compare(path, 36);
  CHECK(result.mismatches.count() >= 2);
  std::string all;
  for (const auto& line : result.mismatches.listed()) all += line + "\n";
  CHECK_THAT(all, Catch::Contains("'" + kOtherUnprobed + "': in domains, missing from published_domains"));
  CHECK_THAT(all, Catch::Contains("'" + kUnprobed + "': differs from the normalised tables in name_servers[1]"));
}

TEST_CASE("the full comparison names a domain or host name build refuses, in a file built before it did") {
  // Made by hand, as an older build or another tool could have written it: the records
  // match the normalised rows, the seal matches, and no probe reaches these domains.
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::sqlite::Db fixture = open_read_only(whoisd::test::shared_fixture_snapshot());
  whoisd::NormalisedDomainReader normalised(fixture.get());
  // kUnprobed renamed to an 'xn--' label that is no A-label (its Punycode does not decode).
  rename_domain(path, kUnprobed, "xn--mabc.pt");
  // A u_label that is not the Unicode form of its a_label: "Domain:" names another domain.
  PublishedDomain bad_u_label = *normalised.read("registado.pt");
  bad_u_label.u_label = "evil.pt";
  whoisd::test::run_sql(path, "UPDATE domains SET u_label = 'evil.pt' WHERE a_label = 'registado.pt'");
  set_record(path, "registado.pt", whoisd::encode_published_record(bad_u_label));
  // A name server whose 'xn--' label is no A-label.
  PublishedDomain bad_host = *normalised.read(kOtherUnprobed);
  REQUIRE_FALSE(bad_host.name_servers.empty());
  bad_host.name_servers[0].host = "ns1.xn--mabc.pt";
  whoisd::test::run_sql(path, "UPDATE name_servers SET host = 'ns1.xn--mabc.pt' WHERE position = 1 AND domain_id = "
                              "(SELECT id FROM domains WHERE a_label = '" + kOtherUnprobed + "')");
  set_record(path, kOtherUnprobed, whoisd::encode_published_record(bad_host));
  whoisd::test::forge_seal(path);
  REQUIRE(open_error(path) == "");

  whoisd::PublishedViewComparison result = compare(path, 36);
  CHECK(result.mismatches.count() == 3);
  CHECK(result.refused == 3);  // rebuilding cannot help: the export must be corrected
  std::string all;
  for (const auto& line : result.mismatches.listed()) all += line + "\n";
  CHECK_THAT(all, Catch::Contains("domain 'xn--mabc.pt': domains.a_label is 'xn--mabc.pt': a query for it is refused "
                                  "(malformed IDN (punycode))\n"));
  CHECK_THAT(all, Catch::Contains("domain 'registado.pt': domains.u_label is 'evil.pt': it is not the Unicode form of "
                                  "its a_label ('registado.pt')\n"));
  CHECK_THAT(all, Catch::Contains("domain '" + kOtherUnprobed + "': name_servers.host (position 1) is "
                                  "'ns1.xn--mabc.pt': its label 'xn--mabc' is not a valid A-label"));
}

TEST_CASE("a garbage record is a SnapshotError naming the file, the domain and the fault, not a crash") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  // Each edit behind a forged seal: else it is refused before a record is read.
  SECTION("met by a lookup") {
    set_record(path, kUnprobed, std::string("\x01\x7f", 2));  // u_label claims 127 bytes, 0 follow
    whoisd::test::forge_seal(path);
    SnapshotStore store(path);
    store.open();
    CHECK_THROWS_WITH(store.lookup(kUnprobed), Catch::Contains(path) && Catch::Contains("'" + kUnprobed + "'") &&
                                                   Catch::Contains("u_label is 127 bytes long"));
    CHECK(store.lookup("ip.pt"));  // the other records still serve
  }
  SECTION("met by a probe on open") {
    const std::string first = whoisd::test::all_a_labels(path).front();
    set_record(path, first, std::string("\x09garbage", 8));
    whoisd::test::forge_seal(path);
    CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("'" + first + "'") &&
                                     Catch::Contains("format version 9"));
  }
  SECTION("a record that is not a blob at all") {
    whoisd::test::run_sql(path, "UPDATE published_domains SET record = 42 WHERE a_label = '" + kUnprobed + "'");
    whoisd::test::forge_seal(path);
    SnapshotStore store(path);
    store.open();
    CHECK_THROWS_AS(store.lookup(kUnprobed), SnapshotError);
  }
}

TEST_CASE("a published_domains without its key is refused: every lookup would scan it") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::test::run_sql(path, "CREATE TABLE copy AS SELECT * FROM published_domains; DROP TABLE published_domains; "
                              "ALTER TABLE copy RENAME TO published_domains;");
  CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("would read a whole table"));
}
