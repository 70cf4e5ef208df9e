// whoisd's one configuration of ICU's UTS #46 processing (SPEC §2): non-transitional
// (ß and ς stay themselves), STD3 ASCII rules (letters, digits, hyphen), and the Bidi
// and ContextJ rules of IDNA2008 (RFC 5893, RFC 5892 appendix A.1-A.2). The query
// parser maps queries with it, the generator makes A-labels with it and the snapshot's
// rules check the A-labels of name servers with it, so that all three judge a name
// alike.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

struct UIDNA;  // ICU's opaque IDNA object (unicode/uidna.h)

namespace whoisd {

class Uts46Mapper {
 public:
  Uts46Mapper();  // throws std::runtime_error naming ICU's error if it cannot be opened
  ~Uts46Mapper();
  Uts46Mapper(const Uts46Mapper&) = delete;
  Uts46Mapper& operator=(const Uts46Mapper&) = delete;

  // ICU's object, for the uidna_* functions. Immutable once opened: ICU documents it
  // as safe to use from any number of threads at once.
  const UIDNA* get() const { return idna_; }

  // "" when `label` (one label, ASCII, beginning with "xn--") is the A-label of a valid
  // U-label: its Punycode decodes, and what it decodes to passes UTS #46 validity
  // (NFC, no character IDNA disallows or maps to another, the Bidi and ContextJ rules,
  // no hyphen first or last or in the third and fourth places). Otherwise what is
  // wrong, in words (uts46_errors_in_words). ICU also refuses an A-label that is not
  // the one its U-label encodes to (a U-label not in NFC, say), so a label it accepts
  // has one spelling.
  std::string a_label_problem(std::string_view label) const;

 private:
  UIDNA* idna_ = nullptr;
};

// ICU's UTS #46 error bits (UIDNAInfo::errors) in words, most telling first, joined by
// "; ", e.g. "it contains a character IDNA does not allow; it breaks the Bidi rule for
// right-to-left text (RFC 5893)"; a bit it does not know by its value. "" for no bits.
std::string uts46_errors_in_words(std::uint32_t errors);

}  // namespace whoisd
