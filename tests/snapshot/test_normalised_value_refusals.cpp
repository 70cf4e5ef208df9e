// Values the export's schema promises and SQLite does not enforce, which were published
// wrongly (an audit found them): whoisd-snapshot build refuses them, naming the export,
// the domain, the table and column and the value; the store's probes refuse a snapshot
// that holds one where they look; `whoisd-snapshot check`'s full comparison reports
// every domain that holds one, also in a snapshot built before build refused them.
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "snapshot/normalised_domain_reader.h"
#include "snapshot/published_record.h"
#include "snapshot/published_view.h"
#include "snapshot/snapshot_builder.h"
#include "snapshot/snapshot_store.h"
#include "snapshot/sqlite_handle.h"
#include "snapshot_test_util.h"
#include "support/fixture_snapshot.h"
#include "support/temp_dir.h"

using Catch::Contains;
using whoisd::test::fixture_copy;
using whoisd::test::open_error;
using whoisd::test::TempDir;

namespace {

// exemplo.pt (id 2): four name servers with IPv4 and IPv6 glue, two DS records; not
// reached by the store's open-time probes.
const std::string kDomain = "exemplo.pt";
const std::string kDomainId = "(SELECT id FROM domains WHERE a_label = 'exemplo.pt')";

// Builds a snapshot from a copy of the fixture edited by `sql` (the registry's export)
// and returns the message build refused it with, "" when it built. A refusal must name
// the export and leave no file behind (neither the snapshot nor its temporary file).
std::string build_refusal(const std::string& sql) {
  TempDir dir;
  const std::string export_path = fixture_copy(dir, "export.sqlite");
  whoisd::test::run_sql(export_path, sql);
  const std::string out = dir.file("out.sqlite");
  try {
    whoisd::build_snapshot_from_export(export_path, out);
  } catch (const whoisd::SnapshotError& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Contains("cannot build from " + export_path + ": "));
    // Not the snapshot, nor the temporary file it was being written to.
    for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
      CHECK(entry.path().filename() == "export.sqlite");
    return message;
  }
  return "";
}

std::string where_glue(int ns_position, int ip_version, int position) {
  return " WHERE domain_id = " + kDomainId + " AND ns_position = " + std::to_string(ns_position) +
         " AND ip_version = " + std::to_string(ip_version) + " AND position = " + std::to_string(position);
}

}  // namespace

TEST_CASE("build refuses a date that is not INTEGER Unix seconds") {
  // Read as an integer, '2021-03-04 10:00:00' was 2021, published as 01/01/1970 00:33:41.
  CHECK_THAT(build_refusal("UPDATE domains SET created = '2021-03-04 10:00:00' WHERE a_label = 'exemplo.pt'"),
             Contains("domain 'exemplo.pt': domains.created is TEXT '2021-03-04 10:00:00': expected an INTEGER "
                      "(Unix seconds, UTC)"));
  CHECK_THAT(build_refusal("UPDATE domains SET expires = 1772706030.5 WHERE a_label = 'exemplo.pt'"),
             Contains("domain 'exemplo.pt': domains.expires is REAL 1772706030.5"));
  CHECK_THAT(build_refusal("UPDATE domains SET expires = x'01' WHERE a_label = 'exemplo.pt'"),
             Contains("domains.expires is BLOB '\\x01'"));
  // An integer given as text is stored as INTEGER (the column's affinity): accepted.
  CHECK(build_refusal("UPDATE domains SET created = '983787630' WHERE a_label = 'exemplo.pt'") == "");
}

