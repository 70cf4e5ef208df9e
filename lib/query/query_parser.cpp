#include "query/query_parser.h"

#include <stdexcept>

#include <unicode/uidna.h>

namespace whoisd {

QueryParser::QueryParser() {
  UErrorCode status = U_ZERO_ERROR;
  idna_ = uidna_openUTS46(UIDNA_USE_STD3_RULES | UIDNA_CHECK_BIDI | UIDNA_CHECK_CONTEXTJ |
                              UIDNA_NONTRANSITIONAL_TO_ASCII | UIDNA_NONTRANSITIONAL_TO_UNICODE,
                          &status);
  if (U_FAILURE(status)) throw std::runtime_error("ICU uidna_openUTS46 failed");
}

QueryParser::~QueryParser() { uidna_close(idna_); }

ParsedQuery QueryParser::parse(std::string_view) const {
  ParsedQuery q;
  q.reason = "not implemented";
  return q;
}

}  // namespace whoisd
