// --check-config's bind of the listen addresses (listen_check.h) and the socket it
// shares with the daemon's start (listen_socket.h): real sockets on loopback.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>

#include "server/listen_check.h"
#include "server/listen_clash.h"
#include "server/listen_socket.h"
#include "support/test_address.h"

using namespace whoisd;
using whoisd::test::ip;

namespace {

// A listening socket held for the length of a test, bound as the daemon's event loops
// bind theirs (SO_REUSEADDR and SO_REUSEPORT): what a running whoisd looks like.
struct HeldListener {
  int fd = -1;
  ListenAddress address;
  explicit HeldListener(const ListenAddress& wanted) {
    const BoundSocket bound = bind_listen_socket(wanted, whois_listener_options(true));
    REQUIRE(bound.fd >= 0);
    REQUIRE(::listen(bound.fd, 8) == 0);
    fd = bound.fd;
    address = *bound_address(fd);
  }
  ~HeldListener() { ::close(fd); }
};

// A port that was free a moment ago (bound to port 0 and closed).
std::uint16_t free_port(const char* host) {
  const BoundSocket probe = bind_listen_socket({ip(host), 0}, whois_listener_options(false));
  REQUIRE(probe.fd >= 0);
  const std::uint16_t port = bound_address(probe.fd)->port;
  ::close(probe.fd);
  return port;
}

int option(int fd, int level, int name) {
  int value = -1;
  socklen_t length = sizeof value;
  REQUIRE(::getsockopt(fd, level, name, &value, &length) == 0);
  return value;
}

bool host_has_ipv6_loopback() {
  const BoundSocket probe = bind_listen_socket({ip("::1"), 0}, whois_listener_options(false));
  if (probe.fd < 0) return false;
  ::close(probe.fd);
  return true;
}

bool binds_foreign_addresses() {  // net.ipv4.ip_nonlocal_bind: any address binds
  std::ifstream sysctl("/proc/sys/net/ipv4/ip_nonlocal_bind");
  int value = 0;
  return sysctl >> value && value != 0;
}

const BindingIdentity kNobody{"nobody", 1024};

}  // namespace

TEST_CASE("listen sockets: the whois listeners' and the metrics endpoint's options", "[listen_check]") {
  CHECK(metrics_listener_options().reuse_port == false);  // one socket: a second whoisd finds it in use
  const BoundSocket first = bind_listen_socket({ip("127.0.0.1"), 0}, whois_listener_options(false));
  REQUIRE(first.fd >= 0);
  CHECK(option(first.fd, SOL_SOCKET, SO_REUSEADDR) == 1);
  CHECK(option(first.fd, SOL_SOCKET, SO_REUSEPORT) == 0);
  CHECK(option(first.fd, SOL_SOCKET, SO_ACCEPTCONN) == 0);  // bound only
  CHECK(bound_address(first.fd)->address == ip("127.0.0.1"));
  CHECK(bound_address(first.fd)->port != 0);
  ::close(first.fd);
  const BoundSocket shared = bind_listen_socket({ip("127.0.0.1"), 0}, whois_listener_options(true));
  REQUIRE(shared.fd >= 0);
  CHECK(option(shared.fd, SOL_SOCKET, SO_REUSEPORT) == 1);
  ::close(shared.fd);
  if (!host_has_ipv6_loopback()) {
    WARN("no IPv6 loopback on this host: IPV6_V6ONLY not checked");
    return;
  }
  // On [::], where the option matters (the kernel makes a socket bound to one IPv6 address IPv6-only anyway).
  const BoundSocket whois6 = bind_listen_socket({ip("::"), 0}, whois_listener_options(false));
  REQUIRE(whois6.fd >= 0);
  CHECK(option(whois6.fd, IPPROTO_IPV6, IPV6_V6ONLY) == 1);
  ::close(whois6.fd);
  const BoundSocket metrics6 = bind_listen_socket({ip("::"), 0}, metrics_listener_options());
  REQUIRE(metrics6.fd >= 0);
  CHECK(option(metrics6.fd, IPPROTO_IPV6, IPV6_V6ONLY) == 1);  // "[::]" means IPv6 in every setting
  ::close(metrics6.fd);
}

