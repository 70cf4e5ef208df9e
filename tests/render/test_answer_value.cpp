#include <catch2/catch.hpp>

#include <string>

#include "render/answer_value.h"

using whoisd::answer_value;
using whoisd::kReplacementCharacter;
using whoisd::kTruncationMarker;

namespace {
const std::string kFffd(kReplacementCharacter);
}

TEST_CASE("printable ASCII and well-formed UTF-8 pass unchanged", "[render][value]") {
  CHECK(answer_value("Rua Exemplo 12") == "Rua Exemplo 12");
  CHECK(answer_value("Região Autónoma dos Açores") == "Região Autónoma dos Açores");
  CHECK(answer_value("日本語 ελληνικά 😀") == "日本語 ελληνικά 😀");
  CHECK(answer_value("") == "");
  CHECK(answer_value("a\\b:c%d") == "a\\b:c%d");
}

TEST_CASE("line breaks and tabs become a space, so no value adds a line", "[render][value]") {
  CHECK(answer_value("Rua A\r\nDomain: evil.pt") == "Rua A  Domain: evil.pt");
  CHECK(answer_value("a\nb") == "a b");
  CHECK(answer_value("a\rb") == "a b");
  CHECK(answer_value("a\tb") == "a b");
}

TEST_CASE("other control characters become U+FFFD", "[render][value]") {
  CHECK(answer_value(std::string("a\0b", 3)) == "a" + kFffd + "b");
  CHECK(answer_value("a\x1b[2Jb") == "a" + kFffd + "[2Jb");
  CHECK(answer_value("a\x7f") == "a" + kFffd);
  CHECK(answer_value("a\x0b\x0c") == "a" + kFffd + kFffd);
  CHECK(answer_value("\xC2\x85") == kFffd);      // U+0085 NEXT LINE (C1)
  CHECK(answer_value("\xC2\x9B") == kFffd);      // U+009B CSI (C1)
  CHECK(answer_value("\xE2\x80\xA8") == kFffd);  // U+2028 LINE SEPARATOR
  CHECK(answer_value("\xE2\x80\xA9") == kFffd);  // U+2029 PARAGRAPH SEPARATOR
  CHECK(answer_value("\xE2\x80\xAE") == kFffd);  // U+202E RIGHT-TO-LEFT OVERRIDE
  CHECK(answer_value("\xE2\x81\xA6") == kFffd);  // U+2066 LEFT-TO-RIGHT ISOLATE
  CHECK(answer_value("\xEF\xBB\xBF") == kFffd);  // U+FEFF
  // The same list as the logs' (unicode_classes.h): the bidirectional marks, U+FFFF.
  CHECK(answer_value("\xE2\x80\x8E") == kFffd);  // U+200E LEFT-TO-RIGHT MARK
  CHECK(answer_value("\xD8\x9C") == kFffd);      // U+061C ARABIC LETTER MARK
  CHECK(answer_value("\xEF\xBF\xBF") == kFffd);  // U+FFFF
  CHECK(answer_value("\xC2\xA0") == "\xC2\xA0");  // U+00A0 is an ordinary (no-break) space
}

TEST_CASE("bytes that are not well-formed UTF-8 become U+FFFD, one each", "[render][value]") {
  CHECK(answer_value("\xff") == kFffd);
  CHECK(answer_value("a\x80z") == "a" + kFffd + "z");            // lone continuation byte
  CHECK(answer_value("\xC3") == kFffd);                           // truncated at the end
  CHECK(answer_value("\xC3z") == kFffd + "z");                    // truncated before ASCII
  CHECK(answer_value("\xC0\xAF") == kFffd + kFffd);               // overlong '/'
  CHECK(answer_value("\xE0\x80\x8A") == kFffd + kFffd + kFffd);   // overlong LF
  CHECK(answer_value("\xED\xA0\x80") == kFffd + kFffd + kFffd);   // UTF-16 surrogate D800
  CHECK(answer_value("\xF4\x90\x80\x80") == kFffd + kFffd + kFffd + kFffd);  // beyond U+10FFFF
  CHECK(answer_value("\xF0\x9F\x98") == kFffd + kFffd + kFffd);   // truncated 4-byte sequence
  CHECK(answer_value("Lisboa \xE7") == "Lisboa " + kFffd);        // Latin-1 'ç' left in the data
}

TEST_CASE("long values are cut at the bound and marked", "[render][value]") {
  const std::string exact(whoisd::kMaxValueCodePoints, 'x');
  CHECK(answer_value(exact) == exact);
  const std::string longer(whoisd::kMaxValueCodePoints + 1, 'x');
  CHECK(answer_value(longer) == exact + std::string(kTruncationMarker));
  const std::string huge(1'000'000, 'y');
  CHECK(answer_value(huge).size() == whoisd::kMaxValueCodePoints + kTruncationMarker.size());

  // The bound counts characters, and never cuts one in half.
  std::string accented;
  for (int i = 0; i < 300; ++i) accented += "ç";
  const std::string cut = answer_value(accented);
  std::string expected;
  for (std::size_t i = 0; i < whoisd::kMaxValueCodePoints; ++i) expected += "ç";
  CHECK(cut == expected + std::string(kTruncationMarker));

  CHECK(answer_value("abcdef", 3) == "abc" + std::string(kTruncationMarker));
  CHECK(answer_value("a\nçdef", 3) == "a ç" + std::string(kTruncationMarker));
}

