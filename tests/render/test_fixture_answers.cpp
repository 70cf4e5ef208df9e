// The renderer over the shared fixture snapshot (tests/fixtures/fixture.sql): every
// fixture domain's answer equals its golden file byte for byte, keeps FORMAT.md's
// layout, and shows none of the values the fixture marks as never published
// ("SECRET" in every one of them, OPTOUT-SECRET for opted-out personal values).
//
// After a deliberate change of layout or fixture, regenerate the golden files with
//   WHOISD_UPDATE_GOLDEN=1 build/tests/render/test_render "[golden]"
// and review the diff before committing it.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "render/answer_renderer.h"
#include "render_test_util.h"
#include "snapshot/snapshot_store.h"
#include "snapshot_domains.h"
#include "support/fixture_snapshot.h"

using whoisd::AnswerRenderer;
using whoisd::PublishedDomain;
using whoisd::test::found_layout_violation;

namespace {

const std::string kGoldenDir = std::string(WHOISD_SOURCE_DIR) + "/tests/render/golden/";

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  REQUIRE(out.flush());
}

// Compares an answer with its golden file (or rewrites the file on request).
void check_golden(const std::string& name, const std::string& answer) {
  const std::string path = kGoldenDir + name + ".txt";
  if (std::getenv("WHOISD_UPDATE_GOLDEN") != nullptr) {
    write_file(path, answer);
    return;
  }
  const std::optional<std::string> golden = read_file(path);
  INFO("golden file " << path);
  REQUIRE(golden.has_value());
  CHECK(answer == *golden);
}

struct FixtureAnswers {
  whoisd::SnapshotStore store{whoisd::test::shared_fixture_snapshot()};
  std::vector<std::string> a_labels = whoisd::test::snapshot_a_labels(whoisd::test::shared_fixture_snapshot());
  FixtureAnswers() { store.open(); }
  PublishedDomain get(const std::string& a_label) const {
    std::optional<PublishedDomain> d = store.lookup(a_label);
    INFO(a_label);
    REQUIRE(d.has_value());
    return *d;
  }
};

}  // namespace

TEST_CASE("fixture: every domain's answer equals its golden file", "[render][fixture][golden]") {
  const FixtureAnswers fixture;
  REQUIRE(fixture.a_labels.size() >= 30);
  const AnswerRenderer renderer;
  for (const std::string& a_label : fixture.a_labels) {
    check_golden(a_label, renderer.found(fixture.get(a_label), false));
  }
  // A host below a domain: the answer for the registered domain, saying so.
  check_golden("www.exemplo.pt", renderer.found(fixture.get("exemplo.pt"), true));
  check_golden("www.xn--aores-yra.pt", renderer.found(fixture.get("xn--aores-yra.pt"), true));
}

TEST_CASE("fixture: every answer keeps the layout and shows nothing the policy withholds", "[render][fixture]") {
  const FixtureAnswers fixture;
  const AnswerRenderer renderer;
  for (const std::string& a_label : fixture.a_labels) {
    for (const bool below : {false, true}) {
      const std::string answer = renderer.found(fixture.get(a_label), below);
      INFO(a_label << (below ? " (below)" : "") << ":\n" << answer);
      CHECK(found_layout_violation(answer).empty());
      CHECK(answer.find("SECRET") == std::string::npos);
      CHECK(answer.find('\0') == std::string::npos);
    }
  }
}

TEST_CASE("fixture: the cases the fixture is there for", "[render][fixture]") {
  const FixtureAnswers fixture;
  const AnswerRenderer renderer;
  using Catch::Contains;

  const std::string acores = renderer.found(fixture.get("xn--aores-yra.pt"), false);
  CHECK_THAT(acores, Catch::StartsWith("Domain: açores.pt\r\nDomain ACE: xn--aores-yra.pt\r\nDomain Status: ACTIVE\r\n"
                                       "Creation Date: 14/01/1997 00:00:00\r\nExpiration Date: 20/07/2027 23:59:42\r\n"));
  CHECK_THAT(acores, Contains("Name Server: ns2.example.net | IPv4:  and IPv6: \r\n"));

  const std::string plain = renderer.found(fixture.get("exemplo.pt"), false);
  CHECK_THAT(plain, !Contains("Domain ACE"));
  CHECK_THAT(plain, Contains("Name Server: ns2.exemplo.pt | IPv4: 198.51.100.20, 198.51.100.21, 198.51.100.22 and "
                             "IPv6: 2001:db8:20::1, 2001:db8:20::2, 2001:db8:20::3\r\n"));

  const std::string reserved = renderer.found(fixture.get("sem-servidores.pt"), false);
  CHECK_THAT(reserved, !Contains("Name Server"));
  CHECK_THAT(reserved, Contains("Domain Status: RESERVED\r\n"));

  const std::string opted_out = renderer.found(fixture.get("privado.pt"), false);
  CHECK_THAT(opted_out, Contains("Owner Name: Not disclosed\r\nOwner Address: Not disclosed\r\n"));
  CHECK_THAT(opted_out, Contains("Admin Name: Exemplo Registos Lda\r\n"));
  CHECK_THAT(opted_out, Contains("Name Server: ns1.privado.pt | IPv4: 192.0.2.240 and IPv6: \r\n"));

  const std::string tech_only = renderer.found(fixture.get("tecnico-privado.pt"), false);
  CHECK_THAT(tech_only, Contains("Tech Name: Not disclosed\r\nTech Email: Not disclosed\r\n"));
  CHECK_THAT(tech_only, Contains("Owner Name: Café Pôr-do-Sol, Lda.\r\n"));

  const std::string hostile = renderer.found(fixture.get("injecao.pt"), false);
  std::size_t domain_lines = 0;
  for (std::size_t at = 0; (at = hostile.find("\r\nDomain: ", at)) != std::string::npos; ++at) ++domain_lines;
  CHECK(domain_lines == 0);  // the only Domain: line is the first one
  CHECK(hostile.rfind("Domain: injecao.pt\r\n", 0) == 0);

  const std::string lower_digest = renderer.found(fixture.get("sem-glue.org.pt"), false);
  CHECK_THAT(lower_digest, Contains("DS Record: 4242 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\r\n"));

  const std::string long_values = renderer.found(fixture.get("longo.pt"), false);
  CHECK(long_values.size() < 3'000);
}