TEST_CASE("listen check: a free address can be bound, and is left free", "[listen_check]") {
  const ListenAddress address{ip("127.0.0.1"), free_port("127.0.0.1")};
  const ListenCheck check =
      check_listen_address(address, "[server] listen", whois_listener_options(false), this_process_identity());
  CHECK(check.outcome == ListenCheck::Outcome::bindable);
  CHECK(check.line == "listen ok: " + address.to_string() + " ([server] listen) can be bound");
  // Closed at once: the daemon's own bind finds it free.
  HeldListener after(address);
  CHECK(after.address == address);

  const ListenCheck any = check_listen_address({ip("127.0.0.1"), 0}, "[metrics] listen", metrics_listener_options(),
                                               this_process_identity());
  CHECK(any.outcome == ListenCheck::Outcome::bindable);
  CHECK(any.line == "listen ok: 127.0.0.1:0 ([metrics] listen) can be bound (port 0: the start takes a free port)");
}

TEST_CASE("listen check: an address a running daemon holds is a note, not a failure", "[listen_check]") {
  // Held as the daemon's loops hold theirs, by this very user: a check socket with
  // SO_REUSEPORT would join them; the check's, like the start's first bind, does not.
  HeldListener running({ip("127.0.0.1"), 0});
  const ListenCheck check =
      check_listen_address(running.address, "[server] listen", whois_listener_options(false), this_process_identity());
  CHECK(check.outcome == ListenCheck::Outcome::in_use);
  CHECK(check.line == "listen note: " + running.address.to_string() +
                          " ([server] listen) is in use, by a running whoisd or another program; whoisd can bind it "
                          "only once that one has stopped");
  // The metrics endpoint's options on the same address: in use too.
  CHECK(check_listen_address(running.address, "[metrics] listen", metrics_listener_options(), this_process_identity())
            .outcome == ListenCheck::Outcome::in_use);
  // The check left the running socket as it was: still listening, alone on its address.
  CHECK(option(running.fd, SOL_SOCKET, SO_ACCEPTCONN) == 1);
}

TEST_CASE("listen check: an address not on this host fails, naming the setting, address, port and cause",
          "[listen_check]") {
  if (binds_foreign_addresses()) {
    WARN("net.ipv4.ip_nonlocal_bind is set on this host: any address binds; skipped");
    return;
  }
  const ListenAddress address{ip("192.0.2.1"), 4343};  // TEST-NET-1: never a host's
  const ListenCheck check =
      check_listen_address(address, "[server] listen", whois_listener_options(false), this_process_identity());
  CHECK(check.outcome == ListenCheck::Outcome::failed);
  CHECK(check.line ==
        "[server] listen '192.0.2.1:4343': the start could not bind it: 192.0.2.1 is not an address of this host "
        "(bind: Cannot assign requested address)");
}

TEST_CASE("listen check: the words for each refusal", "[listen_check]") {
  const ListenAddress whois{ip("0.0.0.0"), 43};
  CHECK(bind_failure_cause(whois, "[server] listen", "bind", EACCES, kNobody) ==
        "port 43 is privileged (below net.ipv4.ip_unprivileged_port_start, 1024) and user 'nobody' lacks "
        "CAP_NET_BIND_SERVICE (root has it); whoisd binds before it drops privileges: start whoisd as root (it "
        "binds, then switches to [server] user), or let systemd bind it (whoisd.socket) (bind: Permission denied)");
  // The metrics endpoint is never socket-activated: its remedy is another port.
  const std::string metrics = bind_failure_cause({ip("127.0.0.1"), 443}, "[metrics] listen", "bind", EACCES, kNobody);
  CHECK(metrics.find("port 443 is privileged (below net.ipv4.ip_unprivileged_port_start, 1024)") == 0);
  CHECK(metrics.find("or choose a port from 1024 up") != std::string::npos);
  CHECK(metrics.find("whoisd.socket") == std::string::npos);
  // A lower net.ipv4.ip_unprivileged_port_start: port 43 is not privileged, so a policy refused it.
  CHECK(bind_failure_cause(whois, "[server] listen", "bind", EACCES, BindingIdentity{"nobody", 0}) ==
        "permission denied although port 43 is not privileged: a security policy of this host refuses it to user "
        "'nobody' (bind: Permission denied)");
  CHECK(bind_failure_cause({ip("::"), 43}, "[server] listen", "socket", EAFNOSUPPORT, kNobody) ==
        "this host has no IPv6 (the kernel refuses IPv6 sockets) (socket: Address family not supported by protocol)");
  CHECK(bind_failure_cause({ip("2001:db8::1"), 43}, "[server] listen", "bind", EADDRNOTAVAIL, kNobody) ==
        "2001:db8::1 is not an address of this host (bind: Cannot assign requested address)");
  CHECK(bind_failure_cause(whois, "[server] listen", "bind", EPERM, kNobody) ==
        "a security policy of this host refuses it to user 'nobody' (bind: Operation not permitted)");
  CHECK(bind_failure_cause(whois, "[server] listen", "socket", EMFILE, kNobody) ==
        "the kernel refused it (socket: Too many open files)");
}

