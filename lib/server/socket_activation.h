// systemd socket activation (sd_listen_fds(3)) without libsystemd: the listening sockets
// systemd passes from whoisd.socket, as file descriptors 3, 4, ... named by
// LISTEN_FDNAMES, and meant for us only when LISTEN_PID is our process id.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <sys/types.h>

namespace whoisd {

struct SocketActivationError : std::runtime_error {
  using runtime_error::runtime_error;
};

struct ActivatedSocket {
  int fd = -1;
  std::string name;  // from LISTEN_FDNAMES, "" when not given
  int family = 0;    // AF_INET or AF_INET6
};

inline constexpr int kListenFdsStart = 3;  // SD_LISTEN_FDS_START

// The sockets passed by systemd, each already checked to be a listening TCP socket
// (AF_INET/AF_INET6, SOCK_STREAM) and set close-on-exec. Empty when LISTEN_PID or
// LISTEN_FDS is unset or LISTEN_PID is another process. Unsets LISTEN_PID, LISTEN_FDS and
// LISTEN_FDNAMES so that child processes do not inherit them. Throws SocketActivationError
// naming the variable or the descriptor when something is malformed or not a TCP listener.
std::vector<ActivatedSocket> take_activated_sockets();

// The same over given values (nullptr = unset), without touching the environment; for
// tests, which pass sockets starting at `first_fd`.
std::vector<ActivatedSocket> activated_sockets(const char* listen_pid, const char* listen_fds,
                                               const char* listen_fdnames, pid_t self,
                                               int first_fd = kListenFdsStart);

}  // namespace whoisd
