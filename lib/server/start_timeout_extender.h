// systemd's start timeout, pushed ahead while the start does work that can take long
// (opening the state, which may upgrade an older schema over the whole query log, fold
// a large journal and load every source; opening the snapshot, on a slow or cold disk). whoisd.service then keeps a modest TimeoutStartSec= for what is
// quick (binding, reading the configuration) instead of one sized for the longest
// upgrade, which also let a start wedged anywhere else hang that long.
//
// A thread of its own says EXTEND_TIMEOUT_USEC= every `every` while the object lives:
// the main thread is inside the work and cannot, and none of the work (one SQL
// statement can run for seconds) has a place to call back from. Nothing is sent
// before the first `every` has passed, so a quick start says nothing. Bounded: past
// `limit` from the object's construction it stops extending and logs so, and systemd's
// own timeout then ends a start that hangs.
//
// It also stops once a stop is asked for (SIGTERM or SIGINT pending: the start keeps them
// blocked until its control loop runs). systemd applies EXTEND_TIMEOUT_USEC= to whatever
// timeout runs, the stop's too: extending on would hold `systemctl stop` or a shutdown up
// to `limit` instead of TimeoutStopSec=.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "server/systemd_notifier.h"

namespace whoisd {

struct StartTimeoutExtension {
  std::chrono::milliseconds every{2000};
  // Each message: the start may take this much longer from now. Ten ticks, so that a
  // loaded machine that runs the thread late does not let the start time out.
  std::chrono::microseconds from_now{std::chrono::seconds(20)};
  // No extension past this (TimeoutStartSec= before this class, upgrades included).
  std::chrono::milliseconds limit{std::chrono::minutes(15)};
};

// Whether SIGTERM or SIGINT waits for this process (sigpending(): blocked, not yet taken).
bool stop_signal_pending();

class StartTimeoutExtender {
 public:
  // Starts the thread only when there is a service manager to tell (NOTIFY_SOCKET).
  // `stop_requested` is asked before each extension (a test gives its own).
  explicit StartTimeoutExtender(SystemdNotifier& notifier, StartTimeoutExtension extension = {},
                                std::function<bool()> stop_requested = stop_signal_pending);
  ~StartTimeoutExtender();  // the long work is over: stops and joins the thread
  StartTimeoutExtender(const StartTimeoutExtender&) = delete;
  StartTimeoutExtender& operator=(const StartTimeoutExtender&) = delete;

 private:
  void run();

  SystemdNotifier& notifier_;
  const StartTimeoutExtension extension_;
  const std::function<bool()> stop_requested_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace whoisd
