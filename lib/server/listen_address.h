// A TCP address to listen on, as operators write it: "192.0.2.1:43" for IPv4 and
// "[2001:db8::1]:43" for IPv6 (brackets required, so that the port is never
// mistaken for the last group of the address). Port 0 asks the kernel for a free
// port (tests use it; the daemon logs the port it got).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/address.h"

namespace whoisd {

struct ListenAddress {
  IpAddress address;
  std::uint16_t port = 0;

  // nullopt with `error` set (naming the text and what was wrong) when not an address.
  static std::optional<ListenAddress> parse(std::string_view text, std::string* error = nullptr);
  // "192.0.2.1:43" or "[2001:db8::1]:43".
  std::string to_string() const;
  // AF_INET for an IPv4 address, AF_INET6 otherwise.
  int family() const;
  // Fills `out` (sockaddr_in or sockaddr_in6) and returns its length.
  socklen_t to_sockaddr(sockaddr_storage& out) const;

  friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};

}  // namespace whoisd
