// Two listen addresses of one configuration that one whoisd cannot both hold, found from
// the kernel's rules before anything is bound: --check-config binds each address alone
// and closes it, so it never sees two of its own collide, and the start would find out
// only when a listener's listen() fails, after the privileges are dropped.
//
// Linux's rules for two listening TCP sockets of one process on the same port: they
// overlap when their addresses are of one family and equal, or one of them is the
// wildcard (0.0.0.0, [::]); an IPv6 socket takes IPv4 connections only when it is not
// IPv6-only, which whoisd's never are (listen_socket.h) but a socket systemd passes may
// be (BindIPv6Only=both). Overlapping sockets can all listen only when every one of them
// has SO_REUSEPORT (same user): SO_REUSEADDR lets them bind, not listen. So the whois
// listeners, shared with SO_REUSEPORT, never clash with each other (two that overlap are
// redundant, a note), and the metrics endpoint, one socket without it, clashes with any
// listener it overlaps.
#pragma once

#include <string>
#include <vector>

#include "server/config.h"
#include "server/listen_address.h"
#include "server/listen_socket.h"
#include "server/socket_activation.h"

namespace whoisd {

// A socket a started whoisd holds: its address, the setting it comes from, how it is bound.
struct ListenEndpoint {
  ListenAddress address;
  std::string key;              // "[server] listen", "[metrics] listen", "the socket systemd passed (LISTEN_FDS)"
  ListenSocketOptions options;  // as bound
  bool takes_ipv4 = false;      // an IPv6 socket that is not IPv6-only (only ever one systemd passed)
};

enum class ListenOverlap {
  none,       // no connection could reach both
  redundant,  // both reach the same connections and both can be bound (SO_REUSEPORT on both)
  clash,      // both reach the same connections and one whoisd cannot bind both
};
// Pure: the kernel's rule above. Port 0 never overlaps (each bind gets a free port of its own).
ListenOverlap listen_overlap(const ListenEndpoint& a, const ListenEndpoint& b);

struct ListenOverlapReport {
  ListenOverlap overlap = ListenOverlap::none;
  // Naming both settings, both addresses and the port: for a clash the problem, else why
  // one of the two is redundant.
  std::string line;
};
// Every pair that overlaps, in the order of `endpoints`.
std::vector<ListenOverlapReport> find_listen_overlaps(const std::vector<ListenEndpoint>& endpoints);

// The sockets a whoisd started with `config` holds: those systemd passed (`passed`), else
// the [server] listen entries (unless `server_listen_bound` is false: systemd will pass
// them, and which addresses it binds is its socket unit's), then the metrics endpoint.
std::vector<ListenEndpoint> listen_endpoints(const Config& config, const std::vector<ActivatedSocket>& passed,
                                             bool server_listen_bound = true);

}  // namespace whoisd
