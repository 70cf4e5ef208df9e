// systemd socket activation through libsystemd's sd_listen_fds_with_names(3): the listening
// sockets systemd passes from whoisd.socket, as file descriptors 3, 4, ... named by
// LISTEN_FDNAMES, and meant for us only when LISTEN_PID is our process id.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace whoisd {

struct SocketActivationError : std::runtime_error {
  using runtime_error::runtime_error;
};

struct ActivatedSocket {
  int fd = -1;
  std::string name;  // from LISTEN_FDNAMES, "unknown" when not given (as sd_listen_fds_with_names(3))
  int family = 0;    // AF_INET or AF_INET6
};

// The sockets passed by systemd, each set close-on-exec and checked to be a listening TCP
// socket (AF_INET/AF_INET6, SOCK_STREAM, IPPROTO_TCP). Empty when LISTEN_PID or LISTEN_FDS is
// unset or LISTEN_PID is another process. Unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES
// whatever happens, so that child processes do not inherit them. Throws SocketActivationError
// naming the variables or the descriptor when something is malformed or not a TCP listener.
std::vector<ActivatedSocket> take_activated_sockets();

}  // namespace whoisd
