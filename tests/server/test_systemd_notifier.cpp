// The sd_notify messages, as a service manager receives them on NOTIFY_SOCKET (the
// integration test test_service_notify.py checks when the daemon sends which).
#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "server/systemd_notifier.h"
#include "support/fake_service_manager.h"
#include "support/temp_dir.h"

using whoisd::monotonic_usec;
using whoisd::notify_status_field;
using whoisd::SystemdNotifier;
using whoisd::test::FakeServiceManager;
using namespace std::chrono_literals;

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
  notifier.watchdog();
  CHECK(manager.receive() == "WATCHDOG=1");
  notifier.extend_start_timeout(20s);
  CHECK(manager.receive() == "EXTEND_TIMEOUT_USEC=20000000");
}

TEST_CASE("a failed start says why, with the errno behind it, and waits until it is read", "[notify]") {
  whoisd::test::TempDir dir;
  FakeServiceManager manager(dir.file("notify"));
  SystemdNotifier notifier;

  // On a thread of its own: start_failed() returns only once the manager has read the
  // status (sd_notify_barrier), which this thread does meanwhile.
  std::thread failing([&] { notifier.start_failed("cannot listen on 127.0.0.1:43: the address is in use", EADDRINUSE); });
  CHECK(manager.receive_within(60s) ==
        "STATUS=start failed: cannot listen on 127.0.0.1:43: the address is in use\nERRNO=" + std::to_string(EADDRINUSE));
  CHECK(manager.receive_within(60s) == "BARRIER=1");
  failing.join();

  failing = std::thread([&] { notifier.start_failed("whoisd.conf:3: limits.queries: must be a whole number", 0); });
  CHECK(manager.receive_within(60s) == "STATUS=start failed: whoisd.conf:3: limits.queries: must be a whole number");
  CHECK(manager.receive_within(60s) == "BARRIER=1");
  failing.join();
}

TEST_CASE("without NOTIFY_SOCKET nothing is sent and nothing fails", "[notify]") {
  unsetenv("NOTIFY_SOCKET");
  SystemdNotifier notifier;
  notifier.ready("serving");
  notifier.reloading("reloading");
  notifier.stopping("stopping");
  notifier.watchdog();
  notifier.extend_start_timeout(20s);
  notifier.start_failed("no snapshot", ENOENT);  // and no barrier to wait on
  CHECK_FALSE(SystemdNotifier::has_manager());
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
