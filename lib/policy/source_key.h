// The unit the abuse policy counts queries against (SPEC §4 "Source"): one IPv4
// address, or one IPv6 network of the configured prefix length (a /64 by default,
// because one customer line usually gets a whole /64 and could otherwise rotate
// through 2^64 addresses). An IPv4-mapped IPv6 address is its IPv4 address, which
// IpAddress already guarantees by storing IPv4 in its mapped form.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "common/address.h"

namespace whoisd {

struct SourceKey {
  // The masked address in IpAddress's 16-byte form (IPv4 as ::ffff:a.b.c.d).
  std::array<std::uint8_t, 16> bytes{};
  // Prefix length in the key's own family: 32 for IPv4, the configured one for IPv6.
  std::uint8_t prefix = 32;

  bool is_v4() const {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(bytes.data(), kMapped, sizeof kMapped) == 0;
  }
  IpAddress address() const { return IpAddress::v6(bytes); }

  friend bool operator==(const SourceKey&, const SourceKey&) = default;
  friend auto operator<=>(const SourceKey&, const SourceKey&) = default;
};

// The key of a client address: IPv4 as is, IPv6 masked to ipv6_prefix (0-128).
SourceKey source_key(const IpAddress& address, int ipv6_prefix);

// "192.0.2.1" for IPv4; "2001:db8:1:2::/64" for IPv6 (always with the prefix, so that
// an operator sees that a whole network is meant).
std::string to_string(const SourceKey& key);

// The key an operator names on the command line (whoisd-admin lift/suspend/history):
// "192.0.2.1", "::ffff:192.0.2.1", "2001:db8:1:2::/64", or any IPv6 address inside the
// network ("2001:db8:1:2::7" -> 2001:db8:1:2::/64). An IPv6 network of a prefix
// length other than ipv6_prefix, an IPv4 network other than /32, or anything that is
// not an address gives nullopt with `error` naming the text and what was wrong.
std::optional<SourceKey> parse_source_key(std::string_view text, int ipv6_prefix, std::string* error = nullptr);

}  // namespace whoisd