TEST_CASE("build refuses a DS number or a position that is not INTEGER") {
  // 12.5 passes CHECK (key_tag BETWEEN 0 AND 65535) and was published as 12.
  CHECK_THAT(build_refusal("UPDATE ds_records SET key_tag = 12.5 WHERE position = 2 AND domain_id = " + kDomainId),
             Contains("domain 'exemplo.pt': ds_records.key_tag (position 2) is REAL 12.5: expected an INTEGER from 0 "
                      "to 65535"));
  CHECK_THAT(build_refusal("UPDATE ds_records SET algorithm = 8.5 WHERE position = 1 AND domain_id = " + kDomainId),
             Contains("ds_records.algorithm (position 1) is REAL 8.5"));
  CHECK_THAT(build_refusal("UPDATE ds_records SET digest_type = 2.5 WHERE position = 1 AND domain_id = " + kDomainId),
             Contains("ds_records.digest_type (position 1) is REAL 2.5"));
  // 'x' >= 1 holds in SQLite (TEXT sorts after numbers): the position CHECK lets it in.
  CHECK_THAT(build_refusal("UPDATE name_servers SET position = 'x' WHERE position = 4 AND domain_id = " + kDomainId),
             Contains("domain 'exemplo.pt': name_servers.position is TEXT 'x'"));
  CHECK_THAT(build_refusal("UPDATE glue_addresses SET ns_position = 1.5" + where_glue(1, 4, 1)),
             Contains("glue_addresses.ns_position is REAL 1.5"));
}

TEST_CASE("build refuses a name server host that is not a lower-case A-label") {
  const std::string where = " WHERE position = 2 AND domain_id = " + kDomainId;
  // Net::Whois::Parser read this as host 'ns1.a.pt' with address 'evil.pt'.
  CHECK_THAT(build_refusal("UPDATE name_servers SET host = 'ns1.a.pt' || char(160) || 'evil.pt'" + where),
             Contains("domain 'exemplo.pt': name_servers.host (position 2) is 'ns1.a.pt\\xc2\\xa0evil.pt': byte "
                      "0xc2 at offset 8"));
  CHECK_THAT(build_refusal("UPDATE name_servers SET host = 'NS2.Exemplo.pt'" + where),
             Contains("name_servers.host (position 2) is 'NS2.Exemplo.pt': it has upper case"));
  CHECK_THAT(build_refusal("UPDATE name_servers SET host = 'ns2.exemplo.pt.'" + where),
             Contains("name_servers.host (position 2) is 'ns2.exemplo.pt.': it ends in a dot"));
  CHECK_THAT(build_refusal("UPDATE name_servers SET host = 'ns2..exemplo.pt'" + where),
             Contains("name_servers.host (position 2) is 'ns2..exemplo.pt': it has an empty label"));
  CHECK_THAT(build_refusal("UPDATE name_servers SET host = 'ns2.' || hex(zeroblob(32)) || '.pt'" + where),
             Contains("name_servers.host (position 2)") && Contains("is 64 octets long, at most 63"));
  CHECK_THAT(build_refusal("UPDATE name_servers SET host = 'ns2.exemplo.pt' || char(13, 10) || 'Domain: x.pt'" + where),
             Contains("is 'ns2.exemplo.pt\\x0d\\x0aDomain: x.pt': byte 0x0d at offset 14"));
}

TEST_CASE("build refuses an 'xn--' name server label that is not the A-label of a valid U-label") {
  const std::string where = " WHERE position = 2 AND domain_id = " + kDomainId;
  auto host = [&](const std::string& value) { return build_refusal("UPDATE name_servers SET host = '" + value + "'" + where); };
  // Punycode that decodes to nothing ICU accepts as a label.
  CHECK_THAT(host("ns2.xn--abc.pt"),
             Contains("domain 'exemplo.pt': name_servers.host (position 2) is 'ns2.xn--abc.pt': its label 'xn--abc' is "
                      "not a valid A-label: "));
  // 'a' and a combining acute accent: not NFC (its U-label would be 'á', A-label xn--1ca).
  CHECK_THAT(host("ns2.xn--a-xbb.pt"), Contains("its label 'xn--a-xbb' is not a valid A-label: ") &&
                                           Contains("does not decode to a valid U-label"));
  // A zero width non-joiner alone (RFC 5892 CONTEXTJ).
  CHECK_THAT(host("ns2.xn--0ug.pt"), Contains("its label 'xn--0ug' is not a valid A-label: ") && Contains("joiner"));
  // Latin letters, then an Arabic one (RFC 5893, the Bidi rule).
  CHECK_THAT(host("ns2.xn--ab-ivd.pt"), Contains("its label 'xn--ab-ivd' is not a valid A-label: ") &&
                                            Contains("right-to-left"));
  // Decodes to 'xn--aç': a U-label with hyphens in the third and fourth places.
  CHECK_THAT(host("ns2.xn--xn--a-2ra.pt"), Contains("its label 'xn--xn--a-2ra' is not a valid A-label: ") &&
                                               Contains("third and fourth"));
  // Valid A-labels, and labels with hyphens in places 3-4 that are not 'xn--' (RFC 1123 hosts).
  CHECK(host("ns2.xn--aores-yra.pt") == "");
  CHECK(host("ns2.xn--e1afmkfd.example") == "");
  CHECK(host("ab--cd.exemplo.pt") == "");
}

