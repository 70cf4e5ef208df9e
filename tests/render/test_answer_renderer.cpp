#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "render/answer_renderer.h"
#include "render/answer_value.h"
#include "render_test_util.h"

using whoisd::AnswerRenderer;
using whoisd::AnswerTexts;
using whoisd::PublishedDomain;
using whoisd::test::count_lines;
using whoisd::test::crlf;
using whoisd::test::fixed_answer_rule_violation;
using whoisd::test::found_layout_violation;

namespace {

// The example of FORMAT.md, field by field.
PublishedDomain acores() {
  PublishedDomain d;
  d.u_label = "açores.pt";
  d.a_label = "xn--aores-yra.pt";
  d.status = "Registered";
  d.created = 853'200'000;     // 14/01/1997 00:00:00
  d.expires = 1'816'127'982;   // 20/07/2027 23:59:42
  d.registrant = {true, "Região Autónoma dos Açores", "Rua Exemplo 12", "Ponta Delgada", "9500-001", "Ponta Delgada",
                  "PT", "dns@example.pt"};
  d.admin = {true, "Exemplo Registos Lda", "registos@example.pt"};
  d.tech = {true, "João Exemplo", "joao@example.pt"};
  d.name_servers = {{"ns1.example.pt", {"192.0.2.1"}, {"2001:db8::1"}}, {"ns2.example.net", {}, {}}};
  d.ds_records = {{12345, 13, 2, "8F3C0A1B2C3D4E5F60718293A4B5C6D7E8F9001122334455667788990AABBCE1"}};
  return d;
}

const char* const kAcoresAnswer =
    "Domain: açores.pt\n"
    "Domain ACE: xn--aores-yra.pt\n"
    "Domain Status: Registered\n"
    "Creation Date: 14/01/1997 00:00:00\n"
    "Expiration Date: 20/07/2027 23:59:42\n"
    "Owner Name: Região Autónoma dos Açores\n"
    "Owner Address: Rua Exemplo 12\n"
    "Owner Locality: Ponta Delgada\n"
    "Owner ZipCode: 9500-001\n"
    "Owner Locality ZipCode: Ponta Delgada\n"
    "Owner Country Code: PT\n"
    "Owner Email: dns@example.pt\n"
    "Admin Name: Exemplo Registos Lda\n"
    "Admin Email: registos@example.pt\n"
    "Tech Name: João Exemplo\n"
    "Tech Email: joao@example.pt\n"
    "Name Server: ns1.example.pt | IPv4: 192.0.2.1 and IPv6: 2001:db8::1\n"
    "Name Server: ns2.example.net | IPv4:  and IPv6: \n"
    "DS Record: 12345 13 2 8F3C0A1B2C3D4E5F60718293A4B5C6D7E8F9001122334455667788990AABBCE1\n";

PublishedDomain plain() {
  PublishedDomain d;
  d.u_label = d.a_label = "example.pt";
  d.status = "ACTIVE";
  d.created = 1'000'000'000;  // 09/09/2001 01:46:40
  d.expires = 2'000'000'000;  // 18/05/2033 03:33:20
  d.registrant = {true, "Exemplo SA", "Av. da Liberdade 1, 2.º Esq.", "Lisboa", "1250-001", "Lisboa", "PT",
                  "geral@example.pt"};
  d.admin = {true, "Registrar Lda", "reg@registrar.pt"};
  d.tech = {true, "Ana Técnica", "ana@example.pt"};
  return d;
}

std::vector<std::string> split_lines(const std::string& answer) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < answer.size()) {
    const std::size_t end = answer.find("\r\n", at);
    REQUIRE(end != std::string::npos);  // every line, the last included, ends in CRLF
    lines.push_back(answer.substr(at, end - at));
    at = end + 2;
  }
  return lines;
}

}  // namespace

TEST_CASE("found: the FORMAT.md example, exactly", "[render][found]") {
  const AnswerRenderer renderer;
  CHECK(renderer.found(acores(), false) == crlf(kAcoresAnswer));
  CHECK(found_layout_violation(renderer.found(acores(), false)).empty());
  CHECK(found_layout_violation(renderer.found(acores(), true)).empty());
}

