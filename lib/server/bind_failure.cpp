#include "server/bind_failure.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "common/user_name.h"

namespace whoisd {
namespace {

std::string family_name(const ListenAddress& address) { return address.family() == AF_INET ? "IPv4" : "IPv6"; }

// The lowest port `who` may bind without a capability: the host's sysctl, which an
// administrator may have raised above the kernel's 1024 (or lowered), so that "another
// port" is one that actually binds.
std::string unprivileged_ports(const BindingIdentity& who) {
  return fmt::format("choose a port from {} up", who.unprivileged_port_start);
}

// What to do about a privileged port, for the setting it is in: the whois port can also be
// bound by systemd's socket unit; the metrics endpoint is always bound by whoisd itself.
std::string privileged_port_remedy(const std::string& key, const BindingIdentity& who) {
  if (key == "[server] listen")
    return "start whoisd as root (it binds, then switches to [server] user), or let systemd bind it (whoisd.socket)";
  return "start whoisd as root (it binds, then switches to [server] user), or " + unprivileged_ports(who);
}

// The same setting holds for IPv6 (the kernel has no IPv6 one); 1024, the kernel's
// default, when it cannot be read.
int unprivileged_port_start() {
  std::ifstream sysctl("/proc/sys/net/ipv4/ip_unprivileged_port_start");
  int start = 0;
  return sysctl >> start ? start : 1024;
}

}  // namespace

BindingIdentity this_process_identity() { return {effective_user_name(), unprivileged_port_start(), false}; }

// The user is the shipped unit's User=; the unit files are not read (an edited unit is the operator's to check).
BindingIdentity systemd_service_identity() { return {"whoisd", unprivileged_port_start(), true}; }

bool privileged_port(const ListenAddress& address, const BindingIdentity& who) {
  return address.port != 0 && address.port < who.unprivileged_port_start;
}

std::string privileged_port_cause(const ListenAddress& address, const std::string& key, const BindingIdentity& who) {
  const std::string privileged = fmt::format("port {} is privileged (below net.ipv4.ip_unprivileged_port_start, {})",
                                             address.port, who.unprivileged_port_start);
  if (who.systemd_service)
    return fmt::format("{} and whoisd.service runs as user '{}' without any capability (CapabilityBoundingSet= is "
                       "empty): {}",
                       privileged, who.user, unprivileged_ports(who));
  return fmt::format("{} and user '{}' lacks CAP_NET_BIND_SERVICE (root has it); whoisd binds before it drops "
                     "privileges: {}",
                     privileged, who.user, privileged_port_remedy(key, who));
}

std::string bind_failure_cause(const ListenAddress& address, const std::string& key, const char* step, int error,
                               const BindingIdentity& who) {
  const std::string ip = address.address.to_string();
  std::string cause;
  switch (error) {
    case EADDRNOTAVAIL:
      cause = fmt::format("{} is not an address of this host", ip);
      break;
    case EADDRINUSE:
      cause = fmt::format("port {} on {} is in use (another whoisd, or another program, listens there)", address.port,
                          ip);
      break;
    case EAFNOSUPPORT:
      cause = fmt::format("this host has no {} (the kernel refuses {} sockets)", family_name(address),
                          family_name(address));
      break;
    case EACCES:
      if (privileged_port(address, who)) {
        cause = privileged_port_cause(address, key, who);
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

}  // namespace whoisd
