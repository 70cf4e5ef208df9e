#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "server/proxy_protocol.h"

using whoisd::detect_proxy_signature;
using whoisd::IpAddress;
using whoisd::parse_proxy_header;
using whoisd::ProxyParseResult;
using whoisd::ProxySignature;
using Status = whoisd::ProxyParseResult::Status;

namespace {

using namespace std::string_literals;
const std::string kV2Sig = "\r\n\r\n\0\r\nQUIT\n"s;

std::string be16(unsigned v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xFF)}; }

// A v2 header: signature, version/command, family/transport, length, then `block`.
std::string v2(unsigned char version_command, unsigned char family, const std::string& block) {
  return kV2Sig + static_cast<char>(version_command) + static_cast<char>(family) + be16(block.size()) + block;
}

std::string ipv4_block(std::string src, std::string dst, unsigned sport, unsigned dport) {
  return src + dst + be16(sport) + be16(dport);
}

std::string tlv(unsigned char type, const std::string& value) { return static_cast<char>(type) + be16(value.size()) + value; }

// Feeds `bytes` one byte more at a time, as a connection receiving one byte per read
// would; every prefix must be need_more or already the final result.
ProxyParseResult parse_growing(std::string_view bytes) {
  ProxyParseResult final_result = parse_proxy_header(bytes);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const ProxyParseResult r = parse_proxy_header(bytes.substr(0, n));
    if (r.status == Status::need_more) continue;
    REQUIRE(r.status == final_result.status);
    REQUIRE(r.reason == final_result.reason);
    REQUIRE(r.header.consumed == final_result.header.consumed);
    REQUIRE(r.header.client == final_result.header.client);
  }
  return final_result;
}

ProxyParseResult expect_done(std::string_view bytes) {
  const ProxyParseResult r = parse_growing(bytes);
  INFO("reason: " << r.reason);
  REQUIRE(r.status == Status::done);
  return r;
}

std::string_view expect_invalid(std::string_view bytes) {
  const ProxyParseResult r = parse_growing(bytes);
  REQUIRE(r.status == Status::invalid);
  REQUIRE_FALSE(r.reason.empty());
  return r.reason;
}

}  // namespace

TEST_CASE("signature detection", "[proxy]") {
  CHECK(detect_proxy_signature("") == ProxySignature::incomplete);
  CHECK(detect_proxy_signature("PROX") == ProxySignature::incomplete);
  CHECK(detect_proxy_signature("PROXY ") == ProxySignature::v1);
  CHECK(detect_proxy_signature("PROXY TCP4") == ProxySignature::v1);
  CHECK(detect_proxy_signature("PROXY.pt\r\n") == ProxySignature::absent);
  CHECK(detect_proxy_signature("proxy ") == ProxySignature::absent);
  CHECK(detect_proxy_signature("example.pt\r\n") == ProxySignature::absent);
  CHECK(detect_proxy_signature("\r\n") == ProxySignature::incomplete);  // the empty line is a prefix of v2
  CHECK(detect_proxy_signature("\r\nx") == ProxySignature::absent);
  CHECK(detect_proxy_signature("\n") == ProxySignature::absent);
  CHECK(detect_proxy_signature(kV2Sig.substr(0, 11)) == ProxySignature::incomplete);
  CHECK(detect_proxy_signature(kV2Sig) == ProxySignature::v2);
  CHECK(whoisd::looks_like_proxy_header("PROXY TCP4 "));
  CHECK(whoisd::looks_like_proxy_header(kV2Sig + "!"));
  CHECK_FALSE(whoisd::looks_like_proxy_header("sapo.pt\r\n"));
  CHECK(parse_proxy_header("sapo.pt\r\n").status == Status::invalid);
  CHECK(parse_proxy_header("sapo.pt\r\n").reason == "no PROXY signature");
}

TEST_CASE("v1 TCP4", "[proxy]") {
  const std::string header = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 43\r\n";
  const auto r = expect_done(header + "sapo.pt\r\n");
  CHECK(r.header.version == 1);
  CHECK_FALSE(r.header.local);
  REQUIRE(r.header.client);
  CHECK(r.header.client->to_string() == "192.0.2.7");
  CHECK(r.header.client->is_v4());
  CHECK(r.header.client_port == 56324);
  CHECK(r.header.consumed == header.size());
}

