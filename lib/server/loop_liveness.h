// Whether the daemon may tell systemd's watchdog that it is alive: only when every
// event loop has run its heartbeat timer since the last time it said so. A loop wedged
// in a callback (a lookup that never returns, a lock never released) stops its counter,
// the daemon stops saying WATCHDOG=1, and systemd restarts it after WatchdogSec=. A
// process that merely exists, or whose control loop alone runs, is not alive.
//
// The decision only: the counters and the time come from the caller
// (service_watchdog.h), so that a test can wedge a loop by not moving its counter.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace whoisd {

class LoopLiveness {
 public:
  using Clock = std::chrono::steady_clock;

  struct Stall {
    std::string loop;                  // its name, "whoisd-loop1"
    std::chrono::milliseconds silent;  // since its counter last moved
  };
  struct Verdict {
    bool alive = false;                 // every counter moved since the last alive verdict
    std::vector<Stall> newly_stalled;   // silent for stall_after or more, said once per stall
    std::vector<std::string> recovered; // stalled ones whose counter moved again
  };

  // `names` and `heartbeats`: one per loop, in the same order (and in every check);
  // `heartbeats` are the counters as they are when the watchdog starts.
  LoopLiveness(std::vector<std::string> names, const std::vector<std::uint64_t>& heartbeats,
               std::chrono::milliseconds stall_after, Clock::time_point now);

  Verdict check(const std::vector<std::uint64_t>& heartbeats, Clock::time_point now);

 private:
  struct Loop {
    std::string name;
    std::uint64_t at_last_alive;  // the counter at the last alive verdict
    std::uint64_t last_seen;
    Clock::time_point moved_at;   // when last_seen last changed
    bool stalled = false;         // reported in newly_stalled, not yet recovered
  };
  std::vector<Loop> loops_;
  std::chrono::milliseconds stall_after_;
};

}  // namespace whoisd