// A host that raised net.ipv4.ip_unprivileged_port_start (up to 65536 is allowed): a port
// from 1024 up can be privileged too, so the way out names the host's own threshold.
TEST_CASE("listen check: another port is chosen from the host's unprivileged start", "[listen_check]") {
  const BindingIdentity raised{"nobody", 2000};
  const std::string by_hand = bind_failure_cause({ip("127.0.0.1"), 1500}, "[metrics] listen", "bind", EACCES, raised);
  CHECK(by_hand.find("port 1500 is privileged (below net.ipv4.ip_unprivileged_port_start, 2000)") == 0);
  CHECK(by_hand.find("or choose a port from 2000 up (bind: Permission denied)") != std::string::npos);
  CHECK(by_hand.find("1024") == std::string::npos);
  const BindingIdentity service{"whoisd", 2000, true};
  CHECK(privileged_port_cause({ip("127.0.0.1"), 1500}, "[metrics] listen", service) ==
        "port 1500 is privileged (below net.ipv4.ip_unprivileged_port_start, 2000) and whoisd.service runs as user "
        "'whoisd' without any capability (CapabilityBoundingSet= is empty): choose a port from 2000 up");
}

TEST_CASE("listen check: every address in order, [server] listen then [metrics] listen", "[listen_check]") {
  HeldListener running({ip("127.0.0.1"), 0});
  Config config;
  config.server.listen = {{ip("127.0.0.1"), free_port("127.0.0.1")}, running.address};
  config.metrics_listen = ListenAddress{ip("127.0.0.1"), 0};
  const auto checks = check_listen_addresses(config, {});
  REQUIRE(checks.size() == 3);
  CHECK(checks[0].outcome == ListenCheck::Outcome::bindable);
  CHECK(checks[1].outcome == ListenCheck::Outcome::in_use);
  CHECK(checks[2].outcome == ListenCheck::Outcome::bindable);
  CHECK(checks[2].line.find("([metrics] listen)") != std::string::npos);

  config.metrics_listen.reset();  // "" or --metrics off: nothing to bind
  CHECK(check_listen_addresses(config, {}).size() == 2);
}

TEST_CASE("listen check: sockets systemd passed replace [server] listen, as at start", "[listen_check]") {
  HeldListener passed({ip("127.0.0.1"), 0});
  Config config;
  config.server.listen = {{ip("192.0.2.1"), 43}};  // would fail: not bound, since not used
  config.metrics_listen.reset();
  const auto checks = check_listen_addresses(config, {ActivatedSocket{passed.fd, "whois", AF_INET}});
  REQUIRE(checks.size() == 1);
  CHECK(checks[0].outcome == ListenCheck::Outcome::passed_by_systemd);
  CHECK(checks[0].line == "listen ok: " + passed.address.to_string() +
                              " passed by systemd (LISTEN_FDS), used instead of [server] listen");
}

namespace {

ListenEndpoint whois_at(const char* address, std::uint16_t port) {
  return {{ip(address), port}, "[server] listen", whois_listener_options(true), false};
}
ListenEndpoint metrics_at(const char* address, std::uint16_t port) {
  return {{ip(address), port}, "[metrics] listen", metrics_listener_options(), false};
}

}  // namespace

