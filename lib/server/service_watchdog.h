// systemd's watchdog (WatchdogSec= in whoisd.service): WATCHDOG=1 while the daemon is
// really alive, and none once an event loop is wedged, so that systemd restarts it
// (with SIGABRT, then Restart=on-failure) instead of leaving a process that holds port
// 43 and answers nobody.
//
// systemd gives the interval in WATCHDOG_USEC (and WATCHDOG_PID), read with
// sd_watchdog_enabled(). Every event loop bumps a heartbeat counter from a timer of its
// own every interval/8 (EventLoop::beat_every); a timer on the control loop looks every
// interval/4 and says WATCHDOG=1 when all counters moved since it last did
// (loop_liveness.h). The control loop's own timer running shows that loop alive. A
// healthy daemon thus pings about every interval/4, and one late check still leaves
// half the interval. A loop silent for interval/2 is logged (watchdog_withheld, naming
// it) before systemd acts, and logged again if it recovers.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "server/loop_liveness.h"
#include "server/systemd_notifier.h"

namespace whoisd {

class ServiceWatchdog {
 public:
  // The watchdog interval systemd set for this process, or nothing (no WatchdogSec=, not
  // started by systemd, or WATCHDOG_PID names another process).
  static std::optional<std::chrono::microseconds> interval_from_environment();

  // `heartbeats` returns every loop's counter, in the order of `names` (Server::heartbeats).
  ServiceWatchdog(SystemdNotifier& notifier, std::chrono::microseconds interval, std::vector<std::string> names,
                  std::function<std::vector<std::uint64_t>()> heartbeats);
  ServiceWatchdog(const ServiceWatchdog&) = delete;
  ServiceWatchdog& operator=(const ServiceWatchdog&) = delete;

  // How often each event loop must bump its counter (Server::beat_every, before it starts).
  std::chrono::milliseconds heartbeat_period() const;
  // On the control loop's thread: starts checking (the first ping after one period).
  void start(uv_loop_t* control_loop);
  // Closes the timer (its loop then runs once more to release it); no ping after this.
  void close();

 private:
  static void on_check(uv_timer_t* timer);
  void check();

  SystemdNotifier& notifier_;
  std::chrono::microseconds interval_;
  std::vector<std::string> names_;
  std::function<std::vector<std::uint64_t>()> heartbeats_;
  std::optional<LoopLiveness> liveness_;
  uv_timer_t timer_{};
  bool started_ = false;
};

}  // namespace whoisd
