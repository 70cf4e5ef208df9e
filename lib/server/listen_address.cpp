#include "server/listen_address.h"

#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace whoisd {

std::optional<ListenAddress> ListenAddress::parse(std::string_view text, std::string* error) {
  auto fail = [&](std::string_view why) -> std::optional<ListenAddress> {
    if (error)
      *error = "'" + std::string(text.substr(0, 80)) + "' is not a listen address: " + std::string(why) +
               " (write 192.0.2.1:43 or [2001:db8::1]:43)";
    return std::nullopt;
  };
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return fail("the IPv6 address has no closing ']'");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') return fail("a port must follow ']:'");
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return fail("only an IPv6 address goes between brackets");
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("it has no port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return fail("an IPv6 address must be written in brackets");
  }
  if (host.empty()) return fail("the address is missing");
  auto ip = IpAddress::parse(host);
  if (!ip) return fail("'" + std::string(host.substr(0, 64)) + "' is not an IP address");
  if (!text.empty() && text.front() != '[' && !ip->is_v4()) return fail("an IPv6 address must be written in brackets");
  if (port.empty()) return fail("the port is missing");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value > 65535)
    return fail("the port must be a number from 0 to 65535");
  ListenAddress out;
  out.address = *ip;
  out.port = static_cast<std::uint16_t>(value);
  return out;
}

std::string ListenAddress::to_string() const {
  if (address.is_v4()) return address.to_string() + ":" + std::to_string(port);
  return "[" + address.to_string() + "]:" + std::to_string(port);
}

int ListenAddress::family() const { return address.is_v4() ? AF_INET : AF_INET6; }

socklen_t ListenAddress::to_sockaddr(sockaddr_storage& out) const {
  std::memset(&out, 0, sizeof out);
  if (address.is_v4()) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_port = htons(port);
    s.sin_addr.s_addr = htonl(address.v4_host_order());
    std::memcpy(&out, &s, sizeof s);
    return sizeof s;
  }
  sockaddr_in6 s{};
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  std::memcpy(&s.sin6_addr, address.bytes().data(), 16);
  std::memcpy(&out, &s, sizeof s);
  return sizeof s;
}

}  // namespace whoisd
