// The sd_notify messages, as a service manager receives them on NOTIFY_SOCKET (the
// integration test test_service_notify.py checks when the daemon sends which).
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "server/systemd_notifier.h"
#include "support/temp_dir.h"

using whoisd::monotonic_usec;
using whoisd::notify_status_field;
using whoisd::SystemdNotifier;

namespace {

// A datagram socket bound where NOTIFY_SOCKET points while the object lives.
class FakeServiceManager {
 public:
  explicit FakeServiceManager(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof address.sun_path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~FakeServiceManager() {
    unsetenv("NOTIFY_SOCKET");
    close(fd_);
  }

  // The next message, already queued: a send is done when the notifier's call returns.
  std::string receive() {
    char buffer[4096];
    const ssize_t n = recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
    REQUIRE(n >= 0);
    return std::string(buffer, static_cast<std::size_t>(n));
  }

 private:
  int fd_ = -1;
};

}  // namespace

TEST_CASE("each state change carries a status line", "[notify]") {
  whoisd::test::TempDir dir;
  FakeServiceManager manager(dir.file("notify"));
  SystemdNotifier notifier;

  notifier.ready("serving 3 domains");
  CHECK(manager.receive() == "READY=1\nSTATUS=serving 3 domains");

  const std::uint64_t before = monotonic_usec();
  notifier.reloading("reloading");
  const std::uint64_t after = monotonic_usec();
  const std::string reloading = manager.receive();
  INFO(reloading);
  const std::string head = "RELOADING=1\nMONOTONIC_USEC=";
  REQUIRE(reloading.rfind(head, 0) == 0);
  const std::size_t end = reloading.find('\n', head.size());
  REQUIRE(end != std::string::npos);
  const std::uint64_t usec = std::stoull(reloading.substr(head.size(), end - head.size()));
  CHECK(before <= usec);
  CHECK(usec <= after);
  CHECK(reloading.substr(end) == "\nSTATUS=reloading");

  notifier.stopping("stopping: draining 2 open connections");
  CHECK(manager.receive() == "STOPPING=1\nSTATUS=stopping: draining 2 open connections");
  notifier.status("writing the state");
  CHECK(manager.receive() == "STATUS=writing the state");
}

TEST_CASE("without NOTIFY_SOCKET nothing is sent and nothing fails", "[notify]") {
  unsetenv("NOTIFY_SOCKET");
  SystemdNotifier notifier;
  notifier.ready("serving");
  notifier.reloading("reloading");
  notifier.stopping("stopping");
}

TEST_CASE("a status is one line of UTF-8, whatever the error it quotes", "[notify]") {
  CHECK(notify_status_field("config reload refused: a.conf:3: limits.queries: must be a whole number") ==
        "STATUS=config reload refused: a.conf:3: limits.queries: must be a whole number");
  // A line break would start a field of its own (a forged READY=1); bytes that are not
  // UTF-8 make systemd drop the whole status.
  CHECK(notify_status_field("refused: x\nREADY=1") == "STATUS=refused: x\\x0aREADY=1");
  CHECK(notify_status_field("path /srv/a\xff\x41\xc3\xa7ores") == "STATUS=path /srv/a\\xffA\xc3\xa7ores");
  CHECK(notify_status_field(std::string(5000, 'x')).size() <= 7 + 1000 + 3);
}
