// The one place a listening TCP socket is made and bound, so that --check-config binds
// exactly as the daemon's start does: a socket of the address's family, the same
// options, bind(2), and nothing more (the caller listens, or closes it).
#pragma once

#include <optional>

#include "server/listen_address.h"

namespace whoisd {

// SO_REUSEADDR is always set: a restart must bind while the previous process's
// connections linger in TIME_WAIT.
struct ListenSocketOptions {
  bool reuse_port = false;  // SO_REUSEPORT: several sockets on one address, one per event loop
  bool ipv6_only = true;    // IPV6_V6ONLY on an IPv6 socket: [::]:43 beside 0.0.0.0:43
};

// The WHOIS listeners' (Server::bind): IPv6 sockets IPv6-only; `share` for the socket of
// each event loop, without it for the first bind that finds the address in use.
ListenSocketOptions whois_listener_options(bool share);
// The metrics endpoint's, which libuv's uv_tcp_bind() sets (MetricsHttpServer::bind):
// SO_REUSEADDR, and an IPv6 socket that takes IPv4 too (IPV6_V6ONLY off).
ListenSocketOptions metrics_listener_options();

// What binding came to: the bound socket, or the step that failed and its errno.
struct BoundSocket {
  int fd = -1;                 // close-on-exec and non-blocking; the caller owns it
  const char* step = nullptr;  // when fd is -1: "socket", "SO_REUSEADDR", "SO_REUSEPORT", "IPV6_V6ONLY" or "bind"
  int error = 0;               // when fd is -1: the errno of that step
};
BoundSocket bind_listen_socket(const ListenAddress& address, const ListenSocketOptions& options);

// The address and port a socket is bound to (getsockname); nullopt for a socket that is
// not IPv4 or IPv6, or when it cannot be asked.
std::optional<ListenAddress> bound_address(int fd);

}  // namespace whoisd