TEST_CASE("the layout check used on fixture and generated answers catches departures", "[render][found]") {
  const std::string good = crlf(kAcoresAnswer);
  CHECK(found_layout_violation(good).empty());
  std::string swapped = good;
  swapped.replace(swapped.find("Admin Name"), 10, "Tech Namex");
  CHECK_FALSE(found_layout_violation(swapped).empty());
  CHECK_FALSE(found_layout_violation(good + "Domain: extra.pt\r\n").empty());
  CHECK_FALSE(found_layout_violation(good.substr(0, good.size() - 2)).empty());
  std::string bare_lf = good;
  bare_lf.insert(bare_lf.find("Owner Name: ") + 14, "\n");
  CHECK_FALSE(found_layout_violation(bare_lf).empty());
  std::string bad_date = good;
  bad_date.replace(bad_date.find("14/01/1997"), 10, "1997-01-14");
  CHECK_FALSE(found_layout_violation(bad_date).empty());
  std::string bad_ns = good;
  bad_ns.replace(bad_ns.find("ns1.example.pt"), 14, "ns1 example.pt");
  CHECK_FALSE(found_layout_violation(bad_ns).empty());
}

TEST_CASE("found: no Domain ACE line for a name that is not an IDN; no name server or DS lines when none",
          "[render][found]") {
  const AnswerRenderer renderer;
  CHECK(renderer.found(plain(), false) == crlf("Domain: example.pt\n"
                                               "Domain Status: ACTIVE\n"
                                               "Creation Date: 09/09/2001 01:46:40\n"
                                               "Expiration Date: 18/05/2033 03:33:20\n"
                                               "Owner Name: Exemplo SA\n"
                                               "Owner Address: Av. da Liberdade 1, 2.º Esq.\n"
                                               "Owner Locality: Lisboa\n"
                                               "Owner ZipCode: 1250-001\n"
                                               "Owner Locality ZipCode: Lisboa\n"
                                               "Owner Country Code: PT\n"
                                               "Owner Email: geral@example.pt\n"
                                               "Admin Name: Registrar Lda\n"
                                               "Admin Email: reg@registrar.pt\n"
                                               "Tech Name: Ana Técnica\n"
                                               "Tech Email: ana@example.pt\n"));
}

TEST_CASE("found: several addresses of one name server are joined by ', '", "[render][found]") {
  PublishedDomain d = plain();
  d.name_servers = {{"ns1.example.pt", {"192.0.2.1", "192.0.2.2"}, {"2001:db8::1", "2001:db8::2", "2001:db8::3"}},
                    {"ns2.example.pt", {"198.51.100.7"}, {}},
                    {"ns3.example.pt", {}, {"2001:db8:ffff::53"}},
                    {"ns.other.example", {}, {}}};
  const std::string answer = AnswerRenderer().found(d, false);
  CHECK_THAT(answer, Catch::EndsWith(crlf("Tech Email: ana@example.pt\n"
                                          "Name Server: ns1.example.pt | IPv4: 192.0.2.1, 192.0.2.2 and IPv6: "
                                          "2001:db8::1, 2001:db8::2, 2001:db8::3\n"
                                          "Name Server: ns2.example.pt | IPv4: 198.51.100.7 and IPv6: \n"
                                          "Name Server: ns3.example.pt | IPv4:  and IPv6: 2001:db8:ffff::53\n"
                                          "Name Server: ns.other.example | IPv4:  and IPv6: \n")));
}

TEST_CASE("found: DS records in order, digest in upper case", "[render][found]") {
  PublishedDomain d = plain();
  d.ds_records = {{1, 8, 2, "abcdef0123"}, {65535, 13, 4, "00FF"}};
  const std::string answer = AnswerRenderer().found(d, false);
  CHECK_THAT(answer, Catch::EndsWith(crlf("DS Record: 1 8 2 ABCDEF0123\nDS Record: 65535 13 4 00FF\n")));
}

TEST_CASE("found: a host below the domain gets the 'Answer for' line first", "[render][found]") {
  const AnswerRenderer renderer;
  CHECK(renderer.found(plain(), true).rfind(crlf("% Answer for the registered domain example.pt\nDomain: example.pt\n"),
                                            0) == 0);
  CHECK(renderer.found(acores(), true) == crlf("% Answer for the registered domain açores.pt\n") + crlf(kAcoresAnswer));
}

