#include "server/listen_check.h"

#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "server/listen_clash.h"

namespace whoisd {
namespace {

constexpr const char* kServerListen = "[server] listen";
constexpr const char* kMetricsListen = "[metrics] listen";

// Who the start is, in the words of a failure.
const char* starter(const BindingIdentity& who) { return who.systemd_service ? "the service" : "the start"; }

}  // namespace

ListenCheck check_listen_address(const ListenAddress& address, const std::string& key,
                                 const ListenSocketOptions& options, const BindingIdentity& who) {
  const std::string name = address.to_string();
  if (who.systemd_service && privileged_port(address, who))
    return {ListenCheck::Outcome::failed, fmt::format("{} '{}': {} could not bind it: {}", key, name, starter(who),
                                                      privileged_port_cause(address, key, who))};
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
          fmt::format("{} '{}': {} could not bind it: {}", key, name, starter(who),
                      bind_failure_cause(address, key, bound.step, bound.error, who))};
}

std::vector<ListenCheck> check_listen_addresses(const Config& config, const std::vector<ActivatedSocket>& passed,
                                                ListenCheckView view) {
  const bool service = view == ListenCheckView::systemd_service;
  std::vector<ListenCheck> checks;
  if (!passed.empty()) {
    for (const auto& socket : passed) {
      const auto address = bound_address(socket.fd);
      checks.push_back({ListenCheck::Outcome::passed_by_systemd,
                        fmt::format("listen ok: {} passed by systemd (LISTEN_FDS), used instead of {}",
                                    address ? address->to_string() : "descriptor " + std::to_string(socket.fd),
                                    kServerListen)});
    }
  } else if (service) {
    // Which addresses whoisd.socket binds is its ListenStream='s, not read here: the unit
    // is systemd's to parse (drop-ins, specifiers), and systemd itself reports a bind it fails.
    for (const auto& address : config.server.listen)
      checks.push_back({ListenCheck::Outcome::left_to_systemd,
                        fmt::format("listen ok: {} ({}) is not bound by the service: whoisd.socket binds its "
                                    "ListenStream= addresses and passes them, used instead",
                                    address.to_string(), kServerListen)});
  } else {
    // The start's first bind of each address (Server::bind): without SO_REUSEPORT, which
    // would join a running whoisd's sockets instead of finding the address in use.
    const BindingIdentity who = this_process_identity();
    for (const auto& address : config.server.listen)
      checks.push_back(check_listen_address(address, kServerListen, whois_listener_options(false), who));
  }
  if (config.metrics_listen)
    checks.push_back(check_listen_address(*config.metrics_listen, kMetricsListen, metrics_listener_options(),
                                          service ? systemd_service_identity() : this_process_identity()));
  for (const auto& overlap : find_listen_overlaps(listen_endpoints(config, passed, !service))) {
    if (overlap.overlap == ListenOverlap::clash)
      checks.push_back({ListenCheck::Outcome::failed, overlap.line});
    else
      checks.push_back({ListenCheck::Outcome::redundant, "listen note: " + overlap.line});
  }
  return checks;
}

}  // namespace whoisd