TEST_CASE("listen clash: Linux's rules for two sockets of one whoisd on one port", "[listen_check]") {
  // The metrics endpoint (no SO_REUSEPORT) beside a whois listener that reaches the same connections.
  CHECK(listen_overlap(whois_at("127.0.0.1", 4343), metrics_at("127.0.0.1", 4343)) == ListenOverlap::clash);
  CHECK(listen_overlap(whois_at("0.0.0.0", 4343), metrics_at("127.0.0.1", 4343)) == ListenOverlap::clash);
  CHECK(listen_overlap(metrics_at("0.0.0.0", 4343), whois_at("127.0.0.1", 4343)) == ListenOverlap::clash);
  CHECK(listen_overlap(whois_at("::", 4343), metrics_at("::1", 4343)) == ListenOverlap::clash);
  // Other ports, other addresses of one family, or port 0 (a free port each): nothing in common.
  CHECK(listen_overlap(whois_at("127.0.0.1", 4343), metrics_at("127.0.0.1", 9143)) == ListenOverlap::none);
  CHECK(listen_overlap(whois_at("127.0.0.1", 4343), metrics_at("127.0.0.2", 4343)) == ListenOverlap::none);
  CHECK(listen_overlap(whois_at("127.0.0.1", 0), metrics_at("127.0.0.1", 0)) == ListenOverlap::none);
  // whoisd's IPv6 sockets are IPv6-only: [::] and 0.0.0.0 on one port do not meet.
  CHECK(listen_overlap(whois_at("::", 43), whois_at("0.0.0.0", 43)) == ListenOverlap::none);
  CHECK(listen_overlap(whois_at("::", 4343), metrics_at("0.0.0.0", 4343)) == ListenOverlap::none);
  // A dual-stack [::] (a socket systemd passed with BindIPv6Only=both) takes IPv4 too.
  ListenEndpoint dual{{ip("::"), 4343}, "the socket systemd passed (LISTEN_FDS)", {}, true};
  CHECK(listen_overlap(dual, metrics_at("127.0.0.1", 4343)) == ListenOverlap::clash);
  CHECK(listen_overlap(metrics_at("0.0.0.0", 4343), dual) == ListenOverlap::clash);
  dual.takes_ipv4 = false;
  CHECK(listen_overlap(dual, metrics_at("127.0.0.1", 4343)) == ListenOverlap::none);
  // Two whois listeners share the port (SO_REUSEPORT on both): bound both, one is redundant.
  CHECK(listen_overlap(whois_at("127.0.0.1", 4343), whois_at("127.0.0.1", 4343)) == ListenOverlap::redundant);
  CHECK(listen_overlap(whois_at("0.0.0.0", 4343), whois_at("127.0.0.1", 4343)) == ListenOverlap::redundant);
}

TEST_CASE("listen clash: the rules match what the kernel does", "[listen_check]") {
  // As the start binds: the whois listeners' sockets first (bound, not listening), then
  // the metrics endpoint's, which listens at once, then the listeners listen.
  const std::uint16_t port = free_port("127.0.0.1");
  const BoundSocket whois = bind_listen_socket({ip("0.0.0.0"), port}, whois_listener_options(true));
  const BoundSocket metrics = bind_listen_socket({ip("127.0.0.1"), port}, metrics_listener_options());
  REQUIRE(whois.fd >= 0);
  REQUIRE(metrics.fd >= 0);  // SO_REUSEADDR on both, neither listening: the bind passes
  REQUIRE(::listen(metrics.fd, 8) == 0);
  CHECK(::listen(whois.fd, 8) != 0);  // the clash shows only here
  CHECK(errno == EADDRINUSE);
  ::close(whois.fd);
  ::close(metrics.fd);
  // Two whois listeners on the same port and address, both with SO_REUSEPORT: both listen.
  const BoundSocket one = bind_listen_socket({ip("0.0.0.0"), port}, whois_listener_options(true));
  const BoundSocket two = bind_listen_socket({ip("127.0.0.1"), port}, whois_listener_options(true));
  REQUIRE(one.fd >= 0);
  REQUIRE(two.fd >= 0);
  CHECK(::listen(one.fd, 8) == 0);
  CHECK(::listen(two.fd, 8) == 0);
  ::close(one.fd);
  ::close(two.fd);
}

