#include "server/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstring>

namespace whoisd {
namespace {

constexpr std::string_view kV1Signature = "PROXY ";
constexpr std::array<unsigned char, 12> kV2SignatureBytes = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                             0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
const std::string_view kV2Signature(reinterpret_cast<const char*>(kV2SignatureBytes.data()), kV2SignatureBytes.size());
constexpr std::size_t kV2FixedBytes = 16;

// Whether `bytes` and `signature` agree on their common length; `complete` when
// `bytes` holds the whole signature.
bool matches_prefix(std::string_view bytes, std::string_view signature, bool& complete) {
  const std::size_t n = bytes.size() < signature.size() ? bytes.size() : signature.size();
  complete = bytes.size() >= signature.size();
  return bytes.substr(0, n) == signature.substr(0, n);
}

ProxyParseResult invalid(std::string_view reason) {
  ProxyParseResult r;
  r.status = ProxyParseResult::Status::invalid;
  r.reason = reason;
  return r;
}

ProxyParseResult need_more() { return ProxyParseResult{}; }

ProxyParseResult done(ProxyHeader header) {
  ProxyParseResult r;
  r.status = ProxyParseResult::Status::done;
  r.header = header;
  return r;
}

// ---- version 1 ------------------------------------------------------------------------

// Splits off the text up to the next single space; false when there is none.
bool next_field(std::string_view& rest, std::string_view& field) {
  const std::size_t space = rest.find(' ');
  if (space == std::string_view::npos) return false;
  field = rest.substr(0, space);
  rest.remove_prefix(space + 1);
  return true;
}

// Dotted quad, four decimal numbers 0-255 without leading zeros.
std::optional<IpAddress> parse_v1_ipv4(std::string_view text) {
  std::uint32_t value = 0;
  int octets = 0;
  while (true) {
    std::size_t digits = 0;
    unsigned octet = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
      if (digits == 3) return std::nullopt;
      octet = octet * 10 + static_cast<unsigned>(text[digits] - '0');
      ++digits;
    }
    if (digits == 0 || octet > 255 || (digits > 1 && text[0] == '0')) return std::nullopt;
    value = (value << 8) | octet;
    ++octets;
    text.remove_prefix(digits);
    if (octets == 4) break;
    if (text.empty() || text[0] != '.') return std::nullopt;
    text.remove_prefix(1);
  }
  if (!text.empty()) return std::nullopt;
  return IpAddress::v4(value);
}

// RFC 4291 text (inet_pton's syntax), hex digits, colons and an embedded dotted quad only.
std::optional<IpAddress> parse_v1_ipv6(std::string_view text) {
  if (text.empty() || text.size() > 45 || text.find(':') == std::string_view::npos) return std::nullopt;
  char buf[46];
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
    if (!ok) return std::nullopt;
    buf[i] = c;
  }
  buf[text.size()] = '\0';
  in6_addr a6{};
  if (inet_pton(AF_INET6, buf, &a6) != 1) return std::nullopt;
  std::array<std::uint8_t, 16> b{};
  std::memcpy(b.data(), &a6, 16);
  return IpAddress::v6(b);
}

// Decimal 0-65535 without leading zeros.
std::optional<std::uint16_t> parse_v1_port(std::string_view text) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  std::uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// `line` is the header without its CRLF, starting with "PROXY ".
ProxyParseResult parse_v1_line(std::string_view line, std::size_t consumed) {
  std::string_view rest = line.substr(kV1Signature.size());
  ProxyHeader header;
  header.version = 1;
  header.consumed = consumed;
  // UNKNOWN: the receiver ignores whatever follows, up to the CRLF.
  if (rest == "UNKNOWN" || rest.substr(0, 8) == "UNKNOWN ") {
    header.local = true;
    return done(header);
  }
  std::string_view protocol, source, destination, source_port;
  if (!next_field(rest, protocol)) return invalid("v1 header: no protocol");
  const bool tcp4 = protocol == "TCP4";
  if (!tcp4 && protocol != "TCP6") return invalid("v1 header: unknown protocol");
  if (!next_field(rest, source) || !next_field(rest, destination) || !next_field(rest, source_port))
    return invalid("v1 header: missing fields");
  const std::string_view destination_port = rest;  // the last field; no space may follow
  const auto parse_address = tcp4 ? parse_v1_ipv4 : parse_v1_ipv6;
  const auto client = parse_address(source);
  if (!client) return invalid("v1 header: bad source address");
  if (!parse_address(destination)) return invalid("v1 header: bad destination address");
  const auto port = parse_v1_port(source_port);
  if (!port) return invalid("v1 header: bad source port");
  if (!parse_v1_port(destination_port)) return invalid("v1 header: bad destination port");
  header.client = client;
  header.client_port = port;
  return done(header);
}