TEST_CASE("build refuses glue that is not an address of its family") {
  CHECK_THAT(build_refusal("UPDATE glue_addresses SET address = '192.0.2.256'" + where_glue(2, 4, 1)),
             Contains("domain 'exemplo.pt': glue_addresses.address (name server 2, IPv4 position 1) is "
                      "'192.0.2.256': not an IPv4 address (ip_version 4)"));
  CHECK_THAT(build_refusal("UPDATE glue_addresses SET address = '2001:db8::1'" + where_glue(2, 4, 1)),
             Contains("(name server 2, IPv4 position 1) is '2001:db8::1': not an IPv4 address"));
  CHECK_THAT(build_refusal("UPDATE glue_addresses SET address = '192.0.2.1 evil.pt'" + where_glue(2, 4, 1)),
             Contains("is '192.0.2.1 evil.pt': not an IPv4 address"));
  CHECK_THAT(build_refusal("UPDATE glue_addresses SET address = '2001:db8::g'" + where_glue(2, 6, 3)),
             Contains("domain 'exemplo.pt': glue_addresses.address (name server 2, IPv6 position 3) is "
                      "'2001:db8::g': not an IPv6 address (ip_version 6)"));
  CHECK_THAT(build_refusal("UPDATE glue_addresses SET address = '198.51.100.20'" + where_glue(2, 6, 3)),
             Contains("is '198.51.100.20': not an IPv6 address"));
}

TEST_CASE("build refuses glue of a name server the domain does not list") {
  // The foreign key to name_servers is not enforced by SQLite: such glue was dropped unseen.
  CHECK_THAT(build_refusal("UPDATE glue_addresses SET ns_position = 9" + where_glue(2, 4, 1)),
             Contains("domain 'exemplo.pt': glue_addresses.ns_position is 9: no name server of the domain has that "
                      "position"));
}

TEST_CASE("build refuses a DS digest that is not whole octets of hex") {
  const std::string where = " WHERE position = 1 AND domain_id = " + kDomainId;
  CHECK_THAT(build_refusal("UPDATE ds_records SET digest = 'ABC'" + where),
             Contains("domain 'exemplo.pt': ds_records.digest (position 1) is 'ABC': it has 3 hexadecimal digits, "
                      "an odd number"));
  // The CHECK (digest NOT GLOB '*[^0-9A-Fa-f]*') reads text up to a NUL only: what
  // follows one got past it.
  CHECK_THAT(build_refusal("UPDATE ds_records SET digest = 'ABCD' || char(0) || 'evil'" + where),
             Contains("ds_records.digest (position 1) is 'ABCD\\x00evil': byte 0x00 at offset 4 is not a "
                      "hexadecimal digit"));
}

