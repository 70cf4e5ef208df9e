// whoisd's one configuration of ICU's UTS #46 processing (SPEC §2): non-transitional
// (ß and ς stay themselves), STD3 ASCII rules (letters, digits, hyphen), and the Bidi
// and ContextJ rules of IDNA2008 (RFC 5893, RFC 5892 appendix A.1-A.2). The query
// parser maps queries with it and the generator makes A-labels with it, so that both
// judge a name alike.
#pragma once

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

 private:
  UIDNA* idna_ = nullptr;
};

}  // namespace whoisd
