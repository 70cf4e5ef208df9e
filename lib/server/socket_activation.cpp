#include "server/socket_activation.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include <fmt/format.h>

namespace whoisd {
namespace {

// The family of `fd`, after checking that it is a listening TCP socket: one property at a
// time, so that the error says which one is missing.
int check_listener(int fd) {
  const auto holds = [fd](int r) {
    if (r < 0)
      throw SocketActivationError(fmt::format("LISTEN_FDS: descriptor {}: cannot check it: {}", fd, std::strerror(-r)));
    return r > 0;
  };
  const auto refuse = [fd](std::string_view what) {
    throw SocketActivationError(fmt::format("LISTEN_FDS: descriptor {} is not {}", fd, what));
  };
  if (!holds(sd_is_socket(fd, AF_UNSPEC, 0, -1))) refuse("a socket");
  if (!holds(sd_is_socket_inet(fd, AF_UNSPEC, 0, -1, 0))) refuse("an IPv4 or IPv6 socket");
  // sd_is_socket_inet() checks the type, not the protocol: SOCK_STREAM is also SCTP's and MPTCP's.
  int protocol = 0;
  socklen_t length = sizeof protocol;
  if (!holds(sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, -1, 0)) ||
      getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &length) != 0 || protocol != IPPROTO_TCP)
    refuse("a TCP socket");
  if (!holds(sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0))) refuse("listening");
  return holds(sd_is_socket_inet(fd, AF_INET, 0, -1, 0)) ? AF_INET : AF_INET6;
}

struct FreeNames {
  void operator()(char** names) const {
    for (char** name = names; *name; ++name) std::free(*name);
    std::free(names);
  }
};

}  // namespace

std::vector<ActivatedSocket> take_activated_sockets() {
  // For the errors only: sd_listen_fds_with_names() unsets them, and its errno does not say which was wrong.
  const auto shown = [](const char* variable) {
    const char* value = std::getenv(variable);
    return value ? fmt::format("{}='{}'", variable, value) : fmt::format("{} (unset)", variable);
  };
  const std::string malformed =
      std::getenv("LISTEN_FDNAMES")
          ? fmt::format("{}, {} and {} must be a process id, a positive number of descriptors and as many names",
                        shown("LISTEN_PID"), shown("LISTEN_FDS"), shown("LISTEN_FDNAMES"))
          : fmt::format("{} and {} must be a process id and a positive number of descriptors", shown("LISTEN_PID"),
                        shown("LISTEN_FDS"));

  char** raw_names = nullptr;
  const int count = sd_listen_fds_with_names(/*unset_environment=*/1, &raw_names);
  const std::unique_ptr<char*[], FreeNames> names(raw_names);
  if (count == -EBADF) {
    // One of 3, 4, ... it counts is not open, so the first descriptor from 3 that is not open is one of them.
    int fd = SD_LISTEN_FDS_START;
    while (fcntl(fd, F_GETFD) >= 0) ++fd;
    throw SocketActivationError(fmt::format("LISTEN_FDS: descriptor {} is not open", fd));
  }
  if (count == -EINVAL || count == -ERANGE)
    throw SocketActivationError(fmt::format("{}: {}", malformed, std::strerror(-count)));
  if (count < 0)
    throw SocketActivationError(fmt::format("LISTEN_FDS: cannot take the descriptors: {}", std::strerror(-count)));

  std::vector<ActivatedSocket> sockets;
  for (int i = 0; i < count; ++i) {
    ActivatedSocket s;
    s.fd = SD_LISTEN_FDS_START + i;
    s.family = check_listener(s.fd);
    s.name = names[i];
    sockets.push_back(std::move(s));
  }
  return sockets;
}

}  // namespace whoisd
