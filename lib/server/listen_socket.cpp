#include "server/listen_socket.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace whoisd {

ListenSocketOptions whois_listener_options(bool share) { return {share}; }

ListenSocketOptions metrics_listener_options() { return {false}; }

BoundSocket bind_listen_socket(const ListenAddress& address, const ListenSocketOptions& options) {
  const int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return {-1, "socket", errno};
  const auto failed = [fd](const char* step) {
    const int error = errno;
    ::close(fd);
    return BoundSocket{-1, step, error};
  };
  const int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) return failed("SO_REUSEADDR");
  if (options.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    return failed("SO_REUSEPORT");
  // Set explicitly: the default (net.ipv6.bindv6only) is the host's, not ours.
  if (address.family() == AF_INET6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
    return failed("IPV6_V6ONLY");
  sockaddr_storage sa{};
  const socklen_t length = address.to_sockaddr(sa);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), length) != 0) return failed("bind");
  return {fd, nullptr, 0};
}

std::optional<ListenAddress> bound_address(int fd) {
  sockaddr_storage sa{};
  socklen_t length = sizeof sa;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &length) != 0) return std::nullopt;
  auto ip = IpAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa));
  if (!ip) return std::nullopt;
  std::uint16_t port = 0;
  if (sa.ss_family == AF_INET) {
    sockaddr_in s{};
    std::memcpy(&s, &sa, sizeof s);
    port = ntohs(s.sin_port);
  } else {
    sockaddr_in6 s{};
    std::memcpy(&s, &sa, sizeof s);
    port = ntohs(s.sin6_port);
  }
  return ListenAddress{*ip, port};
}

}  // namespace whoisd