ProxyParseResult parse_v1(std::string_view bytes) {
  // Scan in order so that the first offending byte decides, whatever follows it: a
  // prefix of the input then always gets the same verdict as the whole.
  for (std::size_t i = kV1Signature.size(); i < bytes.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\r') {
      if (i + 1 >= kProxyV1MaxBytes) return invalid("v1 header: longer than 107 bytes");
      if (i + 1 == bytes.size()) return need_more();
      if (bytes[i + 1] != '\n') return invalid("v1 header: CR without LF");
      return parse_v1_line(bytes.substr(0, i), i + 2);
    }
    if (c == '\n') return invalid("v1 header: LF without CR");
    if (c < 0x20 || c > 0x7E) return invalid("v1 header: byte that is not printable ASCII");
    if (i + 2 >= kProxyV1MaxBytes) return invalid("v1 header: longer than 107 bytes");
  }
  return need_more();
}

// ---- version 2 ------------------------------------------------------------------------

std::uint16_t be16(std::string_view bytes, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(bytes[at]) << 8) |
                                    static_cast<unsigned char>(bytes[at + 1]));
}

ProxyParseResult parse_v2(std::string_view bytes) {
  constexpr unsigned char kLocal = 0x20, kProxy = 0x21;
  if (bytes.size() > 12) {
    const unsigned char version_command = static_cast<unsigned char>(bytes[12]);
    if ((version_command & 0xF0) != 0x20) return invalid("v2 header: unsupported version");
    if (version_command != kLocal && version_command != kProxy) return invalid("v2 header: unknown command");
  }
  // LOCAL's family byte is not checked: the specification says to ignore it (below).
  if (bytes.size() > 13 && static_cast<unsigned char>(bytes[12]) != kLocal) {
    switch (static_cast<unsigned char>(bytes[13])) {
      case 0x00: case 0x11: case 0x12: case 0x21: case 0x22: case 0x31: case 0x32: break;
      default: return invalid("v2 header: unknown address family or transport");
    }
  }
  if (bytes.size() < kV2FixedBytes) return need_more();
  const std::size_t total = kV2FixedBytes + be16(bytes, 14);
  if (total > kProxyV2MaxBytes) return invalid("v2 header: longer than 536 bytes");
  if (bytes.size() < total) return need_more();

  const unsigned char family = static_cast<unsigned char>(bytes[13]) >> 4;
  const std::string_view block = bytes.substr(kV2FixedBytes, total - kV2FixedBytes);
  std::size_t address_bytes = 0;
  if (family == 0x1) address_bytes = 12;        // AF_INET: 4 + 4 + 2 + 2
  else if (family == 0x2) address_bytes = 36;   // AF_INET6: 16 + 16 + 2 + 2
  else if (family == 0x3) address_bytes = 216;  // AF_UNIX: 108 + 108
  const bool local = static_cast<unsigned char>(bytes[12]) == kLocal;
  // LOCAL (a proxy's health check) must be accepted whatever the family says, and its
  // address block is skipped.
  if (!local && block.size() < address_bytes) return invalid("v2 header: address block too short");
  ProxyHeader header;
  header.version = 2;
  header.local = local;
  header.consumed = total;
  // AF_UNSPEC: the block is opaque (the specification says to ignore it).
  if (local || family == 0x0) return done(header);

  // The rest are TLVs: type (1), length (2), value. Each must fit; nothing is interpreted.
  for (std::size_t at = address_bytes; at < block.size();) {
    if (block.size() - at < 3) return invalid("v2 header: truncated TLV");
    const std::size_t length = be16(block, at + 1);
    if (block.size() - at - 3 < length) return invalid("v2 header: TLV overruns the header");
    at += 3 + length;
  }
  if (family == 0x1) {
    const auto b = [&](std::size_t i) { return std::uint32_t{static_cast<unsigned char>(block[i])}; };
    header.client = IpAddress::v4((b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3));
    header.client_port = be16(block, 8);
  } else if (family == 0x2) {
    std::array<std::uint8_t, 16> a{};
    std::memcpy(a.data(), block.data(), 16);
    header.client = IpAddress::v6(a);
    header.client_port = be16(block, 32);
  }
  return done(header);
}

}  // namespace

ProxySignature detect_proxy_signature(std::string_view bytes) {
  bool complete = false;
  if (matches_prefix(bytes, kV1Signature, complete)) return complete ? ProxySignature::v1 : ProxySignature::incomplete;
  if (matches_prefix(bytes, kV2Signature, complete)) return complete ? ProxySignature::v2 : ProxySignature::incomplete;
  return ProxySignature::absent;
}

bool looks_like_proxy_header(std::string_view bytes) {
  return detect_proxy_signature(bytes) != ProxySignature::absent;
}

ProxyParseResult parse_proxy_header(std::string_view bytes) {
  switch (detect_proxy_signature(bytes)) {
    case ProxySignature::incomplete: return need_more();
    case ProxySignature::absent: return invalid("no PROXY signature");
    case ProxySignature::v1: return parse_v1(bytes);
    case ProxySignature::v2: return parse_v2(bytes);
  }
  return invalid("no PROXY signature");
}

}  // namespace whoisd