TEST_CASE("the output never holds a control character or an invalid sequence", "[render][value]") {
  // Every single byte and every two-byte pair: whatever goes in, no C0 byte or DEL comes out.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; b += 7) {
      const std::string in{static_cast<char>(a), static_cast<char>(b), 'x'};
      const std::string out = answer_value(in);
      for (const char c : out) {
        const auto u = static_cast<unsigned char>(c);
        INFO("input bytes " << a << " " << b);
        REQUIRE((u >= 0x20 && u != 0x7f));
      }
      REQUIRE(answer_value(out) == out);  // only allowed, well-formed characters are left
    }
  }
}

TEST_CASE("a byte in the middle of a long printable run is judged as it is anywhere else", "[render][value]") {
  // Printable runs are scanned 8 bytes at a time: each byte value, at every offset of a
  // 40-byte run (so at each place in a word and in the bytes after the last whole word),
  // must come out as it does alone, with the run around it unchanged.
  const std::string run = "Rua das Flores 123, 4050-262 Porto ~ PT!";
  REQUIRE(run.size() == 40);
  for (int b = 0; b < 256; ++b) {
    const std::string alone = answer_value(std::string(1, static_cast<char>(b)));
    for (std::size_t at = 0; at < run.size(); ++at) {
      std::string in = run;
      in[at] = static_cast<char>(b);
      INFO("byte " << b << " at " << at);
      REQUIRE(answer_value(in) == run.substr(0, at) + alone + run.substr(at + 1));
    }
  }
  // The bound falls inside, at the edge of and after a whole 8-byte step.
  for (std::size_t bound = 1; bound <= 41; ++bound) {
    INFO("bound " << bound);
    const std::string expected = bound < run.size() ? run.substr(0, bound) + std::string(kTruncationMarker) : run;
    REQUIRE(answer_value(run, bound) == expected);
  }
}

TEST_CASE("a word value keeps no space, so parsers cannot split another host out of it", "[render][value]") {
  using whoisd::answer_word;
  CHECK(answer_word("ns1.example.pt") == "ns1.example.pt");
  CHECK(answer_word("ns1.example.pt forged.pt") == "ns1.example.pt" + kFffd + "forged.pt");
  CHECK(answer_word("a\r\nb") == "a" + kFffd + kFffd + "b");
  CHECK(answer_word("ç é") == "ç" + kFffd + "é");
  CHECK(answer_word("") == "");
  // The truncation marker is the renderer's own text and keeps its space.
  CHECK(answer_word("a b c d", 3) == "a" + kFffd + "b" + std::string(kTruncationMarker));
  CHECK(answer_word(std::string(300, 'x')) == std::string(whoisd::kMaxValueCodePoints, 'x') + std::string(kTruncationMarker));
  std::string out = "Name Server: ";
  whoisd::append_answer_word(out, "h o");
  CHECK(out == "Name Server: h" + kFffd + "o");
}

TEST_CASE("a word value keeps no white space beyond ASCII either", "[render][value]") {
  using whoisd::answer_word;
  // Net::Whois::Parser split "ns1.a.pt<U+00A0>evil.pt" into the host ns1.a.pt and the address evil.pt.
  CHECK(answer_word("ns1.a.pt\xC2\xA0" "evil.pt") == "ns1.a.pt" + kFffd + "evil.pt");
  for (const char* space : {"\xE1\x9A\x80", "\xE2\x80\x80", "\xE2\x80\x8A", "\xE2\x80\xAF", "\xE2\x81\x9F",
                            "\xE3\x80\x80"}) {
    INFO(whoisd::answer_value(space));
    CHECK(answer_word(std::string("a") + space + "b") == "a" + kFffd + "b");
  }
  // Characters near them that are not spaces stay.
  CHECK(answer_word("a\xE2\x80\x90" "b") == "a\xE2\x80\x90" "b");  // U+2010 HYPHEN
  CHECK(answer_word("ç") == "ç");
}

TEST_CASE("\"no match\" in a value is kept from reading as a not-found answer", "[render][value]") {
  const auto answer_value = [](std::string_view raw) {
    std::string out;
    whoisd::append_published_value(out, raw);
    return out;
  };
  const std::string nbsp = "\xC2\xA0";
  // Perl's Net::Whois::Raw reads "no match" anywhere in an answer from the .pt server as
  // "not registered": the space becomes U+00A0, which reads the same.
  CHECK(answer_value("Bar no match Lda") == "Bar no" + nbsp + "match Lda");
  CHECK(answer_value("NO MATCH") == "NO" + nbsp + "MATCH");
  CHECK(answer_value("no\tmatch") == "no" + nbsp + "match");  // the tab became a space first
  CHECK(answer_value("a no match and no match") == "a no" + nbsp + "match and no" + nbsp + "match");
  CHECK(answer_value("no matches") == "no" + nbsp + "matches");
  // Nothing else changes.
  CHECK(answer_value("no  match") == "no  match");
  CHECK(answer_value("nomatch no mat") == "nomatch no mat");
  CHECK(answer_value("Rua do Norte, no 5") == "Rua do Norte, no 5");
  std::string out = "Owner Name: no";
  whoisd::append_published_value(out, " match");  // only the value's own words count
  CHECK(out == "Owner Name: no match");
  // The renderer's own texts are cleaned only (they are refused when they hold the words).
  CHECK(whoisd::answer_value("no match") == "no match");
}
