// Fuzzes the PROXY protocol parser with whatever a peer might send first, checking the
// invariants the server relies on: it never reads past the input, a header it accepts
// fits the caps, and feeding the bytes one at a time (as split reads would) gives the
// same result as feeding them all at once.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/proxy_protocol.h"

using whoisd::ProxyParseResult;
using Status = ProxyParseResult::Status;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const ProxyParseResult whole = whoisd::parse_proxy_header(bytes);
  const whoisd::ProxySignature signature = whoisd::detect_proxy_signature(bytes);

  switch (whole.status) {
    case Status::done:
      check(whole.header.consumed > 0 && whole.header.consumed <= size);
      check(whole.header.consumed <= whoisd::kProxyHeaderMaxBytes);
      check(whole.header.version == 1 || whole.header.version == 2);
      check(whole.header.client.has_value() == whole.header.client_port.has_value());
      check(!(whole.header.local && whole.header.client));
      check(whoisd::looks_like_proxy_header(bytes));
      check(signature == (whole.header.version == 1 ? whoisd::ProxySignature::v1 : whoisd::ProxySignature::v2));
      // The header alone parses to the same result: nothing after it mattered.
      {
        const ProxyParseResult alone = whoisd::parse_proxy_header(bytes.substr(0, whole.header.consumed));
        check(alone.status == Status::done && alone.header.consumed == whole.header.consumed &&
              alone.header.client == whole.header.client && alone.header.client_port == whole.header.client_port);
      }
      break;
    case Status::need_more:
      check(size < whoisd::kProxyHeaderMaxBytes);  // a caller never buffers more than the cap
      check(signature != whoisd::ProxySignature::absent);
      break;
    case Status::invalid:
      check(!whole.reason.empty());
      check(whole.header.consumed == 0);
      break;
  }

  // Byte by byte: every prefix is need_more or already the final verdict.
  for (std::size_t n = 0; n < size; ++n) {
    const ProxyParseResult part = whoisd::parse_proxy_header(bytes.substr(0, n));
    if (part.status == Status::need_more) continue;
    check(part.status == whole.status);
    check(part.reason == whole.reason);
    check(part.header.consumed == whole.header.consumed);
    check(part.header.client == whole.header.client);
    check(part.header.client_port == whole.header.client_port);
    check(part.header.local == whole.header.local);
    break;  // later prefixes extend this one, which the next runs cover
  }
  return 0;
}
