// The one place a listening TCP socket is made and bound, so that --check-config binds
// exactly as the daemon's start does: a socket of the address's family, the same
// options, bind(2), and nothing more (the caller listens, or closes it).
#pragma once

#include <optional>

#include "server/listen_address.h"

namespace whoisd {

// SO_REUSEADDR is always set: a restart must bind while the previous process's
// connections linger in TIME_WAIT. An IPv6 socket is always IPv6-only (IPV6_V6ONLY), for
// the whois listeners and the metrics endpoint alike, so that "[::]" means IPv6 wherever
// it is written and [::]:43 can be bound beside 0.0.0.0:43.
struct ListenSocketOptions {
  bool reuse_port = false;  // SO_REUSEPORT: several sockets on one address, one per event loop
};

// The WHOIS listeners' (Server::bind): `share` for the socket of each event loop, without
// it for the first bind that finds the address in use.
ListenSocketOptions whois_listener_options(bool share);
// The metrics endpoint's (MetricsHttpServer::bind): one socket, never shared, so that a
// second whoisd finds its address in use.
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