TEST_CASE("listen check: two addresses one whoisd cannot both hold fail, naming both", "[listen_check]") {
  const std::uint16_t port = free_port("127.0.0.1");
  const std::string p = std::to_string(port);
  Config config;
  config.server.listen = {{ip("0.0.0.0"), port}, {ip("127.0.0.1"), port}};
  config.metrics_listen = ListenAddress{ip("127.0.0.1"), port};
  const auto checks = check_listen_addresses(config, {});
  REQUIRE(checks.size() == 6);  // three addresses, then three pairs
  // Each alone can be bound.
  for (std::size_t i = 0; i < 3; ++i) CHECK(checks[i].outcome == ListenCheck::Outcome::bindable);
  CHECK(checks[3].outcome == ListenCheck::Outcome::redundant);
  CHECK(checks[3].line == "listen note: [server] listen '0.0.0.0:" + p + "' and [server] listen '127.0.0.1:" + p +
                              "' reach the same connections: '0.0.0.0:" + p + "' takes port " + p +
                              " on every IPv4 address of this host, 127.0.0.1 among them; whoisd binds both (its "
                              "whois listeners share ports, SO_REUSEPORT), and one of them is enough");
  CHECK(checks[4].outcome == ListenCheck::Outcome::failed);
  CHECK(checks[4].line == "[server] listen '0.0.0.0:" + p + "' and [metrics] listen '127.0.0.1:" + p +
                              "' cannot both be bound by one whoisd: '0.0.0.0:" + p + "' takes port " + p +
                              " on every IPv4 address of this host, 127.0.0.1 among them, and [metrics] listen is "
                              "bound without SO_REUSEPORT, so no other socket may listen there; give one of them "
                              "another port");
  CHECK(checks[5].outcome == ListenCheck::Outcome::failed);
  CHECK(checks[5].line.find("[server] listen '127.0.0.1:" + p + "' and [metrics] listen '127.0.0.1:" + p +
                            "' cannot both be bound by one whoisd: both are port " + p + " on 127.0.0.1") == 0);
}

TEST_CASE("listen check: a socket systemd passed clashes with the metrics endpoint as a listener would",
          "[listen_check]") {
  HeldListener passed({ip("127.0.0.1"), 0});  // SO_REUSEPORT, read back from the socket
  Config config;
  config.metrics_listen = passed.address;
  const auto endpoints = listen_endpoints(config, {ActivatedSocket{passed.fd, "whois", AF_INET}});
  REQUIRE(endpoints.size() == 2);
  CHECK(endpoints[0].key == "the socket systemd passed (LISTEN_FDS)");
  CHECK(endpoints[0].address == passed.address);
  CHECK(endpoints[0].options.reuse_port);
  CHECK_FALSE(endpoints[0].takes_ipv4);
  const auto overlaps = find_listen_overlaps(endpoints);
  REQUIRE(overlaps.size() == 1);
  CHECK(overlaps[0].overlap == ListenOverlap::clash);
  CHECK(overlaps[0].line.find("the socket systemd passed (LISTEN_FDS) '" + passed.address.to_string() +
                              "' and [metrics] listen '" + passed.address.to_string() + "' cannot both be bound") == 0);
}

TEST_CASE("listen check: the systemd service's view", "[listen_check]") {
  Config config;
  config.server.listen = {{ip("192.0.2.1"), 43}};  // would fail: whoisd.socket binds it, not the service
  config.metrics_listen = ListenAddress{ip("127.0.0.1"), 443};
  const BindingIdentity service = systemd_service_identity();
  const auto checks = check_listen_addresses(config, {}, ListenCheckView::systemd_service);
  REQUIRE(checks.size() == 2);
  CHECK(checks[0].outcome == ListenCheck::Outcome::left_to_systemd);
  CHECK(checks[0].line == "listen ok: 192.0.2.1:43 ([server] listen) is not bound by the service: whoisd.socket "
                          "binds its ListenStream= addresses and passes them, used instead");
  if (service.unprivileged_port_start <= 443) {
    WARN("net.ipv4.ip_unprivileged_port_start is " << service.unprivileged_port_start << ": 443 is not privileged");
    return;
  }
  // Refused for the service whoever runs the check, root included.
  CHECK(checks[1].outcome == ListenCheck::Outcome::failed);
  CHECK(checks[1].line == "[metrics] listen '127.0.0.1:443': the service could not bind it: port 443 is privileged "
                          "(below net.ipv4.ip_unprivileged_port_start, " +
                              std::to_string(service.unprivileged_port_start) +
                              ") and whoisd.service runs as user 'whoisd' without any capability "
                              "(CapabilityBoundingSet= is empty): choose a port from " +
                              std::to_string(service.unprivileged_port_start) + " up");
  // A port from there up is bound as usual; and by hand, as this process.
  config.metrics_listen = ListenAddress{ip("127.0.0.1"), free_port("127.0.0.1")};
  CHECK(check_listen_addresses(config, {}, ListenCheckView::systemd_service)[1].outcome ==
        ListenCheck::Outcome::bindable);
  // Listed twice, [server] listen is not bound by the service: no overlap to report.
  config.server.listen = {{ip("127.0.0.1"), 4343}, {ip("127.0.0.1"), 4343}};
  config.metrics_listen = ListenAddress{ip("127.0.0.1"), 4343};
  CHECK(check_listen_addresses(config, {}, ListenCheckView::systemd_service).size() == 3);
}
