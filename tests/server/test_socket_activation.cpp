#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "server/socket_activation.h"

using whoisd::activated_sockets;
using whoisd::SocketActivationError;

namespace {

// A TCP socket on loopback, listening unless told otherwise.
int tcp_socket(int family, bool listening) {
  const int fd = socket(family, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_storage address{};
  socklen_t length = 0;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&address);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&address);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    length = sizeof *a;
  }
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0);
  if (listening) REQUIRE(listen(fd, 8) == 0);
  return fd;
}

// Moves `fd` to `target` (as systemd passes descriptors at fixed numbers), without CLOEXEC.
int place(int fd, int target) {
  if (fd == target) return target;
  REQUIRE(dup2(fd, target) == target);
  close(fd);
  return target;
}

constexpr int kFirst = 200;  // well clear of what the test runner has open

std::string error_of(const char* pid, const char* fds, const char* names = nullptr) {
  try {
    activated_sockets(pid, fds, names, getpid(), kFirst);
  } catch (const SocketActivationError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("activation passes listening TCP sockets with their names", "[activation]") {
  place(tcp_socket(AF_INET, true), kFirst);
  place(tcp_socket(AF_INET6, true), kFirst + 1);
  const std::string self = std::to_string(getpid());

  const auto sockets = activated_sockets(self.c_str(), "2", "whois-v4:whois-v6", getpid(), kFirst);
  REQUIRE(sockets.size() == 2);
  CHECK(sockets[0].fd == kFirst);
  CHECK(sockets[0].name == "whois-v4");
  CHECK(sockets[0].family == AF_INET);
  CHECK(sockets[1].fd == kFirst + 1);
  CHECK(sockets[1].name == "whois-v6");
  CHECK(sockets[1].family == AF_INET6);
  CHECK((fcntl(kFirst, F_GETFD) & FD_CLOEXEC) != 0);
  CHECK((fcntl(kFirst + 1, F_GETFD) & FD_CLOEXEC) != 0);

  // Names are optional.
  const auto unnamed = activated_sockets(self.c_str(), "1", nullptr, getpid(), kFirst);
  REQUIRE(unnamed.size() == 1);
  CHECK(unnamed[0].name.empty());

  // Not activated, or activated for another process: nothing, and no error.
  CHECK(activated_sockets(nullptr, nullptr, nullptr, getpid(), kFirst).empty());
  CHECK(activated_sockets(self.c_str(), nullptr, nullptr, getpid(), kFirst).empty());
  CHECK(activated_sockets("1", "2", nullptr, getpid(), kFirst).empty());
  CHECK(activated_sockets(self.c_str(), "0", nullptr, getpid(), kFirst).empty());

  // Malformed variables are named.
  CHECK(error_of("abc", "1") == "LISTEN_PID='abc' is not a process id");
  CHECK(error_of("0", "1") == "LISTEN_PID='0' is not a process id");
  CHECK(error_of(self.c_str(), "-1") == "LISTEN_FDS='-1' is not a number of descriptors");
  CHECK(error_of(self.c_str(), "2x") == "LISTEN_FDS='2x' is not a number of descriptors");
  CHECK(error_of(self.c_str(), "99999999999999999999") ==
        "LISTEN_FDS='99999999999999999999' is not a number of descriptors");
  CHECK(error_of(self.c_str(), "2", "only-one") == "LISTEN_FDNAMES='only-one' names 1 descriptors, LISTEN_FDS=2");
  CHECK(error_of(self.c_str(), "3") == "LISTEN_FDS: descriptor 202 is not open");
  close(kFirst);
  close(kFirst + 1);
}

TEST_CASE("activation refuses descriptors that are not listening TCP sockets", "[activation]") {
  const std::string self = std::to_string(getpid());
  SECTION("a TCP socket that is not listening") {
    place(tcp_socket(AF_INET, false), kFirst);
    CHECK(error_of(self.c_str(), "1") == "LISTEN_FDS: descriptor 200 is not listening");
  }
  SECTION("a UDP socket") {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    place(fd, kFirst);
    CHECK(error_of(self.c_str(), "1") == "LISTEN_FDS: descriptor 200 is not a TCP socket");
  }
  SECTION("a UNIX socket") {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    place(fd, kFirst);
    CHECK(error_of(self.c_str(), "1") == "LISTEN_FDS: descriptor 200 is not an IPv4 or IPv6 socket");
  }
  SECTION("a pipe") {
    int p[2];
    REQUIRE(pipe(p) == 0);
    close(p[1]);
    place(p[0], kFirst);
    CHECK(error_of(self.c_str(), "1") == "LISTEN_FDS: descriptor 200 is not a socket");
  }
  SECTION("a closed descriptor") { CHECK(error_of(self.c_str(), "1") == "LISTEN_FDS: descriptor 200 is not open"); }
  close(kFirst);
}

TEST_CASE("take_activated_sockets reads and clears the environment, from descriptor 3", "[activation]") {
  // In a child: it needs descriptor 3 and its own pid in LISTEN_PID, as systemd gives them.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const int listener = tcp_socket(AF_INET6, true);
    if (listener != 3) {  // 3 may have been free, and then it is already there
      if (dup2(listener, 3) != 3) _exit(10);
      close(listener);
    }
    setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
    setenv("LISTEN_FDS", "1", 1);
    setenv("LISTEN_FDNAMES", "whoisd.socket", 1);
    try {
      const auto sockets = whoisd::take_activated_sockets();
      if (sockets.size() != 1 || sockets[0].fd != 3 || sockets[0].name != "whoisd.socket") _exit(11);
      if (sockets[0].family != AF_INET6) _exit(12);
    } catch (const std::exception& e) {
      fprintf(stderr, "take_activated_sockets: %s\n", e.what());
      _exit(13);
    }
    if (getenv("LISTEN_PID") || getenv("LISTEN_FDS") || getenv("LISTEN_FDNAMES")) _exit(14);
    if (!whoisd::take_activated_sockets().empty()) _exit(15);  // once only
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
