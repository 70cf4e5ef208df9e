#include "server/listen_clash.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>

#include <fmt/format.h>

namespace whoisd {
namespace {

bool is_wildcard(const IpAddress& ip) { return ip.is_v4() ? ip.v4_host_order() == 0 : ip == IpAddress{}; }

std::string named(const ListenEndpoint& e) { return fmt::format("{} '{}'", e.key, e.address.to_string()); }

// How two sockets reach the same connections, in words (naming the port and the
// addresses); nullopt when no connection could reach both.
std::optional<std::string> common_reach(const ListenEndpoint& a, const ListenEndpoint& b) {
  const std::uint16_t port = a.address.port;
  if (port == 0 || port != b.address.port) return std::nullopt;
  const IpAddress& ip_a = a.address.address;
  const IpAddress& ip_b = b.address.address;
  if (a.address.family() == b.address.family()) {
    const char* family = a.address.family() == AF_INET ? "IPv4" : "IPv6";
    if (ip_a == ip_b) return fmt::format("both are port {} on {}", port, ip_a.to_string());
    if (is_wildcard(ip_a))
      return fmt::format("'{}' takes port {} on every {} address of this host, {} among them",
                         a.address.to_string(), port, family, ip_b.to_string());
    if (is_wildcard(ip_b))
      return fmt::format("'{}' takes port {} on every {} address of this host, {} among them",
                         b.address.to_string(), port, family, ip_a.to_string());
    return std::nullopt;
  }
  const ListenEndpoint& v6 = a.address.family() == AF_INET6 ? a : b;
  const ListenEndpoint& v4 = a.address.family() == AF_INET6 ? b : a;
  if (v6.takes_ipv4 && is_wildcard(v6.address.address))
    return fmt::format("'{}' is not IPv6-only and takes port {} on every IPv4 address too, {} among them",
                       v6.address.to_string(), port, v4.address.address.to_string());
  return std::nullopt;
}

// The socket of the two that no other socket may listen beside.
const ListenEndpoint& unshared(const ListenEndpoint& a, const ListenEndpoint& b) {
  return a.options.reuse_port ? b : a;
}

std::optional<ListenEndpoint> passed_endpoint(const ActivatedSocket& socket) {
  const auto address = bound_address(socket.fd);
  if (!address) return std::nullopt;
  ListenEndpoint endpoint{*address, "the socket systemd passed (LISTEN_FDS)", {}, false};
  int value = 0;
  socklen_t length = sizeof value;
  endpoint.options.reuse_port =
      ::getsockopt(socket.fd, SOL_SOCKET, SO_REUSEPORT, &value, &length) == 0 && value != 0;
  value = 1;
  length = sizeof value;
  endpoint.takes_ipv4 = address->family() == AF_INET6 &&
                        ::getsockopt(socket.fd, IPPROTO_IPV6, IPV6_V6ONLY, &value, &length) == 0 && value == 0;
  return endpoint;
}

}  // namespace

ListenOverlap listen_overlap(const ListenEndpoint& a, const ListenEndpoint& b) {
  if (!common_reach(a, b)) return ListenOverlap::none;
  return a.options.reuse_port && b.options.reuse_port ? ListenOverlap::redundant : ListenOverlap::clash;
}

std::vector<ListenOverlapReport> find_listen_overlaps(const std::vector<ListenEndpoint>& endpoints) {
  std::vector<ListenOverlapReport> reports;
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    for (std::size_t j = i + 1; j < endpoints.size(); ++j) {
      const ListenEndpoint& a = endpoints[i];
      const ListenEndpoint& b = endpoints[j];
      const ListenOverlap overlap = listen_overlap(a, b);
      if (overlap == ListenOverlap::none) continue;
      const std::string reach = *common_reach(a, b);
      if (overlap == ListenOverlap::clash)
        reports.push_back({overlap, fmt::format("{} and {} cannot both be bound by one whoisd: {}, and {} is bound "
                                                "without SO_REUSEPORT, so no other socket may listen there; give "
                                                "one of them another port",
                                                named(a), named(b), reach, unshared(a, b).key)});
      else
        reports.push_back({overlap, fmt::format("{} and {} reach the same connections: {}; whoisd binds "
                                                "both (its whois listeners share ports, SO_REUSEPORT), and one of "
                                                "them is enough",
                                                named(a), named(b), reach)});
    }
  }
  return reports;
}

std::vector<ListenEndpoint> listen_endpoints(const Config& config, const std::vector<ActivatedSocket>& passed,
                                             bool server_listen_bound) {
  std::vector<ListenEndpoint> endpoints;
  if (!passed.empty()) {
    for (const auto& socket : passed)
      if (auto endpoint = passed_endpoint(socket)) endpoints.push_back(*endpoint);
  } else if (server_listen_bound) {
    // The event loops' sockets, which stay (the start's first bind of each is closed at once).
    for (const auto& address : config.server.listen)
      endpoints.push_back({address, "[server] listen", whois_listener_options(true), false});
  }
  if (config.metrics_listen)
    endpoints.push_back({*config.metrics_listen, "[metrics] listen", metrics_listener_options(), false});
  return endpoints;
}

}  // namespace whoisd
