// EXTEND_TIMEOUT_USEC= while the start's long work runs (start_timeout_extender.h), as a
// service manager receives it; the daemon's use is in test_service_start.py.
#include <catch2/catch.hpp>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iterator>
#include <optional>
#include <string>
#include <thread>

#include "server/start_timeout_extender.h"
#include "support/captured_stderr.h"
#include "support/fake_service_manager.h"
#include "support/temp_dir.h"

using whoisd::StartTimeoutExtender;
using whoisd::StartTimeoutExtension;
using whoisd::SystemdNotifier;
using whoisd::stop_signal_pending;
using whoisd::test::FakeServiceManager;
using namespace std::chrono_literals;

TEST_CASE("the start timeout is extended again and again while the work runs, and no more after", "[notify]") {
  whoisd::test::TempDir dir;
  FakeServiceManager manager(dir.file("notify"));
  SystemdNotifier notifier;
  {
    StartTimeoutExtender extender(notifier, StartTimeoutExtension{20ms, 5s, 10min});
    // Work that takes a while: three extensions at least, each the same.
    for (int i = 0; i < 3; ++i) CHECK(manager.receive_within(60s) == "EXTEND_TIMEOUT_USEC=5000000");
  }
  manager.receive_queued();  // one may have been on its way while the work ended
  std::this_thread::sleep_for(200ms);  // ten periods
  CHECK(manager.receive_queued().empty());
}

TEST_CASE("quick work says nothing, and ends without waiting out a period", "[notify]") {
  whoisd::test::TempDir dir;
  FakeServiceManager manager(dir.file("notify"));
  SystemdNotifier notifier;
  const auto before = std::chrono::steady_clock::now();
  { StartTimeoutExtender extender(notifier, StartTimeoutExtension{10min, 20s, 15min}); }
  // Generous: a destructor that waited for the period would take ten minutes.
  CHECK(std::chrono::steady_clock::now() - before < 5min);
  CHECK(manager.receive_queued().empty());
}

TEST_CASE("past its limit the start is no longer extended, and the log says so", "[notify]") {
  whoisd::test::TempDir dir;
  FakeServiceManager manager(dir.file("notify"));
  SystemdNotifier notifier;
  whoisd::test::CapturedStderr log;
  {
    StartTimeoutExtender extender(notifier, StartTimeoutExtension{10ms, 3s, 50ms});
    // Ten periods past the limit: the thread has long given up.
    for (int i = 0; i < 60 && log.text().find("start_timeout_not_extended") == std::string::npos; ++i)
      std::this_thread::sleep_for(100ms);
    const std::size_t sent = manager.receive_queued().size();
    std::this_thread::sleep_for(100ms);
    CHECK(manager.receive_queued().empty());
    CHECK(sent <= 5);  // at most one a period (10, 20, 30, 40 ms) before the limit
  }
  CHECK_THAT(log.text(), Catch::Contains("event=start_timeout_not_extended reason=\"time limit\" after_ms=50") &&
                             Catch::Contains("when the last extension runs out (3 s)"));
}

TEST_CASE("without a service manager no thread is started", "[notify]") {
  unsetenv("NOTIFY_SOCKET");
  const auto threads = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/task"), std::filesystem::directory_iterator{});
  };
  SystemdNotifier notifier;
  const auto before = threads();
  StartTimeoutExtender extender(notifier, StartTimeoutExtension{1ms, 1s, 1s});
  CHECK(threads() == before);
}

TEST_CASE("a stop asked for ends the extensions, and the log says so", "[notify]") {
  whoisd::test::TempDir dir;
  FakeServiceManager manager(dir.file("notify"));
  SystemdNotifier notifier;
  whoisd::test::CapturedStderr log;
  std::atomic<bool> stop{false};
  {
    StartTimeoutExtender extender(notifier, StartTimeoutExtension{10ms, 5s, 10min}, [&] { return stop.load(); });
    CHECK(manager.receive_within(60s) == "EXTEND_TIMEOUT_USEC=5000000");
    stop = true;
    for (int i = 0; i < 600 && log.text().find("start_timeout_not_extended") == std::string::npos; ++i)
      std::this_thread::sleep_for(100ms);
    manager.receive_queued();  // one may have been on its way when the stop came
    std::this_thread::sleep_for(100ms);  // ten periods
    CHECK(manager.receive_queued().empty());
  }
  CHECK_THAT(log.text(), Catch::Contains("event=start_timeout_not_extended reason=\"stop requested\""));
}

TEST_CASE("stop_signal_pending sees a blocked SIGTERM or SIGINT waiting, and nothing else", "[notify]") {
  sigset_t blocked, before;
  sigemptyset(&blocked);
  for (int signum : {SIGTERM, SIGINT, SIGUSR2}) sigaddset(&blocked, signum);
  REQUIRE(pthread_sigmask(SIG_BLOCK, &blocked, &before) == 0);
  CHECK_FALSE(stop_signal_pending());
  timespec no_wait{};
  // Sent to this thread alone, so that no other thread of the test can take it.
  REQUIRE(pthread_kill(pthread_self(), SIGUSR2) == 0);
  CHECK_FALSE(stop_signal_pending());
  CHECK(sigtimedwait(&blocked, nullptr, &no_wait) == SIGUSR2);
  for (int signum : {SIGTERM, SIGINT}) {
    REQUIRE(pthread_kill(pthread_self(), signum) == 0);
    CHECK(stop_signal_pending());
    CHECK(sigtimedwait(&blocked, nullptr, &no_wait) == signum);  // taken: no longer pending
    CHECK_FALSE(stop_signal_pending());
  }
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
}
