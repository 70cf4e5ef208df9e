#include "policy/source_key.h"

#include <charconv>

namespace whoisd {

SourceKey source_key(const IpAddress& address, int ipv6_prefix) {
  SourceKey key;
  if (address.is_v4()) {
    key.bytes = address.bytes();
    key.prefix = 32;
  } else {
    key.bytes = address.masked(ipv6_prefix).bytes();
    key.prefix = static_cast<std::uint8_t>(ipv6_prefix);
  }
  return key;
}

std::string to_string(const SourceKey& key) {
  if (key.is_v4()) return key.address().to_string();
  return key.address().to_string() + "/" + std::to_string(key.prefix);
}

std::optional<SourceKey> parse_source_key(std::string_view text, int ipv6_prefix, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<SourceKey> {
    if (error) *error = "source '" + std::string(text) + "': " + std::move(why);
    return std::nullopt;
  };
  auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return fail("not an IPv4 or IPv6 address (expected e.g. 192.0.2.1 or 2001:db8:1:2::/64)");
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    int prefix = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
      return fail("prefix length '" + std::string(digits) + "' is not a number");
    int wanted = address->is_v4() ? 32 : ipv6_prefix;
    if (prefix != wanted)
      return fail("sources are " + std::string(address->is_v4() ? "single IPv4 addresses (/32)" : "IPv6 /") +
                  (address->is_v4() ? "" : std::to_string(ipv6_prefix) + " networks") + ", not /" +
                  std::to_string(prefix));
  }
  return source_key(*address, ipv6_prefix);
}

}  // namespace whoisd
