// Lookups of every kind of fixture domain (tests/fixtures/fixture.sql), and the sweep
// that no never-published value reaches a PublishedDomain.
#include <catch2/catch.hpp>

#include <filesystem>

#include "snapshot/snapshot_store.h"
#include "snapshot_test_util.h"
#include "support/fixture_snapshot.h"

using whoisd::PublishedDomain;
using whoisd::SnapshotError;
using whoisd::SnapshotStore;
using Strings = std::vector<std::string>;

namespace {

SnapshotStore& fixture_store() {
  static SnapshotStore store(whoisd::test::shared_fixture_snapshot());
  static bool opened = (store.open(), true);
  (void)opened;
  return store;
}

PublishedDomain must_find(std::string_view a_label) {
  auto d = fixture_store().lookup(a_label);
  INFO("a_label: " << a_label);
  REQUIRE(d);
  return *d;
}

}  // namespace

TEST_CASE("the FORMAT.md example (an IDN) is found whole, in the registry's order") {
  PublishedDomain d = must_find("xn--aores-yra.pt");
  CHECK(d.u_label == "açores.pt");
  CHECK(d.a_label == "xn--aores-yra.pt");
  CHECK(d.is_idn());
  CHECK(d.status == "ACTIVE");
  CHECK(d.created == 853200000);   // 14/01/1997 00:00:00
  CHECK(d.expires == 1816127982);  // 20/07/2027 23:59:42
  CHECK(d.registrant.disclosed);
  CHECK(d.registrant.name == "Região Autónoma dos Açores");
  CHECK(d.registrant.address == "Rua Exemplo 12");
  CHECK(d.registrant.locality == "Ponta Delgada");
  CHECK(d.registrant.zip_code == "9500-001");
  CHECK(d.registrant.zip_locality == "Ponta Delgada");
  CHECK(d.registrant.country_code == "PT");
  CHECK(d.registrant.email == "dns@example.pt");
  CHECK(d.admin.disclosed);
  CHECK(d.admin.name == "Exemplo Registos Lda");
  CHECK(d.admin.email == "registos@example.pt");
  CHECK(d.tech.disclosed);
  CHECK(d.tech.name == "João Exemplo");
  CHECK(d.tech.email == "joao@example.pt");
  REQUIRE(d.name_servers.size() == 2);
  CHECK(d.name_servers[0].host == "ns1.example.pt");
  CHECK(d.name_servers[0].ipv4 == Strings{"192.0.2.1"});
  CHECK(d.name_servers[0].ipv6 == Strings{"2001:db8::1"});
  CHECK(d.name_servers[1].host == "ns2.example.net");
  CHECK(d.name_servers[1].ipv4.empty());
  CHECK(d.name_servers[1].ipv6.empty());
  REQUIRE(d.ds_records.size() == 1);
  CHECK(d.ds_records[0].key_tag == 12345);
  CHECK(d.ds_records[0].algorithm == 13);
  CHECK(d.ds_records[0].digest_type == 2);
  CHECK(d.ds_records[0].digest_hex == "8F3C0A6D2B1E4F5A6B7C8D9E0F1A2B3C4D5E6F708192A3B4C5D6E7F8091A2BE1");
}

TEST_CASE("many name servers keep their order and every address of each family") {
  PublishedDomain d = must_find("exemplo.pt");
  CHECK_FALSE(d.is_idn());
  CHECK(d.u_label == "exemplo.pt");
  REQUIRE(d.name_servers.size() == 4);
  CHECK(d.name_servers[0].host == "ns1.exemplo.pt");
  CHECK(d.name_servers[0].ipv4 == Strings{"192.0.2.10", "192.0.2.11"});
  CHECK(d.name_servers[0].ipv6 == Strings{"2001:db8:10::1", "2001:db8:10::2"});
  CHECK(d.name_servers[1].host == "ns2.exemplo.pt");
  CHECK(d.name_servers[1].ipv4 == Strings{"198.51.100.20", "198.51.100.21", "198.51.100.22"});
  CHECK(d.name_servers[1].ipv6 == Strings{"2001:db8:20::1", "2001:db8:20::2", "2001:db8:20::3"});
  CHECK(d.name_servers[2].host == "ns3.exemplo.pt");
  CHECK(d.name_servers[3].host == "ns4.exemplo.pt");
  CHECK(d.name_servers[3].ipv6 == Strings{"2001:db8:40::1", "2001:db8:40:0:1::2"});
  REQUIRE(d.ds_records.size() == 2);
  CHECK(d.ds_records[0].key_tag == 2371);
  CHECK(d.ds_records[0].algorithm == 8);
  CHECK(d.ds_records[1].key_tag == 65535);
  CHECK(d.ds_records[1].digest_type == 4);
  CHECK(d.ds_records[1].digest_hex.size() == 96);
}

