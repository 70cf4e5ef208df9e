#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "server/socket_activation.h"

// take_activated_sockets() reads descriptors 3, 4, ... (SD_LISTEN_FDS_START) and the
// environment, as systemd passes them: each case arranges both in a child process, so that
// the test runner's own descriptors and environment are left alone.

namespace {

// In the child, where Catch2's REQUIRE must not run: a failure is reported as an error.
void need(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test setup: ") + what);
}

// A TCP socket on loopback, listening unless told otherwise.
int tcp_socket(int family, bool listening) {
  const int fd = socket(family, SOCK_STREAM, 0);
  need(fd >= 0, "socket");
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
  need(bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0, "bind");
  if (listening) need(listen(fd, 8) == 0, "listen");
  return fd;
}

constexpr int kAboveListenFds = 100;  // where the child keeps what must not be at 3, 4, ...

// Puts `fds` at 3, 4, ... without close-on-exec, as systemd passes them.
void pass(std::vector<int> fds) {
  for (int& fd : fds) {  // first out of the way, as one of them may already sit at 3, 4, ...
    const int high = fcntl(fd, F_DUPFD, kAboveListenFds);
    need(high >= 0, "F_DUPFD");
    close(fd);
    fd = high;
  }
  for (std::size_t i = 0; i < fds.size(); ++i) {
    need(dup2(fds[i], 3 + static_cast<int>(i)) == 3 + static_cast<int>(i), "dup2");
    close(fds[i]);
  }
}

// LISTEN_PID is the child's own unless `pid` is given; nullptr leaves a variable unset.
void listen_env(const char* fds, const char* names = nullptr, const char* pid = nullptr) {
  setenv("LISTEN_PID", pid ? pid : std::to_string(getpid()).c_str(), 1);
  if (fds) setenv("LISTEN_FDS", fds, 1);
  if (names) setenv("LISTEN_FDNAMES", names, 1);
}

const char* family_name(int family) {
  return family == AF_INET ? "AF_INET" : family == AF_INET6 ? "AF_INET6" : "?";
}

// Runs `arrange` and then take_activated_sockets() in a child process, with no LISTEN_*
// variables to begin with. Returns what the child saw: a "fd name family close-on-exec" line
// per socket, a line for a variable left set or a second take that was not empty; or the
// error, with the child's process id written $PID.
std::string activate_in_child(const std::function<void()>& arrange) {
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::string report;
    const int to_parent = fcntl(out[1], F_DUPFD_CLOEXEC, kAboveListenFds);
    close(out[0]);
    close(out[1]);
    try {
      need(to_parent >= 0, "F_DUPFD_CLOEXEC");
      for (const char* variable : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"}) unsetenv(variable);
      arrange();
      for (const auto& s : whoisd::take_activated_sockets())
        report += std::to_string(s.fd) + " " + s.name + " " + family_name(s.family) +
                  ((fcntl(s.fd, F_GETFD) & FD_CLOEXEC) != 0 ? " cloexec\n" : " inherited\n");
      for (const char* variable : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"})
        if (getenv(variable)) report += std::string(variable) + " left set\n";
      if (!whoisd::take_activated_sockets().empty()) report += "taken twice\n";
    } catch (const std::exception& e) {
      report = e.what();
      const std::string self = "'" + std::to_string(getpid()) + "'";
      if (const auto at = report.find(self); at != std::string::npos) report.replace(at, self.size(), "'$PID'");
    }
    for (std::size_t sent = 0; sent < report.size();) {
      const ssize_t n = write(to_parent, report.data() + sent, report.size() - sent);
      if (n <= 0) _exit(1);
      sent += static_cast<std::size_t>(n);
    }
    _exit(0);
  }
  close(out[1]);
  std::string report;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = read(out[0], buffer, sizeof buffer)) > 0) report.append(buffer, static_cast<std::size_t>(n));
  close(out[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return report;
}

}  // namespace

TEST_CASE("activation passes listening TCP sockets with their names", "[activation]") {
  CHECK(activate_in_child([] {
          pass({tcp_socket(AF_INET, true), tcp_socket(AF_INET6, true)});
          listen_env("2", "whois-v4:whois-v6");
        }) == "3 whois-v4 AF_INET cloexec\n4 whois-v6 AF_INET6 cloexec\n");

  // Names are optional: sd_listen_fds_with_names(3) calls them "unknown".
  CHECK(activate_in_child([] {
          pass({tcp_socket(AF_INET6, true)});
          listen_env("1");
        }) == "3 unknown AF_INET6 cloexec\n");
}

TEST_CASE("activation ignores what is not meant for this process", "[activation]") {
  // Not activated: nothing, and no error.
  CHECK(activate_in_child([] {}).empty());
  CHECK(activate_in_child([] { listen_env(nullptr); }).empty());
  // Activated for another process (LISTEN_PID 1): its descriptors are not ours to take or change,
  // and the variables are unset all the same.
  CHECK(activate_in_child([] {
          pass({tcp_socket(AF_INET, true)});
          listen_env("1", "whoisd.socket", "1");
          need(whoisd::take_activated_sockets().empty(), "nothing taken");
          need((fcntl(3, F_GETFD) & FD_CLOEXEC) == 0, "descriptor 3 left without close-on-exec");
          need(!getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES"), "variables unset");
        }).empty());
}

TEST_CASE("activation names malformed variables", "[activation]") {
  const auto error_of = [](const char* pid, const char* fds, const char* names = nullptr) {
    return activate_in_child([=] {
      pass({tcp_socket(AF_INET, true), tcp_socket(AF_INET, true)});
      listen_env(fds, names, pid);
    });
  };
  // libsystemd's errno does not say which variable is wrong: the message shows them all.
  const std::string must = " must be a process id and a positive number of descriptors: ";
  CHECK(error_of("abc", "1") == "LISTEN_PID='abc' and LISTEN_FDS='1'" + must + "Invalid argument");
  CHECK(error_of("0", "1") == "LISTEN_PID='0' and LISTEN_FDS='1'" + must + "Numerical result out of range");
  CHECK(error_of("abc", nullptr) == "LISTEN_PID='abc' and LISTEN_FDS (unset)" + must + "Invalid argument");

  // LISTEN_PID is the child's own, $PID in the message.
  for (const std::string fds : {"-1", "0", "2x"})
    CHECK(error_of(nullptr, fds.c_str()) ==
          "LISTEN_PID='$PID' and LISTEN_FDS='" + fds + "'" + must + "Invalid argument");
  CHECK(error_of(nullptr, "99999999999999999999") ==
        "LISTEN_PID='$PID' and LISTEN_FDS='99999999999999999999'" + must + "Numerical result out of range");
  CHECK(error_of(nullptr, "2", "only-one") ==
        "LISTEN_PID='$PID', LISTEN_FDS='2' and LISTEN_FDNAMES='only-one' must be a process id, a positive number of "
        "descriptors and as many names: Invalid argument");
  // 3 and 4 hold sockets; 5 is closed.
  CHECK(activate_in_child([] {
          pass({tcp_socket(AF_INET, true), tcp_socket(AF_INET, true)});
          close(5);
          listen_env("3");
        }) == "LISTEN_FDS: descriptor 5 is not open");
}

TEST_CASE("activation refuses descriptors that are not listening TCP sockets", "[activation]") {
  const auto error_with = [](std::function<int()> make) {
    return activate_in_child([&] {
      pass({make()});
      listen_env("1");
    });
  };
  CHECK(error_with([] { return tcp_socket(AF_INET, false); }) == "LISTEN_FDS: descriptor 3 is not listening");
  CHECK(error_with([] { return socket(AF_INET, SOCK_DGRAM, 0); }) == "LISTEN_FDS: descriptor 3 is not a TCP socket");
  CHECK(error_with([] { return socket(AF_UNIX, SOCK_STREAM, 0); }) ==
        "LISTEN_FDS: descriptor 3 is not an IPv4 or IPv6 socket");
  CHECK(error_with([] {
          int p[2];
          need(pipe(p) == 0, "pipe");
          close(p[1]);
          return p[0];
        }) == "LISTEN_FDS: descriptor 3 is not a socket");
  CHECK(activate_in_child([] {
          close(3);
          listen_env("1");
        }) == "LISTEN_FDS: descriptor 3 is not open");

  // SOCK_STREAM on IPv4, but not TCP: what sd_is_socket_inet(3) cannot tell apart.
  const std::string mptcp = error_with([] {
    const int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
    if (fd < 0) throw std::runtime_error("no MPTCP");
    return fd;
  });
  if (mptcp == "no MPTCP")
    WARN("MPTCP sockets are not available here: the protocol check is not tried");
  else
    CHECK(mptcp == "LISTEN_FDS: descriptor 3 is not a TCP socket");
}
