// whoisd's UTS #46 mapper (common/uts46_mapper.h): whether a label is the A-label of a
// valid U-label, and ICU's error bits in words.
#include <catch2/catch.hpp>

#include <unicode/uidna.h>

#include <string>

#include "common/uts46_mapper.h"

using Catch::Contains;
using whoisd::Uts46Mapper;
using whoisd::uts46_errors_in_words;

TEST_CASE("an A-label of a valid U-label has no problem; one that does not decode to one is named") {
  const Uts46Mapper idna;
  // açores, пример, مثال (right to left throughout), faß (kept: non-transitional).
  for (const char* good : {"xn--aores-yra", "xn--e1afmkfd", "xn--mgbh0fb", "xn--fa-hia"}) {
    INFO(good);
    CHECK(idna.a_label_problem(good) == "");
  }
  CHECK_THAT(idna.a_label_problem("xn--abc"), Contains("does not decode to a valid U-label"));
  CHECK_THAT(idna.a_label_problem("xn--"), Contains("does not decode to a valid U-label"));
  CHECK_THAT(idna.a_label_problem("xn--0ug"), Contains("zero width joiner or non-joiner"));      // U+200C alone
  CHECK_THAT(idna.a_label_problem("xn--ab-ivd"), Contains("Bidi rule"));                         // 'ab' + U+0640
  CHECK_THAT(idna.a_label_problem("xn--xn--a-2ra"), Contains("third and fourth places"));        // 'xn--aç'
  CHECK_THAT(idna.a_label_problem("xn---abc-0ra"), Contains("Unicode form begins with a hyphen"));  // '-üabc'
  CHECK_THAT(idna.a_label_problem("xn--" + std::string(60, 'a')), Contains("64 octets long, at most 63"));
}

TEST_CASE("UTS #46 error bits in words: every bit named, several joined, an unknown one by its value") {
  CHECK(uts46_errors_in_words(0) == "");
  CHECK(uts46_errors_in_words(UIDNA_ERROR_PUNYCODE) == "its Punycode does not decode");
  CHECK(uts46_errors_in_words(UIDNA_ERROR_DISALLOWED | UIDNA_ERROR_BIDI) ==
        "it contains a character IDNA does not allow; it breaks the Bidi rule for right-to-left text (RFC 5893)");
  for (std::uint32_t bit = 1; bit <= UIDNA_ERROR_CONTEXTO_DIGITS; bit <<= 1) {
    INFO(bit);
    CHECK_THAT(uts46_errors_in_words(bit), !Contains("error bits"));
  }
  CHECK(uts46_errors_in_words(0x80000u) == "ICU reports UTS #46 error bits 0x80000");
  CHECK(uts46_errors_in_words(UIDNA_ERROR_EMPTY_LABEL | 0x80000u) ==
        "it is empty; ICU reports UTS #46 error bits 0x80000");
}
