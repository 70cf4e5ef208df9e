// The words for a listen address that could not be bound: the cause an operator can act
// on (not the host's address, a privileged port for this user, no IPv6), then the
// kernel's own words. Shared by --check-config (listen_check.h) and the metrics
// endpoint's start (metrics_http.h), so that both say the same of the same refusal.
#pragma once

#include <string>

#include "server/listen_address.h"

namespace whoisd {

// Who binds and what the host allows, for the words of a refused bind.
struct BindingIdentity {
  std::string user;                     // "root", "nobody", or "uid 1234"
  int unprivileged_port_start = 1024;   // net.ipv4.ip_unprivileged_port_start
  // The shipped whoisd.service, which runs as its own user without any capability and
  // is never root: it has no privileges to bind with and drop, unlike a start by hand.
  bool systemd_service = false;
};
// This process's (geteuid(), and the sysctl's value when it can be read).
BindingIdentity this_process_identity();
// whoisd.service's (User=whoisd, CapabilityBoundingSet= empty), with this host's sysctl.
BindingIdentity systemd_service_identity();

// Whether `who` is refused `address` for its port alone: a port below
// net.ipv4.ip_unprivileged_port_start (port 0, a free port, never is).
bool privileged_port(const ListenAddress& address, const BindingIdentity& who);
// Why `who` cannot bind the privileged port of `address` (setting `key`), and what to do.
std::string privileged_port_cause(const ListenAddress& address, const std::string& key, const BindingIdentity& who);

// Why a bind of `address` (the value of setting `key`, "[server] listen") failed at
// `step` with `error` (BoundSocket's, listen_socket.h), in words, with the kernel's own
// words after it. Pure, for tests.
std::string bind_failure_cause(const ListenAddress& address, const std::string& key, const char* step, int error,
                               const BindingIdentity& who);

}  // namespace whoisd