TEST_CASE("a domain without name servers or DS records") {
  PublishedDomain d = must_find("sem-servidores.pt");
  CHECK(d.status == "RESERVED");
  CHECK(d.name_servers.empty());
  CHECK(d.ds_records.empty());
  // The registrant with only a name: every other field empty, still disclosed.
  CHECK(d.registrant.disclosed);
  CHECK(d.registrant.name == "Registo Mínimo");
  CHECK(d.registrant.address.empty());
  CHECK(d.registrant.email.empty());
}

TEST_CASE("name servers without glue, with only IPv6 glue; DS digests come out upper case") {
  PublishedDomain d = must_find("sem-glue.org.pt");
  REQUIRE(d.name_servers.size() == 3);
  for (const auto& ns : d.name_servers) {
    CHECK(ns.ipv4.empty());
    CHECK(ns.ipv6.empty());
  }
  REQUIRE(d.ds_records.size() == 1);
  CHECK(d.ds_records[0].digest_hex == "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF");

  PublishedDomain v6 = must_find("so-ipv6.pt");
  REQUIRE(v6.name_servers.size() == 2);
  CHECK(v6.name_servers[0].ipv4.empty());
  CHECK(v6.name_servers[0].ipv6 == Strings{"2001:db8:36::1"});
  CHECK(v6.name_servers[1].ipv6 == Strings{"2001:db8:36::2", "2001:db8:36:1::2"});

  PublishedDomain signed_domain = must_find("assinado.edu.pt");
  REQUIRE(signed_domain.ds_records.size() == 3);
  CHECK(signed_domain.ds_records[0].key_tag == 31000);
  CHECK(signed_domain.ds_records[2].key_tag == 31002);
  CHECK(signed_domain.ds_records[2].algorithm == 13);
}

TEST_CASE("every hierarchy is found") {
  for (const char* name : {"exemplo.pt", "cafe-lisboa.com.pt", "associacao-sao-joao.org.pt", "uc.edu.pt",
                           "sg-educacao.gov.pt", "redelusa.net.pt", "oiac.int.pt", "jornal-acoriano.publ.pt",
                           "jose-brandao.nome.pt", "exemplo.com.pt"}) {
    PublishedDomain d = must_find(name);
    CHECK(d.a_label == name);
    CHECK(d.u_label == name);
  }
  CHECK(must_find("exemplo.com.pt").registrant.name == "José António Brandão");
  CHECK(must_find("exemplo.pt").registrant.name == "Café Pôr-do-Sol, Lda.");
}

TEST_CASE("IDNs are found by A-label and carry their U-label") {
  const std::vector<std::pair<std::string, std::string>> idns = {
      {"xn--aores-yra.pt", "açores.pt"},
      {"xn--cmara-vora-34a3g.pt", "câmara-évora.pt"},
      {"xn--caf-pr-do-sol-dhb1o.com.pt", "café-pôr-do-sol.com.pt"},
      {"xn--so-joo-3tae.org.pt", "são-joão.org.pt"},
      {"xn--po-sia.pt", "pão.pt"},
      {"xn--tica-pqa.pt", "ótica.pt"},
      {"xn--ma-tiap.pt", "maçã.pt"},
      {"xn--vora-9oa.gov.pt", "évora.gov.pt"},
  };
  for (const auto& [a_label, u_label] : idns) {
    PublishedDomain d = must_find(a_label);
    CHECK(d.u_label == u_label);
    CHECK(d.is_idn());
  }
  // The key is the A-label, lower case: other spellings are the query parser's job.
  CHECK_FALSE(fixture_store().lookup("açores.pt"));
  CHECK_FALSE(fixture_store().lookup("XN--AORES-YRA.PT"));
  CHECK_FALSE(fixture_store().lookup("xn--aores-yra.pt."));
}

TEST_CASE("every status comes through as the snapshot's text") {
  CHECK(must_find("registado.pt").status == "REGISTERED");
  CHECK(must_find("reservado.pt").status == "RESERVED");
  CHECK(must_find("a-apagar.pt").status == "PENDING DELETE");
  CHECK(must_find("em-transferencia.com.pt").status == "PENDING TRANSFER");
  CHECK(must_find("suspenso.pt").status == "SUSPENDED");
  CHECK(must_find("reservado.pt").name_servers.empty());
}

TEST_CASE("an opted-out registrant arrives not disclosed, with every personal value empty") {
  PublishedDomain d = must_find("privado.pt");
  CHECK_FALSE(d.registrant.disclosed);
  CHECK(d.registrant.name.empty());
  CHECK(d.registrant.address.empty());
  CHECK(d.registrant.locality.empty());
  CHECK(d.registrant.zip_code.empty());
  CHECK(d.registrant.zip_locality.empty());
  CHECK(d.registrant.country_code.empty());
  CHECK(d.registrant.email.empty());
  // The rest of the record is still published.
  CHECK(d.status == "ACTIVE");
  CHECK(d.created == 1609459200);
  CHECK(d.admin.disclosed);
  CHECK(d.admin.name == "Exemplo Registos Lda");
  CHECK(d.tech.disclosed);
  CHECK(d.tech.email == "joao@example.pt");
  REQUIRE(d.name_servers.size() == 2);
  CHECK(d.name_servers[0].ipv4 == Strings{"192.0.2.240"});
}