TEST_CASE("v1 TCP6, longest header, mapped address", "[proxy]") {
  const std::string longest =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  REQUIRE(longest.size() == 104);
  auto r = expect_done(longest);
  CHECK(r.header.client->to_string() == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  CHECK(r.header.client_port == 65535);
  CHECK(r.header.consumed == 104);

  r = expect_done("PROXY TCP6 2001:db8::1 2001:db8::2 0 43\r\n");
  CHECK(r.header.client->to_string() == "2001:db8::1");
  CHECK(r.header.client_port == 0);

  r = expect_done("PROXY TCP6 ::ffff:192.0.2.9 ::1 1 43\r\n");
  CHECK(r.header.client->is_v4());
  CHECK(r.header.client->to_string() == "192.0.2.9");
}

TEST_CASE("v1 UNKNOWN names no client", "[proxy]") {
  auto r = expect_done("PROXY UNKNOWN\r\nsapo.pt\r\n");
  CHECK(r.header.local);
  CHECK_FALSE(r.header.client);
  CHECK_FALSE(r.header.client_port);
  CHECK(r.header.consumed == 15);
  // Whatever follows UNKNOWN up to the CRLF is ignored.
  r = expect_done("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n");
  CHECK_FALSE(r.header.client);
  CHECK(r.header.consumed == 35);
  // The longest allowed: 107 bytes including CRLF.
  const std::string at_limit = "PROXY UNKNOWN " + std::string(107 - 16, 'x') + "\r\n";
  REQUIRE(at_limit.size() == 107);
  CHECK(expect_done(at_limit).header.consumed == 107);
}

TEST_CASE("v1 malformed headers are invalid", "[proxy]") {
  const char* cases[] = {
      "PROXY TCP4 192.0.2.7 198.51.100.1 56324 43\n",         // LF without CR
      "PROXY TCP4 192.0.2.7 198.51.100.1 56324 43\rX",        // CR without LF
      "PROXY TCP5 192.0.2.7 198.51.100.1 56324 43\r\n",       // unknown protocol
      "PROXY tcp4 192.0.2.7 198.51.100.1 56324 43\r\n",       // protocol is case-sensitive
      "PROXY \r\n",                                           // nothing
      "PROXY TCP4\r\n",                                       // no addresses
      "PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n",          // missing port
      "PROXY TCP4 192.0.2.7 198.51.100.1 56324 43 \r\n",      // trailing space
      "PROXY TCP4  192.0.2.7 198.51.100.1 56324 43\r\n",      // double space
      "PROXY TCP4 192.0.2.7 198.51.100.1 56324 43 7\r\n",     // extra field
      "PROXY TCP4 192.0.2.256 198.51.100.1 56324 43\r\n",     // octet > 255
      "PROXY TCP4 192.0.2.07 198.51.100.1 56324 43\r\n",      // leading zero
      "PROXY TCP4 192.0.2 198.51.100.1 56324 43\r\n",         // three octets
      "PROXY TCP4 192.0.2.7.1 198.51.100.1 56324 43\r\n",     // five octets
      "PROXY TCP4 1920.0.2.7 198.51.100.1 56324 43\r\n",      // four digits
      "PROXY TCP4 2001:db8::1 198.51.100.1 56324 43\r\n",     // IPv6 in TCP4
      "PROXY TCP6 192.0.2.7 2001:db8::2 56324 43\r\n",        // IPv4 in TCP6
      "PROXY TCP6 2001:db8:::1 2001:db8::2 56324 43\r\n",     // bad IPv6
      "PROXY TCP6 2001:db8::1%eth0 2001:db8::2 56324 43\r\n", // zone index
      "PROXY TCP4 192.0.2.7 198.51.100.x 56324 43\r\n",       // bad destination
      "PROXY TCP4 192.0.2.7 198.51.100.1 65536 43\r\n",       // port > 65535
      "PROXY TCP4 192.0.2.7 198.51.100.1 056324 43\r\n",      // port, leading zero
      "PROXY TCP4 192.0.2.7 198.51.100.1 -1 43\r\n",          // negative port
      "PROXY TCP4 192.0.2.7 198.51.100.1 1 +43\r\n",          // signed port
      "PROXY TCP4 192.0.2.7 198.51.100.1 1 \r\n",             // empty port
      "PROXY TCP4 192.0.2.7\t198.51.100.1 1 43\r\n",          // tab
      "PROXY UNKNOWN\xff\r\n",                                // not ASCII
  };
  for (const char* c : cases) {
    INFO(c);
    expect_invalid(c);
  }
  CHECK(expect_invalid(std::string("PROXY TCP4 \0 1 2 3\r\n", 20)) == "v1 header: byte that is not printable ASCII");
}

TEST_CASE("v1 length is capped at 107 bytes", "[proxy]") {
  const std::string too_long = "PROXY UNKNOWN " + std::string(107 - 15, 'x') + "\r\n";  // 108
  CHECK(expect_invalid(too_long) == "v1 header: longer than 107 bytes");
  // A sender that never ends the line is refused after 107 bytes, not buffered further.
  const std::string endless = "PROXY TCP4 " + std::string(200, '1');
  // 105 bytes could still end in CRLF within 107; 106 cannot.
  CHECK(parse_proxy_header(endless.substr(0, 105)).status == Status::need_more);
  CHECK(parse_proxy_header(endless.substr(0, 106)).reason == "v1 header: longer than 107 bytes");
  CHECK(parse_proxy_header(endless).status == Status::invalid);
}

TEST_CASE("v2 PROXY over IPv4 with TLVs", "[proxy]") {
  const std::string block = ipv4_block("\xC0\x00\x02\x07"s, "\xC6\x33\x64\x01", 56324, 43) +
                            tlv(0x04, "") /* NOOP */ + tlv(0x05, "unique-id-123") + tlv(0xE0, std::string(40, 'z'));
  const std::string header = v2(0x21, 0x11, block);
  const auto r = expect_done(header + "sapo.pt\r\n");
  CHECK(r.header.version == 2);
  CHECK_FALSE(r.header.local);
  CHECK(r.header.client->to_string() == "192.0.2.7");
  CHECK(r.header.client_port == 56324);
  CHECK(r.header.consumed == header.size());
  CHECK(r.header.consumed == 16 + 12 + 3 + 16 + 43);
}

TEST_CASE("v2 PROXY over IPv6", "[proxy]") {
  std::string src = "\x20\x01\x0d\xb8"s + std::string(11, '\0') + "\x05"s;
  std::string dst = "\x20\x01\x0d\xb8"s + std::string(11, '\0') + "\x06"s;
  auto r = expect_done(v2(0x21, 0x21, src + dst + be16(4343) + be16(43)));
  CHECK(r.header.client->to_string() == "2001:db8::5");
  CHECK(r.header.client_port == 4343);
  CHECK(r.header.consumed == 52);
  // An IPv4-mapped source is the IPv4 client.
  const std::string mapped = std::string(10, '\0') + "\xff\xff\xc0\x00\x02\x09"s;
  r = expect_done(v2(0x21, 0x21, mapped + dst + be16(1) + be16(43)));
  CHECK(r.header.client->is_v4());
  CHECK(r.header.client->to_string() == "192.0.2.9");
  // UDP over IPv6 names a client all the same.
  CHECK(expect_done(v2(0x21, 0x22, src + dst + be16(1) + be16(43))).header.client);
}

TEST_CASE("v2 LOCAL, UNSPEC and UNIX name no client", "[proxy]") {
  // LOCAL with no addresses (HAProxy's health checks).
  auto r = expect_done(v2(0x20, 0x00, "") + "sapo.pt\r\n");
  CHECK(r.header.local);
  CHECK_FALSE(r.header.client);
  CHECK(r.header.consumed == 16);
  // LOCAL with an address block and TLVs: all skipped, even a short one.
  r = expect_done(v2(0x20, 0x11, ipv4_block("\1\2\3\4", "\5\6\7\x08", 1, 2) + tlv(0x01, "h2")));
  CHECK(r.header.local);
  CHECK_FALSE(r.header.client);
  CHECK(expect_done(v2(0x20, 0x21, "abc")).header.consumed == 19);
  // LOCAL whatever its family byte says, even one no PROXY command may carry.
  for (unsigned char family : {0x01, 0x13, 0x41, 0xFF}) {
    INFO(static_cast<int>(family));
    r = expect_done(v2(0x20, family, "") + "sapo.pt\r\n");
    CHECK(r.header.local);
    CHECK_FALSE(r.header.client);
    CHECK(r.header.consumed == 16);
  }
  // PROXY with AF_UNSPEC: the block is ignored.
  r = expect_done(v2(0x21, 0x00, "opaque"));
  CHECK_FALSE(r.header.local);
  CHECK_FALSE(r.header.client);
  CHECK(r.header.consumed == 22);
  // PROXY with AF_UNIX: 216 bytes of paths, then TLVs.
  r = expect_done(v2(0x21, 0x31, std::string(216, '\0') + tlv(0x02, "example.pt")));
  CHECK_FALSE(r.header.client);
  CHECK(r.header.consumed == 16 + 216 + 13);
}

TEST_CASE("v2 malformed headers are invalid", "[proxy]") {
  const std::string v4 = ipv4_block("\1\2\3\4", "\5\6\7\x08", 1, 2);
  CHECK(expect_invalid(v2(0x11, 0x11, v4)) == "v2 header: unsupported version");
  CHECK(expect_invalid(v2(0x31, 0x11, v4)) == "v2 header: unsupported version");
  CHECK(expect_invalid(v2(0x22, 0x11, v4)) == "v2 header: unknown command");
  CHECK(expect_invalid(v2(0x2F, 0x11, v4)) == "v2 header: unknown command");
  for (unsigned char family : {0x01, 0x10, 0x13, 0x23, 0x41, 0xFF}) {
    INFO(int(family));
    CHECK(expect_invalid(v2(0x21, family, v4)) == "v2 header: unknown address family or transport");
  }
  CHECK(expect_invalid(v2(0x21, 0x11, v4.substr(0, 11))) == "v2 header: address block too short");
  CHECK(expect_invalid(v2(0x21, 0x21, std::string(35, '\0'))) == "v2 header: address block too short");
  CHECK(expect_invalid(v2(0x21, 0x31, std::string(215, '\0'))) == "v2 header: address block too short");
  CHECK(expect_invalid(v2(0x21, 0x11, v4 + "\x04\x00"s)) == "v2 header: truncated TLV");
  CHECK(expect_invalid(v2(0x21, 0x11, v4 + "\x05\x00\x05" "abcd"s)) == "v2 header: TLV overruns the header");
  CHECK(expect_invalid(v2(0x21, 0x11, v4 + tlv(0x05, "ok") + "\x05\xff\xff")) == "v2 header: TLV overruns the header");
}

TEST_CASE("v2 length is capped at 536 bytes", "[proxy]") {
  const std::string v4 = ipv4_block("\1\2\3\4", "\5\6\7\x08", 1, 2);
  const std::string at_limit = v2(0x21, 0x11, v4 + tlv(0xE0, std::string(536 - 16 - 12 - 3, 'a')));
  REQUIRE(at_limit.size() == 536);
  CHECK(expect_done(at_limit).header.consumed == 536);
  const std::string over = v2(0x21, 0x11, v4 + tlv(0xE0, std::string(536 - 16 - 12 - 2, 'a')));
  // Refused as soon as the length field is read, without waiting for the rest.
  CHECK(parse_proxy_header(over.substr(0, 16)).reason == "v2 header: longer than 536 bytes");
  CHECK(expect_invalid(over) == "v2 header: longer than 536 bytes");
  CHECK(parse_proxy_header(kV2Sig + "\x21\x11\xff\xff").status == Status::invalid);
}

TEST_CASE("split reads: need_more until the header is whole", "[proxy]") {
  const std::string header = v2(0x21, 0x11, ipv4_block("\xC0\x00\x02\x07"s, "\1\1\1\1", 9, 43));
  CHECK(parse_proxy_header(header.substr(0, 1)).status == Status::need_more);
  CHECK(parse_proxy_header(header.substr(0, 12)).status == Status::need_more);
  CHECK(parse_proxy_header(header.substr(0, 16)).status == Status::need_more);
  CHECK(parse_proxy_header(header.substr(0, 27)).status == Status::need_more);
  CHECK(parse_proxy_header(header).status == Status::done);
  const std::string line = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 43\r\n";
  CHECK(parse_proxy_header(line.substr(0, 3)).status == Status::need_more);
  CHECK(parse_proxy_header(line.substr(0, 20)).status == Status::need_more);
  CHECK(parse_proxy_header(line.substr(0, line.size() - 1)).status == Status::need_more);
  CHECK(parse_proxy_header(line).status == Status::done);
  // Bytes after the header do not change it, wherever the reads split them.
  CHECK(parse_proxy_header(line + "x").header.consumed == line.size());
  CHECK(parse_proxy_header(line + "PROXY TCP4 1.1.1.1 1.1.1.1 1 1\r\n").header.client->to_string() == "192.0.2.7");
}
