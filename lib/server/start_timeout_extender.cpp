#include "server/start_timeout_extender.h"

#include <csignal>

#include "common/log.h"
#include "common/thread_setup.h"

namespace whoisd {

bool stop_signal_pending() {
  sigset_t pending;
  sigemptyset(&pending);
  if (sigpending(&pending) != 0) return false;
  return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1;
}

StartTimeoutExtender::StartTimeoutExtender(SystemdNotifier& notifier, StartTimeoutExtension extension,
                                           std::function<bool()> stop_requested)
    : notifier_(notifier), extension_(extension), stop_requested_(std::move(stop_requested)) {
  if (SystemdNotifier::has_manager()) thread_ = std::thread([this] { run(); });
}

StartTimeoutExtender::~StartTimeoutExtender() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void StartTimeoutExtender::run() {
  set_up_thread("whoisd-start");
  const auto end = std::chrono::steady_clock::now() + extension_.limit;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, extension_.every, [this] { return done_; })) return;
    }
    if (stop_requested_()) {
      log::info("start_timeout_not_extended")
          .kv("reason", "stop requested")
          .kv("hint", "a stop came during the start: systemd's stop timeout (TimeoutStopSec=) runs unextended "
                      "while the start's long work ends, then whoisd stops");
      return;
    }
    if (std::chrono::steady_clock::now() >= end) {
      log::warn("start_timeout_not_extended")
          .kv("reason", "time limit")
          .kv("after_ms", extension_.limit.count())
          .kv("hint", "the start has taken longer than whoisd extends systemd's start timeout for; systemd ends it "
                      "when the last extension runs out (" +
                          std::to_string(extension_.from_now.count() / 1'000'000) + " s)");
      return;
    }
    // Unlocked: the end of the work does not wait on a send.
    notifier_.extend_start_timeout(extension_.from_now);
  }
}

}  // namespace whoisd
