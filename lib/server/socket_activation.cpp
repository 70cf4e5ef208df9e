#include "server/socket_activation.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include <fmt/format.h>

namespace whoisd {
namespace {

// A positive decimal number, nothing else (no sign, no spaces).
std::optional<long> parse_positive(std::string_view text) {
  long value = 0;
  if (text.empty() || text[0] == '+' || text[0] == '-') return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

int socket_option(int fd, int option) {
  int value = 0;
  socklen_t length = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, option, &value, &length) != 0) return -1;
  return value;
}

// The socket family of `fd`, after checking that it is a listening TCP socket.
int check_listener(int fd) {
  const int flags = fcntl(fd, F_GETFD);
  if (flags < 0) throw SocketActivationError(fmt::format("LISTEN_FDS: descriptor {} is not open", fd));
  // Ours alone: a child process (none today) must not inherit the listening sockets.
  if (fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0)
    throw SocketActivationError(fmt::format("LISTEN_FDS: descriptor {}: cannot set close-on-exec: {}", fd, std::strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
    throw SocketActivationError(fmt::format("LISTEN_FDS: descriptor {} is not a socket", fd));
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      (address.ss_family != AF_INET && address.ss_family != AF_INET6))
    throw SocketActivationError(fmt::format("LISTEN_FDS: descriptor {} is not an IPv4 or IPv6 socket", fd));
  if (socket_option(fd, SO_TYPE) != SOCK_STREAM || socket_option(fd, SO_PROTOCOL) != IPPROTO_TCP)
    throw SocketActivationError(fmt::format("LISTEN_FDS: descriptor {} is not a TCP socket", fd));
  if (socket_option(fd, SO_ACCEPTCONN) != 1)
    throw SocketActivationError(fmt::format("LISTEN_FDS: descriptor {} is not listening", fd));
  return address.ss_family;
}

}  // namespace

std::vector<ActivatedSocket> activated_sockets(const char* listen_pid, const char* listen_fds,
                                               const char* listen_fdnames, pid_t self, int first_fd) {
  if (!listen_pid || !listen_fds) return {};
  const auto pid = parse_positive(listen_pid);
  if (!pid || *pid == 0) throw SocketActivationError(fmt::format("LISTEN_PID='{}' is not a process id", listen_pid));
  // Meant for another process (we were started by one that got them): not ours to use.
  if (*pid != self) return {};
  const auto count = parse_positive(listen_fds);
  if (!count || *count > 4096 || *count > INT_MAX - first_fd)
    throw SocketActivationError(fmt::format("LISTEN_FDS='{}' is not a number of descriptors", listen_fds));
  if (*count == 0) return {};

  std::vector<std::string> names;
  if (listen_fdnames) {
    std::string_view rest = listen_fdnames;
    while (true) {
      const std::size_t colon = rest.find(':');
      names.emplace_back(rest.substr(0, colon));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
    if (names.size() != static_cast<std::size_t>(*count))
      throw SocketActivationError(fmt::format("LISTEN_FDNAMES='{}' names {} descriptors, LISTEN_FDS={}", listen_fdnames,
                                              names.size(), *count));
  }

  std::vector<ActivatedSocket> sockets;
  for (int i = 0; i < static_cast<int>(*count); ++i) {
    ActivatedSocket s;
    s.fd = first_fd + i;
    s.family = check_listener(s.fd);
    if (!names.empty()) s.name = names[static_cast<std::size_t>(i)];
    sockets.push_back(std::move(s));
  }
  return sockets;
}

std::vector<ActivatedSocket> take_activated_sockets() {
  const auto copy = [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
  const auto pid = copy("LISTEN_PID"), fds = copy("LISTEN_FDS"), names = copy("LISTEN_FDNAMES");
  // As sd_listen_fds(1): unset whatever happens next, so that nothing we start inherits them.
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  return activated_sockets(pid ? pid->c_str() : nullptr, fds ? fds->c_str() : nullptr, names ? names->c_str() : nullptr,
                           getpid());
}

}  // namespace whoisd
