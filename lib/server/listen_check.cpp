#include "server/listen_check.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "common/user_name.h"

namespace whoisd {
namespace {

constexpr const char* kServerListen = "[server] listen";
constexpr const char* kMetricsListen = "[metrics] listen";

std::string family_name(const ListenAddress& address) { return address.family() == AF_INET ? "IPv4" : "IPv6"; }

// What to do about a privileged port, for the setting it is in: the whois port can also be
// bound by systemd's socket unit; the metrics endpoint is always bound by whoisd itself.
std::string privileged_port_remedy(const std::string& key) {
  if (key == kServerListen)
    return "start whoisd as root (it binds, then switches to [server] user), or let systemd bind it (whoisd.socket)";
  return "start whoisd as root (it binds, then switches to [server] user), or choose a port from 1024 up";
}

}  // namespace

BindingIdentity this_process_identity() {
  BindingIdentity who;
  who.user = effective_user_name();
  // The same setting holds for IPv6 (the kernel has no IPv6 one).
  std::ifstream sysctl("/proc/sys/net/ipv4/ip_unprivileged_port_start");
  int start = 0;
  if (sysctl >> start) who.unprivileged_port_start = start;
  return who;
}

std::string bind_failure_cause(const ListenAddress& address, const std::string& key, const char* step, int error,
                               const BindingIdentity& who) {
  const std::string ip = address.address.to_string();
  std::string cause;
  switch (error) {
    case EADDRNOTAVAIL:
      cause = fmt::format("{} is not an address of this host", ip);
      break;
    case EAFNOSUPPORT:
      cause = fmt::format("this host has no {} (the kernel refuses {} sockets)", family_name(address),
                          family_name(address));
      break;
    case EACCES:
      if (address.port != 0 && address.port < who.unprivileged_port_start) {
        cause = fmt::format(
            "port {} is privileged (below net.ipv4.ip_unprivileged_port_start, {}) and user '{}' lacks "
            "CAP_NET_BIND_SERVICE (root has it); whoisd binds before it drops privileges: {}",
            address.port, who.unprivileged_port_start, who.user, privileged_port_remedy(key));
      } else {
        cause = fmt::format("permission denied although port {} is not privileged: a security policy of this host "
                            "refuses it to user '{}'",
                            address.port, who.user);
      }
      break;
    case EPERM:
      cause = fmt::format("a security policy of this host refuses it to user '{}'", who.user);
      break;
    default:
      cause = "the kernel refused it";
  }
  return fmt::format("{} ({}: {})", cause, step, std::strerror(error));
}

ListenCheck check_listen_address(const ListenAddress& address, const std::string& key,
                                 const ListenSocketOptions& options, const BindingIdentity& who) {
  const std::string name = address.to_string();
  const BoundSocket bound = bind_listen_socket(address, options);
  if (bound.fd >= 0) {
    ::close(bound.fd);  // never listened on: nothing could connect to it
    return {ListenCheck::Outcome::bindable,
            fmt::format("listen ok: {} ({}) can be bound{}", name, key,
                        address.port == 0 ? " (port 0: the start takes a free port)" : "")};
  }
  if (bound.error == EADDRINUSE)
    return {ListenCheck::Outcome::in_use,
            fmt::format("listen note: {} ({}) is in use, by a running whoisd or another program; whoisd can bind it "
                        "only once that one has stopped",
                        name, key)};
  return {ListenCheck::Outcome::failed,
          fmt::format("{} '{}': the start could not bind it: {}", key, name,
                      bind_failure_cause(address, key, bound.step, bound.error, who))};
}

std::vector<ListenCheck> check_listen_addresses(const Config& config, const std::vector<ActivatedSocket>& passed) {
  const BindingIdentity who = this_process_identity();
  std::vector<ListenCheck> checks;
  if (!passed.empty()) {
    for (const auto& socket : passed) {
      const auto address = bound_address(socket.fd);
      checks.push_back({ListenCheck::Outcome::passed_by_systemd,
                        fmt::format("listen ok: {} passed by systemd (LISTEN_FDS), used instead of {}",
                                    address ? address->to_string() : "descriptor " + std::to_string(socket.fd),
                                    kServerListen)});
    }
  } else {
    // The start's first bind of each address (Server::bind): without SO_REUSEPORT, which
    // would join a running whoisd's sockets instead of finding the address in use.
    for (const auto& address : config.server.listen)
      checks.push_back(check_listen_address(address, kServerListen, whois_listener_options(false), who));
  }
  if (config.metrics_listen)
    checks.push_back(check_listen_address(*config.metrics_listen, kMetricsListen, metrics_listener_options(), who));
  return checks;
}

}  // namespace whoisd
