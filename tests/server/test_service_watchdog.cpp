// WATCHDOG=1 from a real libuv loop (service_watchdog.h), with heartbeat counters the
// test moves or holds still, as a service manager receives it; the interval comes from
// the environment as systemd sets it. The daemon's use is in test_service_watchdog.py.
#include <catch2/catch.hpp>

#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "server/service_watchdog.h"
#include "support/captured_stderr.h"
#include "support/fake_service_manager.h"
#include "support/temp_dir.h"

using whoisd::ServiceWatchdog;
using whoisd::SystemdNotifier;
using whoisd::test::FakeServiceManager;
using namespace std::chrono_literals;

namespace {

// Runs a loop with the watchdog until the heartbeats have been read `reads` times (the
// start's and one per check), the counters being what `counters` makes of the read number.
void run_checks(const std::function<std::vector<std::uint64_t>(int)>& counters, int reads, SystemdNotifier& notifier) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int read = 0;
  ServiceWatchdog watchdog(notifier, 200ms, {"whoisd-loop0", "whoisd-loop1"}, [&] {
    std::vector<std::uint64_t> now = counters(read);
    if (++read == reads) uv_stop(&loop);
    return now;
  });
  watchdog.start(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  watchdog.close();
  uv_run(&loop, UV_RUN_DEFAULT);
  REQUIRE(uv_loop_close(&loop) == 0);
}

struct WatchdogEnvironment {
  WatchdogEnvironment(const char* usec, const std::string& pid) {
    setenv("WATCHDOG_USEC", usec, 1);
    if (!pid.empty()) setenv("WATCHDOG_PID", pid.c_str(), 1);
  }
  ~WatchdogEnvironment() {
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
  }
};

}  // namespace

TEST_CASE("every check that finds all loops moved says WATCHDOG=1", "[watchdog]") {
  whoisd::test::TempDir dir;
  FakeServiceManager manager(dir.file("notify"));
  SystemdNotifier notifier;
  run_checks([](int read) { return std::vector<std::uint64_t>{std::uint64_t(read), std::uint64_t(read)}; }, 6,
             notifier);
  CHECK(manager.receive_queued() == std::vector<std::string>(5, "WATCHDOG=1"));
}

TEST_CASE("a loop whose heartbeat stands still stops the pings, and is named", "[watchdog]") {
  whoisd::test::TempDir dir;
  FakeServiceManager manager(dir.file("notify"));
  SystemdNotifier notifier;
  whoisd::test::CapturedStderr log;
  // whoisd-loop1 beats twice, then never again; checks come every 50 ms (200 ms / 4), so
  // by the eighth it has been silent for 300 ms at least, past the 100 ms (200 ms / 2)
  // after which it is named.
  run_checks([](int read) { return std::vector<std::uint64_t>{std::uint64_t(read), std::uint64_t(std::min(read, 2))}; },
             9, notifier);
  CHECK(manager.receive_queued() == std::vector<std::string>(2, "WATCHDOG=1"));
  const std::string text = log.text();
  CHECK_THAT(text, Catch::Contains("event=watchdog_withheld loop=whoisd-loop1 silent_ms="));
  CHECK_THAT(text, !Catch::Contains("loop=whoisd-loop0"));
}

TEST_CASE("the interval is systemd's WATCHDOG_USEC, for this process only", "[watchdog]") {
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  CHECK_FALSE(ServiceWatchdog::interval_from_environment());
  {
    WatchdogEnvironment env("30000000", std::to_string(getpid()));
    CHECK(ServiceWatchdog::interval_from_environment() == std::chrono::microseconds(30'000'000));
  }
  {
    WatchdogEnvironment env("30000000", "");  // no WATCHDOG_PID: meant for whoever reads it
    CHECK(ServiceWatchdog::interval_from_environment() == std::chrono::microseconds(30'000'000));
  }
  {
    WatchdogEnvironment env("30000000", std::to_string(getpid() + 1));  // another process's
    CHECK_FALSE(ServiceWatchdog::interval_from_environment());
  }
  {
    whoisd::test::CapturedStderr log;
    WatchdogEnvironment env("thirty", "");
    CHECK_FALSE(ServiceWatchdog::interval_from_environment());
    CHECK_THAT(log.text(), Catch::Contains("event=watchdog_off") && Catch::Contains("WATCHDOG_USEC"));
  }
}