TEST_CASE("found: an opted-out registrant keeps its labels, each value reads Not disclosed", "[render][optout]") {
  PublishedDomain d = acores();
  // The store leaves an opted-out contact's values empty; values present here
  // prove the renderer would not show them even if they arrived.
  d.registrant.disclosed = false;
  const std::string answer = AnswerRenderer().found(d, false);
  CHECK_THAT(answer, Catch::Contains(crlf("Expiration Date: 20/07/2027 23:59:42\n"
                                          "Owner Name: Not disclosed\n"
                                          "Owner Address: Not disclosed\n"
                                          "Owner Locality: Not disclosed\n"
                                          "Owner ZipCode: Not disclosed\n"
                                          "Owner Locality ZipCode: Not disclosed\n"
                                          "Owner Country Code: Not disclosed\n"
                                          "Owner Email: Not disclosed\n"
                                          "Admin Name: Exemplo Registos Lda\n")));
  for (const char* personal : {"Região", "Rua Exemplo", "Ponta Delgada", "9500-001", "dns@example.pt"}) {
    CHECK_THAT(answer, !Catch::Contains(personal));
  }
  CHECK_THAT(answer, Catch::Contains("Name Server: ns1.example.pt"));  // the rest is still shown
}

TEST_CASE("found: opt-out is decided per contact", "[render][optout]") {
  PublishedDomain d = acores();
  d.tech.disclosed = false;
  const std::string answer = AnswerRenderer().found(d, false);
  CHECK_THAT(answer, Catch::Contains(crlf("Owner Name: Região Autónoma dos Açores\n")));
  CHECK_THAT(answer, Catch::Contains(crlf("Admin Name: Exemplo Registos Lda\nAdmin Email: registos@example.pt\n"
                                          "Tech Name: Not disclosed\nTech Email: Not disclosed\n")));
  CHECK_THAT(answer, !Catch::Contains("João"));
  CHECK_THAT(answer, !Catch::Contains("joao@example.pt"));

  d = acores();
  d.admin.disclosed = false;
  const std::string admin_out = AnswerRenderer().found(d, false);
  CHECK_THAT(admin_out, Catch::Contains(crlf("Admin Name: Not disclosed\nAdmin Email: Not disclosed\n"
                                             "Tech Name: João Exemplo\n")));
}

TEST_CASE("found: no value makes the answer read as 'no match'", "[render][found]") {
  // Perl's Net::Whois::Raw takes any answer from the .pt server that holds "no match"
  // (case-sensitive) for "not registered": a registered domain read as free.
  PublishedDomain d = acores();
  d.registrant.name = "Bar no match Lda";
  d.registrant.address = "Rua No Match";
  d.status = "no match";
  d.name_servers.push_back({"ns.no-match.pt", {}, {}});
  const std::string answer = AnswerRenderer().found(d, false);
  CHECK_THAT(answer, !Catch::Contains("no match"));
  CHECK_THAT(answer, Catch::Contains(crlf("Owner Name: Bar no\xC2\xA0match Lda\n")));
  CHECK_THAT(answer, Catch::Contains(crlf("Domain Status: no\xC2\xA0match\n")));
  CHECK_THAT(answer, Catch::Contains("Name Server: ns.no-match.pt |"));
}

TEST_CASE("found: empty values keep their label", "[render][found]") {
  PublishedDomain d;
  d.u_label = d.a_label = "vazio.pt";
  const std::string answer = AnswerRenderer().found(d, false);
  CHECK(split_lines(answer).size() == 15);
  CHECK_THAT(answer, Catch::Contains(crlf("Owner Address: \nOwner Locality: \n")));
  CHECK_THAT(answer, Catch::Contains(crlf("Creation Date: 01/01/1970 00:00:00\n")));
}

TEST_CASE("found: an empty u_label falls back to the A-label and is not taken for an IDN", "[render][found]") {
  PublishedDomain d = plain();
  d.u_label.clear();
  const std::string answer = AnswerRenderer().found(d, false);
  CHECK(answer.rfind(crlf("Domain: example.pt\nDomain Status: ACTIVE\n"), 0) == 0);
}

TEST_CASE("found: header lines before, footer lines after", "[render][headerfooter]") {
  const AnswerRenderer renderer(AnswerTexts{{"% Terms of use: https://www.pt.pt/whois", "Dates are UTC."},
                                            {"% Questions: whois@pt.pt", ""}});
  const std::string answer = renderer.found(plain(), true);
  const std::vector<std::string> lines = split_lines(answer);
  REQUIRE(lines.size() == 2 + 1 + 15 + 2);
  CHECK(lines[0] == "% Terms of use: https://www.pt.pt/whois");
  CHECK(lines[1] == "% Dates are UTC.");  // a line without '%' is made a comment
  CHECK(lines[2] == "% Answer for the registered domain example.pt");
  CHECK(lines[3] == "Domain: example.pt");
  CHECK(lines[18] == "% Questions: whois@pt.pt");
  CHECK(lines[19] == "%");  // an empty line stays a comment line
}

