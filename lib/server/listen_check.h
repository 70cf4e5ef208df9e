// --check-config's look at the addresses whoisd will listen on ([server] listen and
// [metrics] listen): each is bound once, with the socket and options the start uses
// (listen_socket.h), never listened on, and closed at once, so that an address the start
// could not bind (not on this host, a privileged port, no IPv6) is found before a restart.
// Two addresses of the configuration that one whoisd cannot both hold (listen_clash.h)
// fail too, since binding each alone cannot show it.
//
// An address in use is a note, not a failure: the check is typically run just before a
// reload or a restart, while the running whoisd holds its addresses. Which program holds
// one is not guessed (the kernel does not say without a walk of every process's files).
//
// Two views of who binds:
// - as started by hand (the default): the bind is made as whoever runs the check, because
//   whoisd binds before it drops its privileges, so a check run the way whoisd is started
//   (as root, or as the user that starts it) meets the same permission the start will.
// - as the shipped systemd service (ListenCheckView::systemd_service, --socket-activated):
//   whoisd.socket binds the whois port and passes it, so [server] listen is not bound;
//   the service runs as user whoisd without capabilities and binds only the metrics
//   endpoint, whose privileged port fails even when the check runs as root.
// When systemd passed sockets to this process (LISTEN_FDS), they replace [server] listen
// in either view, as they do at start; they are named, and [server] listen is not bound.
#pragma once

#include <string>
#include <vector>

#include "server/bind_failure.h"
#include "server/config.h"
#include "server/listen_address.h"
#include "server/listen_socket.h"
#include "server/socket_activation.h"

namespace whoisd {

struct ListenCheck {
  enum class Outcome {
    bindable,           // the start can bind it
    in_use,             // held by a running whoisd or another program: a note
    passed_by_systemd,  // a socket systemd passed, used instead of [server] listen
    left_to_systemd,    // the systemd service view: [server] listen, which whoisd.socket replaces
    redundant,          // two whois listeners reach the same connections: a note
    failed,             // the start could not bind it, or two addresses clash
  };
  Outcome outcome = Outcome::bindable;
  // One line: for standard output, or, when failed, the problem for standard error
  // (naming the setting, the address, the port and the cause in words).
  std::string line;
};

enum class ListenCheckView {
  started_by_hand,  // bound by whoever runs the check, as a start by them would
  systemd_service,  // as whoisd.service under whoisd.socket starts (see above)
};

// The whois listeners, or the sockets systemd passed (`passed`, from take_activated_sockets()),
// then the metrics endpoint: every one, in that order, whatever the others came to; then
// every two of them that overlap.
std::vector<ListenCheck> check_listen_addresses(const Config& config, const std::vector<ActivatedSocket>& passed,
                                                ListenCheckView view = ListenCheckView::started_by_hand);

// One address, bound with `options`; `key` ("[server] listen") names it in the line.
// For the systemd service's identity, a privileged port fails without a bind (root, who
// may run the check, could bind it; the service cannot).
ListenCheck check_listen_address(const ListenAddress& address, const std::string& key,
                                 const ListenSocketOptions& options, const BindingIdentity& who);

}  // namespace whoisd
