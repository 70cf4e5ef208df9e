#include "common/uts46_mapper.h"

#include <unicode/uidna.h>

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

}  // namespace whoisd