TEST_CASE("found: configured lines cannot break the layout either", "[render][headerfooter][injection]") {
  const AnswerRenderer renderer(AnswerTexts{{"% one\r\nDomain: forged.pt"}, {"%\x00x"}});
  const std::vector<std::string> lines = split_lines(renderer.found(plain(), false));
  REQUIRE(lines.size() == 1 + 15 + 1);
  CHECK(lines[0] == "% one  Domain: forged.pt");
  CHECK(lines[1] == "Domain: example.pt");
}

TEST_CASE("fixed answers: first line exactly as FORMAT.md words it", "[render][fixed]") {
  const AnswerRenderer renderer;
  CHECK(renderer.no_match("example.pt") == "example.pt - no match\r\n");
  CHECK(renderer.no_match("açores.pt") == "açores.pt - no match\r\n");
  CHECK(renderer.invalid("not a .pt domain") == "Invalid query: not a .pt domain\r\n");
  CHECK(renderer.limit_crossed("192.0.2.1", 1000, 1'767'312'000, 1) ==
        "Query limit exceeded: 192.0.2.1 made 1000 queries in 24 hours; suspended until 2026-01-02T00:00:00Z "
        "(suspension 1)\r\n");
  CHECK(renderer.suspended("2001:db8:1:2::/64", 1'767'312'000 + 3'723, 3) ==
        "Query limit exceeded: 2001:db8:1:2::/64 is suspended until 2026-01-02T01:02:03Z (suspension 3)\r\n");
  CHECK(renderer.too_many_connections("198.51.100.9") == "Too many connections from 198.51.100.9\r\n");
  const std::string help = renderer.help();
  CHECK(help.rfind("% ", 0) == 0);
  CHECK_THAT(help, Catch::Contains("example.pt"));
  CHECK_THAT(help, Catch::EndsWith("\r\n"));
}

TEST_CASE("fixed answers: another counting window is named as it is", "[render][fixed]") {
  AnswerTexts hourly;
  hourly.limit_window_seconds = 3600;
  CHECK_THAT(AnswerRenderer(hourly).limit_crossed("192.0.2.1", 50, 0, 2),
             Catch::StartsWith("Query limit exceeded: 192.0.2.1 made 50 queries in 1 hour; suspended until"));
  AnswerTexts odd;
  odd.limit_window_seconds = 90;
  CHECK_THAT(AnswerRenderer(odd).limit_crossed("192.0.2.1", 5, 0, 1), Catch::Contains(" in 90 seconds;"));
  odd.limit_window_seconds = 1800;
  CHECK_THAT(AnswerRenderer(odd).limit_crossed("192.0.2.1", 5, 0, 1), Catch::Contains(" in 30 minutes;"));
  odd.limit_window_seconds = 48 * 3600;
  CHECK_THAT(AnswerRenderer(odd).limit_crossed("192.0.2.1", 5, 0, 1), Catch::Contains(" in 48 hours;"));
}

TEST_CASE("fixed answers: an invalid-query reason with a misleading word or nothing in it is replaced",
          "[render][fixed]") {
  const AnswerRenderer renderer;
  CHECK(renderer.invalid("syntax error") == "Invalid query: unsupported query\r\n");
  CHECK(renderer.invalid("domain NOT FOUND") == "Invalid query: unsupported query\r\n");
  CHECK(renderer.invalid("Restricted") == "Invalid query: unsupported query\r\n");
  CHECK(renderer.invalid("No Match here") == "Invalid query: unsupported query\r\n");
  CHECK(renderer.invalid("") == "Invalid query: unsupported query\r\n");
  CHECK(renderer.invalid("two\r\nlines") == "Invalid query: two  lines\r\n");
  CHECK(renderer.invalid(std::string(500, 'r')).size() < 160);
}

TEST_CASE("fixed answers: no header; the footer only while under five lines and free of misleading words",
          "[render][fixed][headerfooter]") {
  const std::vector<std::string> header = {"% Terms of use apply", "% See https://www.pt.pt/"};

  SECTION("a short footer is kept") {
    const AnswerRenderer renderer(AnswerTexts{header, {"% Questions: whois@pt.pt"}});
    CHECK(renderer.no_match("example.pt") == "example.pt - no match\r\n% Questions: whois@pt.pt\r\n");
    CHECK(renderer.too_many_connections("192.0.2.1") ==
          "Too many connections from 192.0.2.1\r\n% Questions: whois@pt.pt\r\n");
    CHECK(renderer.help().find("% Questions: whois@pt.pt\r\n") != std::string::npos);
  }
  SECTION("three footer lines make four lines with a one-line answer: kept; the two-line help drops them") {
    const AnswerRenderer renderer(AnswerTexts{header, {"% a", "% b", "% c"}});
    CHECK(renderer.invalid("not a .pt domain") == "Invalid query: not a .pt domain\r\n% a\r\n% b\r\n% c\r\n");
    CHECK(count_lines(renderer.help()) == 2);
  }
  SECTION("four footer lines would make five: the answer stands alone") {
    const AnswerRenderer renderer(AnswerTexts{header, {"% a", "% b", "% c", "% d"}});
    CHECK(renderer.no_match("example.pt") == "example.pt - no match\r\n");
    CHECK(renderer.suspended("192.0.2.1", 0, 1) ==
          "Query limit exceeded: 192.0.2.1 is suspended until 1970-01-01T00:00:00Z (suspension 1)\r\n");
    CHECK(count_lines(renderer.found(plain(), false)) == 15 + 2 + 4);  // found answers keep everything
  }
  SECTION("a footer with a misleading word is left off fixed answers, kept on found ones") {
    const AnswerRenderer renderer(AnswerTexts{header, {"% Access is RESTRICTED to lawful use"}});
    CHECK(renderer.limit_crossed("192.0.2.1", 1000, 0, 1).find("RESTRICTED") == std::string::npos);
    CHECK(renderer.no_match("example.pt") == "example.pt - no match\r\n");
    CHECK_THAT(renderer.found(plain(), false), Catch::EndsWith("% Access is RESTRICTED to lawful use\r\n"));
  }
  SECTION("so is one with \"no match\" (the loader refuses both; the renderer does not rely on it)") {
    const AnswerRenderer renderer(AnswerTexts{header, {"% A 'No Match' answer means the name is free"}});
    CHECK(renderer.invalid("not a .pt domain") == "Invalid query: not a .pt domain\r\n");
  }
}

TEST_CASE("fixed answers: every one, with every footer size, obeys the line and word rules", "[render][fixed]") {
  for (std::size_t footer_lines = 0; footer_lines <= 6; ++footer_lines) {
    std::vector<std::string> footer;
    for (std::size_t i = 0; i < footer_lines; ++i) footer.push_back("% footer line " + std::to_string(i));
    const AnswerRenderer renderer(AnswerTexts{{"% header"}, footer});
    const std::vector<std::string> answers = {
        renderer.no_match("example.pt"),
        renderer.no_match("açores.pt"),
        renderer.invalid("not a .pt domain"),
        renderer.invalid("more than one criterion"),
        renderer.invalid("error"),
        renderer.help(),
        renderer.limit_crossed("192.0.2.1", 1000, 1'767'312'000, 1),
        renderer.limit_crossed("2001:db8:1:2::/64", 4'294'967'295U, INT64_MAX, 4'294'967'295U),
        renderer.suspended("192.0.2.1", 1'767'312'000, 2),
        renderer.too_many_connections("2001:db8::1"),
    };
    for (const std::string& answer : answers) {
      INFO("footer lines: " << footer_lines << "; answer: " << answer);
      CHECK(fixed_answer_rule_violation(answer).empty());
      CHECK(answer.find("% header") == std::string::npos);
    }
    CHECK_THAT(renderer.limit_crossed("192.0.2.1", 1, 0, 1), Catch::Contains("limit exceeded"));
    CHECK_THAT(renderer.suspended("192.0.2.1", 0, 1), Catch::Contains("limit exceeded"));
  }
}

TEST_CASE("injection: values cannot add lines or forge labels", "[render][injection]") {
  PublishedDomain d = plain();
  d.status = "ACTIVE\r\nDomain: forged.pt";
  d.registrant.name = "Evil\nOwner Email: forged@evil.example";
  d.registrant.address = std::string("Rua\0Domain: nul.pt", 18);
  d.registrant.email = "x@example.pt\rName Server: ns.evil.example | IPv4:  and IPv6: ";
  d.admin.name = "A\xE2\x80\xA8" "Domain: sep.pt";
  d.tech.name = "T\xC2\x85" "Domain: nel.pt";
  d.tech.email = "t@example.pt\n\n\n";
  d.name_servers = {{"ns1.example.pt\r\nDomain: ns.pt", {"192.0.2.1\r\nDS Record: 1 1 1 AA"}, {"::1\n"}}};
  d.ds_records = {{1, 8, 2, "AB\r\nDomain: ds.pt"}};
  const std::string answer = AnswerRenderer().found(d, true);
  CHECK(found_layout_violation(answer).empty());
  const std::vector<std::string> lines = split_lines(answer);
  REQUIRE(lines.size() == 1 + 15 + 1 + 1);
  CHECK(std::count(answer.begin(), answer.end(), '\n') == 18);
  CHECK(std::count(answer.begin(), answer.end(), '\r') == 18);
  CHECK(answer.find('\0') == std::string::npos);
  int domain_lines = 0;
  for (const std::string& line : lines) {
    if (line.rfind("Domain:", 0) == 0) ++domain_lines;
  }
  CHECK(domain_lines == 1);
  CHECK(lines[1] == "Domain: example.pt");
  CHECK(lines[2] == "Domain Status: ACTIVE  Domain: forged.pt");
  CHECK(lines[5] == "Owner Name: Evil Owner Email: forged@evil.example");
  CHECK(lines[6] == "Owner Address: Rua" + std::string(whoisd::kReplacementCharacter) + "Domain: nul.pt");
  CHECK(lines[12] == "Admin Name: A" + std::string(whoisd::kReplacementCharacter) + "Domain: sep.pt");
  CHECK(lines[14] == "Tech Name: T" + std::string(whoisd::kReplacementCharacter) + "Domain: nel.pt");
  CHECK(lines[15] == "Tech Email: t@example.pt   ");
  const std::string r(whoisd::kReplacementCharacter);
  // Hosts, addresses and digests stay one word each: no parser can take "ns.pt" for a host.
  CHECK(lines[16] == "Name Server: ns1.example.pt" + r + r + "Domain:" + r + "ns.pt | IPv4: 192.0.2.1" + r + r + "DS" + r +
                         "Record:" + r + "1" + r + "1" + r + "1" + r + "AA and IPv6: ::1" + r);
  CHECK(lines[17] == "DS Record: 1 8 2 AB" + r + r + "DOMAIN:" + r + "DS.PT");
}

TEST_CASE("injection: very long values are bounded and marked", "[render][injection]") {
  PublishedDomain d = plain();
  d.registrant.name = std::string(100'000, 'N');
  d.registrant.address = std::string(10'000, '\n');
  const std::string answer = AnswerRenderer().found(d, false);
  CHECK(answer.size() < 2'000);
  CHECK_THAT(answer, Catch::Contains("Owner Name: " + std::string(whoisd::kMaxValueCodePoints, 'N') +
                                     std::string(whoisd::kTruncationMarker) + "\r\n"));
  CHECK(split_lines(answer).size() == 15);
}

TEST_CASE("the renderer can be shared by threads: answers depend only on the arguments", "[render]") {
  const AnswerRenderer renderer(AnswerTexts{{"% h"}, {"% f"}});
  const std::string first = renderer.found(acores(), false);
  CHECK(renderer.found(acores(), false) == first);
  CHECK(renderer.no_match("example.pt") == renderer.no_match("example.pt"));
}

TEST_CASE("configured_line_problem names the words that mislead parsers", "[render][headerfooter]") {
  using whoisd::configured_line_problem;
  CHECK(configured_line_problem("% Terms of use: https://www.pt.pt/whois").empty());
  CHECK(configured_line_problem("% Dates are UTC.").empty());
  CHECK_THAT(configured_line_problem("% A 'No Match' answer means the name is free"), Catch::Contains("no match"));
  CHECK_THAT(configured_line_problem("% report an ERROR to whois@pt.pt"), Catch::Contains("\"error\""));
  CHECK_THAT(configured_line_problem("% Access is restricted"), Catch::Contains("\"restricted\""));
  CHECK_THAT(configured_line_problem("% names not found here are free"), Catch::Contains("\"not found\""));
  // Longer than an answer line holds (it was accepted, then served cut): counted in characters.
  CHECK(configured_line_problem("% " + std::string(253, 'y')).empty());
  std::string accents = "% ";
  for (int i = 0; i < 253; ++i) accents += "ç";
  CHECK(configured_line_problem(accents).empty());
  CHECK_THAT(configured_line_problem("% " + std::string(254, 'y')), Catch::Contains("256 characters long"));
}