TEST_CASE("build refuses a DS digest whose length is not that of its digest type") {
  auto ds = [&](int digest_type, std::size_t octets) {
    return build_refusal("UPDATE ds_records SET digest_type = " + std::to_string(digest_type) + ", digest = '" +
                         std::string(octets * 2, 'A') + "' WHERE position = 1 AND domain_id = " + kDomainId);
  };
  // RFC 3658/4034: SHA-1, 20 octets; RFC 4509: SHA-256, 32; RFC 5933: GOST R 34.11-94, 32; RFC 6605: SHA-384, 48;
  // RFC 9558: GOST R 34.11-2012, 32; RFC 9563: SM3, 32.
  CHECK_THAT(ds(2, 20), Contains("domain 'exemplo.pt': ds_records.digest (position 1) is '" + std::string(40, 'A') +
                                 "': digest type 2 (SHA-256) is 32 octets, this one 20"));
  CHECK_THAT(ds(1, 32), Contains("digest type 1 (SHA-1) is 20 octets, this one 32"));
  CHECK_THAT(ds(3, 48), Contains("digest type 3 (GOST R 34.11-94) is 32 octets, this one 48"));
  CHECK_THAT(ds(4, 32), Contains("digest type 4 (SHA-384) is 48 octets, this one 32"));
  CHECK_THAT(ds(2, 33), Contains("digest type 2 (SHA-256) is 32 octets, this one 33"));
  CHECK_THAT(ds(5, 64), Contains("digest type 5 (GOST R 34.11-2012) is 32 octets, this one 64"));
  CHECK_THAT(ds(6, 1), Contains("digest type 6 (SM3) is 32 octets, this one 1"));
  CHECK(ds(1, 20) == "");
  CHECK(ds(2, 32) == "");
  CHECK(ds(3, 32) == "");
  CHECK(ds(4, 48) == "");
  CHECK(ds(5, 32) == "");
  CHECK(ds(6, 32) == "");
  // Other digest types (0 reserved, unassigned, or assigned after these rules) keep the
  // rule every digest has: whole octets of hex, any length.
  CHECK(ds(0, 20) == "");
  CHECK(ds(7, 1) == "");
  CHECK(ds(200, 7) == "");
}

TEST_CASE("build lists every domain it refuses, each with its fault, then fails without leaving a file") {
  // Three faults in three domains, one of them found by the reader's rules, one by the
  // query parser (a domain whoisd could never answer for), one by the DS rule.
  const std::string three =
      "UPDATE domains SET created = 'yesterday' WHERE a_label = 'exemplo.pt'; "
      "UPDATE name_servers SET host = 'ns1.a.pt evil.pt' WHERE position = 1 AND domain_id = "
      "(SELECT id FROM domains WHERE a_label = 'xn--aores-yra.pt'); "
      "UPDATE domains SET a_label = 'net.pt', u_label = 'net.pt' WHERE a_label = 'ip.pt';";
  const std::string message = build_refusal(three);
  CHECK_THAT(message, Contains("3 domains refused"));
  CHECK_THAT(message, Contains("\n  domain 'exemplo.pt': domains.created is TEXT 'yesterday'"));
  CHECK_THAT(message, Contains("\n  domain 'xn--aores-yra.pt': name_servers.host (position 1) is 'ns1.a.pt evil.pt'"));
  CHECK_THAT(message, Contains("\n  domain 'net.pt': domains.a_label is 'net.pt': a query for it is refused "
                               "(hierarchy name, not a domain)"));
  CHECK_THAT(message, !Contains("more"));

  // Every domain refused: the first 20 are listed, in a_label order, and the rest counted.
  const std::string all = build_refusal("UPDATE domains SET expires = 'never'");
  CHECK_THAT(all, Contains("36 domains refused"));
  const std::vector<std::string> names = whoisd::test::all_a_labels(whoisd::test::shared_fixture_snapshot());
  REQUIRE(names.size() == 36);
  std::size_t listed = 0;
  for (std::size_t pos = 0; (pos = all.find("\n  domain '", pos)) != std::string::npos; ++pos) ++listed;
  CHECK(listed == 20);
  CHECK_THAT(all, Contains("\n  domain '" + names[19] + "': domains.expires is TEXT 'never'"));
  CHECK_THAT(all, !Contains("domain '" + names[20] + "'"));
  CHECK_THAT(all, Contains("\n  ... and 16 more"));
}