TEST_CASE("opt-out is per contact: only the technical contact, or everyone") {
  PublishedDomain tech_only = must_find("tecnico-privado.pt");
  CHECK(tech_only.registrant.disclosed);
  CHECK(tech_only.registrant.name == "Café Pôr-do-Sol, Lda.");
  CHECK(tech_only.admin.disclosed);
  CHECK(tech_only.admin.email == "registos@example.pt");
  CHECK_FALSE(tech_only.tech.disclosed);
  CHECK(tech_only.tech.name.empty());
  CHECK(tech_only.tech.email.empty());

  PublishedDomain everyone = must_find("tudo-privado.com.pt");
  CHECK_FALSE(everyone.registrant.disclosed);
  CHECK_FALSE(everyone.admin.disclosed);
  CHECK(everyone.admin.name.empty());
  CHECK(everyone.admin.email.empty());
  CHECK_FALSE(everyone.tech.disclosed);
  REQUIRE(everyone.name_servers.size() == 1);
}

TEST_CASE("short, long and digit-first names") {
  CHECK(must_find("ip.pt").name_servers.size() == 2);
  CHECK(must_find("123-abc.pt").registrant.name == "Registo Mínimo");
  const std::string longest = "a123456789-b123456789-c123456789-d123456789-e123456789-f1234567.pt";
  CHECK(must_find(longest).a_label == longest);
  PublishedDomain d = must_find("longo.pt");
  CHECK(d.registrant.name.size() > 20000);
  CHECK(d.registrant.address.size() > 10000);
  CHECK(d.registrant.name.rfind("Nome Muito Longo Ação-Ãé ô ", 0) == 0);
}

TEST_CASE("hostile text is returned as stored: escaping is the renderer's job") {
  PublishedDomain d = must_find("injecao.pt");
  CHECK(d.status == "ACTIVE\r\nDomain: forged.pt");
  CHECK(d.registrant.name == "Evil Corp\r\nDomain: forged.pt");
  CHECK(d.registrant.address == "Rua A\nOwner Name: Forged Owner");
  CHECK(d.registrant.locality == "Lis\rboa");
  CHECK(d.registrant.zip_code == "1000\t001");
  CHECK(d.registrant.zip_locality == "Lisboa\x1b[31m");
  CHECK(d.tech.name == "Tech\nDomain: forged-tech.pt");
  // (Hostile hosts and glue never get this far: build refuses them; see
  // test_normalised_value_refusals.cpp.)
  REQUIRE(d.name_servers.size() == 2);
  CHECK(d.name_servers[0].host == "ns1.injecao.pt");
  CHECK(d.name_servers[0].ipv4 == Strings{"192.0.2.28"});
}

TEST_CASE("names that are not registered are not found") {
  for (const char* name : {"nao-existe.pt", "", "pt", "com.pt", "exemplo", "www.exemplo.pt", "exemplo.net.pt",
                           "xn--aores-yra.com.pt", "'; DROP TABLE domains; --", "%", "_"}) {
    INFO(name);
    CHECK_FALSE(fixture_store().lookup(name));
  }
  // A key with a NUL inside is compared whole, not cut short at the NUL.
  CHECK_FALSE(fixture_store().lookup(std::string_view("exemplo.pt\0x", 12)));
}

TEST_CASE("no never-published value reaches any field of any fixture domain") {
  const Strings names = whoisd::test::all_a_labels(whoisd::test::shared_fixture_snapshot());
  REQUIRE(names.size() == 36);
  for (const std::string& name : names) {
    PublishedDomain d = must_find(name);
    for (const std::string& value : whoisd::test::all_strings(d)) {
      INFO(name << ": " << value.substr(0, 200));
      // PHONE-, FAX-, NIF-, ARBITRATION-, HANDLE-, ADDR- and OPTOUT-SECRET markers.
      CHECK(value.find("SECRET") == std::string::npos);
    }
  }
}

TEST_CASE("info describes the snapshot being served") {
  whoisd::SnapshotInfo info = fixture_store().info();
  CHECK(info.path == whoisd::test::shared_fixture_snapshot());
  CHECK(info.schema_version == 2);
  CHECK(info.domains == 36);
  CHECK(info.exported_at == 1795000000);
  CHECK(info.file_bytes == static_cast<std::int64_t>(std::filesystem::file_size(info.path)));
  CHECK(info.generation >= 1);
  CHECK(fixture_store().is_open());
}

TEST_CASE("a store that has not been opened refuses lookups and info, naming the file") {
  SnapshotStore store("/nonexistent/never-opened.sqlite");
  CHECK_FALSE(store.is_open());
  CHECK_THROWS_WITH(store.lookup("exemplo.pt"), Catch::Contains("/nonexistent/never-opened.sqlite") &&
                                                    Catch::Contains("no snapshot open"));
  CHECK_THROWS_AS(store.info(), SnapshotError);
}
