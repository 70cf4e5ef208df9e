#include "common/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace whoisd {
namespace {
constexpr std::array<std::uint8_t, 12> kMappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}

IpAddress IpAddress::v4(std::uint32_t host_order) {
  IpAddress a;
  std::memcpy(a.bytes_.data(), kMappedPrefix.data(), kMappedPrefix.size());
  a.bytes_[12] = static_cast<std::uint8_t>(host_order >> 24);
  a.bytes_[13] = static_cast<std::uint8_t>(host_order >> 16);
  a.bytes_[14] = static_cast<std::uint8_t>(host_order >> 8);
  a.bytes_[15] = static_cast<std::uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::v6(const std::array<std::uint8_t, 16>& bytes) {
  IpAddress a;
  a.bytes_ = bytes;
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN + 1];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  in_addr a4{};
  if (inet_pton(AF_INET, buf, &a4) == 1) return v4(ntohl(a4.s_addr));
  in6_addr a6{};
  if (inet_pton(AF_INET6, buf, &a6) == 1) {
    std::array<std::uint8_t, 16> b{};
    std::memcpy(b.data(), &a6, 16);
    return v6(b);
  }
  return std::nullopt;
}

std::optional<IpAddress> IpAddress::from_sockaddr(const sockaddr* sa) {
  if (!sa) return std::nullopt;
  if (sa->sa_family == AF_INET) {
    sockaddr_in s{};
    std::memcpy(&s, sa, sizeof s);
    return v4(ntohl(s.sin_addr.s_addr));
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 s{};
    std::memcpy(&s, sa, sizeof s);
    std::array<std::uint8_t, 16> b{};
    std::memcpy(b.data(), &s.sin6_addr, 16);
    return v6(b);
  }
  return std::nullopt;
}

bool IpAddress::is_v4() const { return std::memcmp(bytes_.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0; }

std::uint32_t IpAddress::v4_host_order() const {
  return (std::uint32_t{bytes_[12]} << 24) | (std::uint32_t{bytes_[13]} << 16) | (std::uint32_t{bytes_[14]} << 8) |
         std::uint32_t{bytes_[15]};
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) {
    // By hand: glibc's inet_ntop formats IPv4 with sprintf, a measurable part of the
    // query-log writer's cost per row (two addresses a query).
    char* p = buf;
    for (int i = 12; i < 16; ++i) {
      unsigned v = bytes_[static_cast<std::size_t>(i)];
      if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
      if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
      *p++ = static_cast<char>('0' + v % 10);
      if (i < 15) *p++ = '.';
    }
    return std::string(buf, static_cast<std::size_t>(p - buf));
  }
  in6_addr a6{};
  std::memcpy(&a6, bytes_.data(), 16);
  inet_ntop(AF_INET6, &a6, buf, sizeof buf);
  return buf;
}

IpAddress IpAddress::masked(int prefix) const {
  IpAddress out = *this;
  int bits = is_v4() ? prefix + 96 : prefix;
  if (bits < 0) bits = 0;
  for (int i = 0; i < 16; ++i) {
    int keep = bits - i * 8;
    if (keep >= 8) continue;
    out.bytes_[i] = keep <= 0 ? 0 : static_cast<std::uint8_t>(out.bytes_[i] & (0xff << (8 - keep)));
  }
  return out;
}

std::optional<Network> Network::parse(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<Network> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return fail("'" + std::string(text.substr(0, slash)) + "' is not an IPv4 or IPv6 address");
  int max = address->is_v4() ? 32 : 128;
  int prefix = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || prefix < 0 || prefix > max)
      return fail("prefix length '" + std::string(digits) + "' is not a number from 0 to " + std::to_string(max));
  }
  if (address->masked(prefix) != *address)
    return fail("'" + std::string(text) + "' has bits set past its prefix length (did you mean " +
                address->masked(prefix).to_string() + "/" + std::to_string(prefix) + "?)");
  Network n;
  n.base_ = *address;
  n.prefix_ = prefix;
  return n;
}

bool Network::contains(const IpAddress& address) const {
  return address.is_v4() == base_.is_v4() && address.masked(prefix_) == base_;
}

std::string Network::to_string() const { return base_.to_string() + "/" + std::to_string(prefix_); }

}  // namespace whoisd