TEST_CASE("build publishes glue in canonical text and keeps the export's own text in the normalised table") {
  TempDir dir;
  const std::string export_path = fixture_copy(dir, "export.sqlite");
  whoisd::test::run_sql(export_path, "UPDATE glue_addresses SET address = '2001:0DB8:0020:0000:0000:0000:0000:0001'" +
                                         where_glue(2, 6, 1));
  const std::string out = dir.file("out.sqlite");
  REQUIRE(whoisd::build_snapshot_from_export(export_path, out) == 36);
  whoisd::SnapshotStore store(out);
  store.open();
  std::optional<whoisd::PublishedDomain> d = store.lookup(kDomain);
  REQUIRE(d);
  REQUIRE(d->name_servers.size() == 4);
  CHECK(d->name_servers[1].ipv6 ==
        std::vector<std::string>{"2001:db8:20::1", "2001:db8:20::2", "2001:db8:20::3"});
  whoisd::sqlite::Db db =
      whoisd::sqlite::open(whoisd::sqlite::immutable_uri(out), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
  CHECK(whoisd::sqlite::query_int(db.get(), "SELECT count(*) FROM glue_addresses WHERE address = "
                                            "'2001:0DB8:0020:0000:0000:0000:0000:0001'") == 1);
  CHECK(whoisd::compare_published_view(db.get(), 36, 10).mismatches.count() == 0);
}

TEST_CASE("a snapshot built before build refused them: check reports each such domain, the probes refuse one") {
  TempDir dir;
  const std::string path = fixture_copy(dir);
  // As an older build left it (sealed below): the normalised row and the published record agree on a
  // value whoisd now refuses, so nothing looks stale.
  auto publish_as_older_build = [&](const std::string& a_label, const std::string& sql,
                                    const std::function<void(whoisd::PublishedDomain&)>& edit) {
    std::optional<whoisd::PublishedDomain> d;
    {
      whoisd::sqlite::Db db = whoisd::sqlite::open(path, SQLITE_OPEN_READONLY);
      d = whoisd::NormalisedDomainReader(db.get()).read(a_label);
    }
    REQUIRE(d);
    edit(*d);
    whoisd::test::run_sql(path, sql);
    const std::string record = whoisd::encode_published_record(*d);
    whoisd::sqlite::Db db = whoisd::sqlite::open(path, SQLITE_OPEN_READWRITE);
    whoisd::sqlite::Stmt set = whoisd::sqlite::prepare(db.get(), "UPDATE published_domains SET record = ?2 WHERE a_label = ?1");
    sqlite3_bind_text(set.get(), 1, a_label.data(), static_cast<int>(a_label.size()), SQLITE_STATIC);
    sqlite3_bind_blob(set.get(), 2, record.data(), static_cast<int>(record.size()), SQLITE_STATIC);
    REQUIRE(sqlite3_step(set.get()) == SQLITE_DONE);
  };
  publish_as_older_build(kDomain,
                         "UPDATE name_servers SET host = 'ns2.a.pt' || char(160) || 'evil.pt' WHERE position = 2 AND "
                         "domain_id = " + kDomainId,
                         [](whoisd::PublishedDomain& d) { d.name_servers[1].host = "ns2.a.pt\xC2\xA0" "evil.pt"; });
  publish_as_older_build("longo.pt", "UPDATE domains SET created = '2021-03-04 10:00:00' WHERE a_label = 'longo.pt'",
                         [](whoisd::PublishedDomain& d) { d.created = 2021; });
  whoisd::test::forge_seal(path);
  // Neither domain is probed on open: the file opens ...
  CHECK(open_error(path) == "");
  // ... and the full comparison (`whoisd-snapshot check`) reports both, so check does
  // not call the file valid.
  whoisd::sqlite::Db db =
      whoisd::sqlite::open(whoisd::sqlite::immutable_uri(path), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
  const whoisd::PublishedViewComparison result = whoisd::compare_published_view(db.get(), 36, 10);
  CHECK(result.mismatches.count() == 2);
  CHECK(result.refused == 2);
  CHECK(result.domains == 36);
  std::string all;
  for (const std::string& line : result.mismatches.listed()) all += line + "\n";
  CHECK_THAT(all, Contains("domain 'exemplo.pt': name_servers.host (position 2) is 'ns2.a.pt\\xc2\\xa0evil.pt'"));
  CHECK_THAT(all, Contains("domain 'longo.pt': domains.created is TEXT '2021-03-04 10:00:00'"));

  // A probed domain (the first): the store refuses the file, and does not call it stale.
  const std::string first = whoisd::test::all_a_labels(path).front();
  REQUIRE(first == "123-abc.pt");
  publish_as_older_build(first, "UPDATE domains SET created = '2021-03-04 10:00:00' WHERE a_label = '123-abc.pt'",
                         [](whoisd::PublishedDomain& d) { d.created = 2021; });
  const std::string error = open_error(path);
  CHECK_THAT(error, Contains(path + ": its normalised tables hold a value whoisd does not publish") &&
                        Contains("domain '123-abc.pt': domains.created is TEXT") &&
                        Contains("correct the export and build the snapshot again") && !Contains("stale"));
}
