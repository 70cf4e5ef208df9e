// The PROXY protocol (HAProxy's specification, version 1 text and version 2 binary):
// the header a trusted proxy or web frontend sends before the query, naming the end
// client on whose behalf it connects. Only peers in [proxy] trusted may send one; from
// any other peer a PROXY header is refused, and a trusted peer that sends none is itself
// the source.
//
// The parser is incremental in the simplest way: the caller keeps the first bytes of the
// connection in its buffer and calls parse_proxy_header() again on everything received so
// far after each read. The answer for a prefix never contradicts the answer for the whole:
// a prefix is `need_more`, or it already has the final result. Nothing is allocated and
// no state is kept, so hostile input costs at most kProxyHeaderMaxBytes of buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/address.h"

namespace whoisd {

// Version 1: "PROXY TCP6 <39> <39> 65535 65535\r\n" is the longest line, 107 bytes.
inline constexpr std::size_t kProxyV1MaxBytes = 107;
// Version 2: 16 fixed bytes, then addresses and TLVs. The specification lets a receiver
// cap the total; 536 bytes (the minimum TCP MSS) holds any address block plus TLVs.
inline constexpr std::size_t kProxyV2MaxBytes = 536;
inline constexpr std::size_t kProxyHeaderMaxBytes = kProxyV2MaxBytes;

// What the first bytes of a connection are, as far as the PROXY signatures go.
enum class ProxySignature {
  incomplete,  // too few bytes to tell: they are a prefix of "PROXY " or of the v2 signature
  absent,      // not a PROXY header: an ordinary query line
  v1,          // starts with "PROXY "
  v2,          // starts with the 12-byte v2 signature "\r\n\r\n\0\r\nQUIT\n"
};
ProxySignature detect_proxy_signature(std::string_view bytes);

// True when `bytes` could be (the start of) a PROXY header: the signature is there or
// they are still a prefix of one. From an untrusted peer, `true` with signature v1/v2 means
// refuse; `incomplete` means read more first (note that "\r\n", an empty query line, is a
// prefix of the v2 signature; a real proxy sends its 16 fixed bytes in one segment).
bool looks_like_proxy_header(std::string_view bytes);

struct ProxyHeader {
  int version = 0;                       // 1 or 2
  bool local = false;                    // v2 LOCAL (health check) or v1 UNKNOWN: no client named
  std::optional<IpAddress> client;       // the end client; absent for LOCAL, UNKNOWN, AF_UNIX, AF_UNSPEC
  std::optional<std::uint16_t> client_port;
  std::size_t consumed = 0;              // header bytes; the query line starts right after them
};

struct ProxyParseResult {
  enum class Status { need_more, done, invalid };
  Status status = Status::need_more;
  ProxyHeader header;       // when done
  std::string_view reason;  // when invalid: short fixed text (static storage), safe to log
};

// Parses the PROXY header at the start of `bytes` (everything received so far).
//   need_more: a valid prefix, fewer than kProxyHeaderMaxBytes; read more and call again.
//   done:      header.consumed <= bytes.size(); bytes after it belong to the query.
//   invalid:   not a well-formed header (including "no PROXY signature at all").
ProxyParseResult parse_proxy_header(std::string_view bytes);

}  // namespace whoisd
