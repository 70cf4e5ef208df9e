#include "common/uts46_mapper.h"

#include <unicode/uidna.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace whoisd {

Uts46Mapper::Uts46Mapper() {
  UErrorCode status = U_ZERO_ERROR;
  idna_ = uidna_openUTS46(UIDNA_USE_STD3_RULES | UIDNA_CHECK_BIDI | UIDNA_CHECK_CONTEXTJ |
                              UIDNA_NONTRANSITIONAL_TO_ASCII | UIDNA_NONTRANSITIONAL_TO_UNICODE,
                          &status);
  if (U_FAILURE(status))
    throw std::runtime_error(std::string("ICU uidna_openUTS46 failed: ") + u_errorName(status));
}

Uts46Mapper::~Uts46Mapper() { uidna_close(idna_); }

std::string Uts46Mapper::a_label_problem(std::string_view label) const {
  // A label is at most 63 octets (its decoding at most 59 code points, 4 octets each
  // in UTF-8): a longer one is refused before ICU sees it.
  if (label.size() > 63) return "it is " + std::to_string(label.size()) + " octets long, at most 63";
  char decoded[256];
  UErrorCode status = U_ZERO_ERROR;
  UIDNAInfo info = UIDNA_INFO_INITIALIZER;
  uidna_labelToUnicodeUTF8(idna_, label.data(), static_cast<int32_t>(label.size()), decoded, sizeof decoded, &info,
                           &status);
  if (U_FAILURE(status)) return std::string("ICU cannot decode it: ") + u_errorName(status);
  return uts46_errors_in_words(info.errors);
}

std::string uts46_errors_in_words(std::uint32_t errors) {
  // The bits ICU sets (uidna.h), in the order an operator would want them: what the
  // Punycode is, then what its characters are, then where they stand.
  static constexpr struct {
    std::uint32_t bit;
    const char* words;
  } kWords[] = {
      {UIDNA_ERROR_PUNYCODE, "its Punycode does not decode"},
      {UIDNA_ERROR_INVALID_ACE_LABEL,
       "it does not decode to a valid U-label (what it decodes to has a character IDNA disallows or maps to "
       "another, is not in NFC, or is plain ASCII)"},
      {UIDNA_ERROR_DISALLOWED, "it contains a character IDNA does not allow"},
      {UIDNA_ERROR_LABEL_HAS_DOT, "it contains a dot, or a character that maps to one"},
      {UIDNA_ERROR_LEADING_COMBINING_MARK, "it begins with a combining mark"},
      {UIDNA_ERROR_BIDI, "it breaks the Bidi rule for right-to-left text (RFC 5893)"},
      {UIDNA_ERROR_CONTEXTJ, "it has a zero width joiner or non-joiner where RFC 5892 does not allow one"},
      {UIDNA_ERROR_CONTEXTO_PUNCTUATION, "it has punctuation where RFC 5892 does not allow it"},
      {UIDNA_ERROR_CONTEXTO_DIGITS, "it mixes Arabic-Indic and extended Arabic-Indic digits"},
      {UIDNA_ERROR_HYPHEN_3_4, "its Unicode form has hyphens in the third and fourth places"},
      {UIDNA_ERROR_LEADING_HYPHEN, "its Unicode form begins with a hyphen"},
      {UIDNA_ERROR_TRAILING_HYPHEN, "its Unicode form ends with a hyphen"},
      {UIDNA_ERROR_EMPTY_LABEL, "it is empty"},
      {UIDNA_ERROR_LABEL_TOO_LONG, "it is longer than 63 octets"},
      {UIDNA_ERROR_DOMAIN_NAME_TOO_LONG, "the name is longer than 253 octets"},
  };
  std::string out;
  std::uint32_t named = 0;
  for (const auto& [bit, words] : kWords) {
    if ((errors & bit) == 0) continue;
    out += out.empty() ? "" : "; ";
    out += words;
    named |= bit;
  }
  // A bit a later ICU may add: named by its value rather than dropped.
  if (const std::uint32_t other = errors & ~named; other != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%x", static_cast<unsigned>(other));
    out += (out.empty() ? "" : "; ") + std::string("ICU reports UTS #46 error bits ") + hex;
  }
  return out;
}

}  // namespace whoisd
