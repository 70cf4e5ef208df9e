// The binary record of published_domains (published_record.h; encoding in schema.sql):
// every fixture domain survives encode + decode unchanged, and a record that is cut
// short, has bytes left over, or carries a wrong version, flag, count, length or range
// is a PublishedRecordError saying what is wrong — never a crash or a wrong domain.
#include <catch2/catch.hpp>

#include <algorithm>

#include "snapshot/normalised_domain_reader.h"
#include "snapshot/published_record.h"
#include "snapshot/sqlite_handle.h"
#include "snapshot_test_util.h"
#include "support/fixture_snapshot.h"

using whoisd::PublishedDomain;
using whoisd::PublishedRecordError;

namespace {

std::vector<PublishedDomain> fixture_domains() {
  const std::string& path = whoisd::test::shared_fixture_snapshot();
  whoisd::sqlite::Db db =
      whoisd::sqlite::open(whoisd::sqlite::immutable_uri(path), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
  whoisd::NormalisedDomainReader reader(db.get());
  std::vector<PublishedDomain> out;
  for (const std::string& name : whoisd::test::all_a_labels(path)) out.push_back(*reader.read(name));
  return out;
}

PublishedDomain small_domain() {
  PublishedDomain d;
  d.a_label = "x.pt";
  d.u_label = "x.pt";
  d.status = "ACTIVE";
  d.created = -5;
  d.expires = 1816127982;
  d.registrant.name = "R";
  d.admin.disclosed = false;
  d.tech.name = "T";
  d.name_servers.push_back({"ns.x.pt", {"192.0.2.1"}, {"2001:db8::1"}});
  d.ds_records.push_back({65535, 255, 255, "AB"});
  return d;
}

}  // namespace

TEST_CASE("every fixture domain survives encoding and decoding unchanged") {
  for (const PublishedDomain& d : fixture_domains()) {
    INFO(d.a_label);
    PublishedDomain back = whoisd::decode_published_record(d.a_label, whoisd::encode_published_record(d));
    CHECK(whoisd::first_difference(d, back) == "");
    CHECK(back == d);
  }
  PublishedDomain d = small_domain();
  CHECK(whoisd::decode_published_record("x.pt", whoisd::encode_published_record(d)) == d);
}

TEST_CASE("decoding into a reused PublishedDomain leaves nothing of the domain it held before") {
  // The server decodes every record into one PublishedDomain per thread: an undisclosed
  // contact, fewer name servers, glue or DS records must not keep the previous values.
  std::vector<PublishedDomain> domains = fixture_domains();
  PublishedDomain full = small_domain();
  full.admin.disclosed = true;
  full.admin.name = "A";
  full.admin.email = "a@x.pt";
  full.registrant.email = "r@x.pt";
  full.name_servers.push_back({"ns2.x.pt", {"192.0.2.2", "192.0.2.3"}, {"2001:db8::2"}});
  full.ds_records.push_back({1, 8, 2, "CD"});
  PublishedDomain bare;
  bare.a_label = bare.u_label = "y.pt";
  bare.status = "ACTIVE";
  bare.registrant.disclosed = bare.admin.disclosed = bare.tech.disclosed = false;
  domains.push_back(full);
  domains.push_back(bare);
  domains.push_back(full);
  PublishedDomain reused;
  for (int pass = 0; pass < 2; ++pass) {
    for (const PublishedDomain& d : domains) {
      INFO(d.a_label);
      whoisd::decode_published_record(d.a_label, whoisd::encode_published_record(d), reused);
      CHECK(whoisd::first_difference(d, reused) == "");
      CHECK(reused == d);
    }
    std::reverse(domains.begin(), domains.end());
  }
}

TEST_CASE("a record cut short anywhere, or with bytes left over, is refused") {
  for (const PublishedDomain& d : fixture_domains()) {
    const std::string record = whoisd::encode_published_record(d);
    INFO(d.a_label);
    for (std::size_t length = 0; length < record.size(); ++length) {
      CHECK_THROWS_AS(whoisd::decode_published_record(d.a_label, record.substr(0, length)), PublishedRecordError);
    }
    CHECK_THROWS_WITH(whoisd::decode_published_record(d.a_label, record + '\0'),
                      Catch::Contains("1 bytes after the last field"));
  }
}

TEST_CASE("wrong versions, flags, varints, ranges and digests are refused, saying what") {
  const std::string good = whoisd::encode_published_record(small_domain());
  auto decode = [](const std::string& record) { return whoisd::decode_published_record("x.pt", record); };
  CHECK_THROWS_WITH(decode(""), Catch::Contains("empty"));
  std::string bad = good;
  bad[0] = 2;
  CHECK_THROWS_WITH(decode(bad), Catch::Contains("format version 2"));
  // Byte layout of small_domain: version, u_label (5), status (7), created, expires (5),
  // then the flags.
  const std::size_t flags_at = 1 + 5 + 7 + 1 + 5;
  REQUIRE(static_cast<unsigned char>(good[flags_at]) == 5);  // registrant and tech disclosed
  bad = good;
  bad[flags_at] = 8 | 5;
  CHECK_THROWS_WITH(decode(bad), Catch::Contains("unknown bits"));
  // An over-long varint for u_label's length, one that overflows, one with a needless 0.
  CHECK_THROWS_WITH(decode(std::string("\x01") + std::string(11, '\x80')), Catch::Contains("varint"));
  CHECK_THROWS_WITH(decode(std::string("\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11)),
                    Catch::Contains("overflows"));
  CHECK_THROWS_WITH(decode(std::string("\x01\x84\x00", 3)), Catch::Contains("superfluous"));
  // A name-server count far beyond the bytes left.
  PublishedDomain none = small_domain();
  none.name_servers.clear();
  none.ds_records.clear();
  std::string record = whoisd::encode_published_record(none);
  record.resize(record.size() - 2);
  record += std::string("\xff\xff\xff\x7f\x00", 5);
  CHECK_THROWS_WITH(decode(record), Catch::Contains("the number of name servers"));
  // DS values out of range are refused both ways.
  PublishedDomain ds = small_domain();
  ds.ds_records[0].key_tag = 65536;
  CHECK_THROWS_AS(whoisd::encode_published_record(ds), PublishedRecordError);
  ds.ds_records[0].key_tag = 1;
  ds.ds_records[0].digest_hex = "ab";
  CHECK_THROWS_AS(whoisd::encode_published_record(ds), PublishedRecordError);
}

TEST_CASE("a record over 64 KiB is refused when built and when read") {
  // As many name servers as fit, then one more than fits.
  PublishedDomain d = small_domain();
  d.name_servers.clear();
  while (whoisd::encode_published_record(d).size() + 40 <= whoisd::kMaxPublishedRecordBytes)
    d.name_servers.push_back({"ns" + std::to_string(d.name_servers.size()) + ".example-hosting.pt", {}, {}});
  const std::string largest = whoisd::encode_published_record(d);
  CHECK(whoisd::decode_published_record("x.pt", largest) == d);
  d.name_servers.push_back({std::string(40, 'n') + ".pt", {}, {}});
  CHECK_THROWS_WITH(whoisd::encode_published_record(d),
                    Catch::Contains("more than the 65536 a record may") && Catch::Contains("name servers"));
  // A forged record of 8 MB claiming millions of name servers is refused before any
  // of them is made (before, it held gigabytes on the decoding thread).
  std::string forged = largest.substr(0, largest.size() - 1);
  forged.resize(8 << 20, '\0');
  CHECK_THROWS_WITH(whoisd::decode_published_record("x.pt", forged), Catch::Contains("more than the 65536"));
}

TEST_CASE("an undisclosed contact cannot carry values, in either direction") {
  PublishedDomain d = small_domain();
  d.admin.email = "leak@example.pt";  // admin is not disclosed
  CHECK_THROWS_WITH(whoisd::encode_published_record(d), Catch::Contains("managing entity is not disclosed"));
  // And a record of an undisclosed contact has no place for its values: they are absent.
  PublishedDomain hidden = small_domain();
  hidden.registrant = {};
  hidden.registrant.disclosed = false;
  PublishedDomain back = whoisd::decode_published_record("x.pt", whoisd::encode_published_record(hidden));
  CHECK_FALSE(back.registrant.disclosed);
  CHECK(back.registrant.name.empty());
}
