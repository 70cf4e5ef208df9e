#include "server/service_watchdog.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"

namespace whoisd {
namespace {

std::chrono::milliseconds at_least_1ms(std::chrono::microseconds d) {
  return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(d), std::chrono::milliseconds(1));
}

}  // namespace

std::optional<std::chrono::microseconds> ServiceWatchdog::interval_from_environment() {
  std::uint64_t usec = 0;
  // > 0: enabled for this process; 0: not asked for; < 0: WATCHDOG_USEC or _PID malformed.
  const int rc = sd_watchdog_enabled(0, &usec);
  if (rc < 0)
    log::warn("watchdog_off")
        .kv("error", std::strerror(-rc))
        .kv("hint", "WATCHDOG_USEC or WATCHDOG_PID in the environment is malformed, so no WATCHDOG=1 is sent; "
                    "check the unit's WatchdogSec= and Environment=");
  if (rc <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

ServiceWatchdog::ServiceWatchdog(SystemdNotifier& notifier, std::chrono::microseconds interval,
                                 std::vector<std::string> names, std::function<std::vector<std::uint64_t>()> heartbeats)
    : notifier_(notifier), interval_(interval), names_(std::move(names)), heartbeats_(std::move(heartbeats)) {}

std::chrono::milliseconds ServiceWatchdog::heartbeat_period() const { return at_least_1ms(interval_ / 8); }

void ServiceWatchdog::start(uv_loop_t* control_loop) {
  liveness_.emplace(names_, heartbeats_(), at_least_1ms(interval_ / 2), LoopLiveness::Clock::now());
  uv_timer_init(control_loop, &timer_);
  timer_.data = this;
  const auto period = static_cast<std::uint64_t>(at_least_1ms(interval_ / 4).count());
  uv_timer_start(&timer_, on_check, period, period);
  started_ = true;
  log::info("watchdog")
      .kv("interval_ms", std::chrono::duration_cast<std::chrono::milliseconds>(interval_).count())
      .kv("check_ms", period)
      .kv("loops", names_.size());
}

void ServiceWatchdog::close() {
  if (!started_) return;
  started_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void ServiceWatchdog::on_check(uv_timer_t* timer) { static_cast<ServiceWatchdog*>(timer->data)->check(); }

void ServiceWatchdog::check() {
  const LoopLiveness::Verdict verdict = liveness_->check(heartbeats_(), LoopLiveness::Clock::now());
  for (const auto& stall : verdict.newly_stalled)
    log::error("watchdog_withheld")
        .kv("loop", stall.loop)
        .kv("silent_ms", stall.silent.count())
        .kv("hint", "this event loop has not run its timers since; WATCHDOG=1 is no longer sent, and systemd "
                    "restarts whoisd when WatchdogSec= passes");
  for (const auto& loop : verdict.recovered) log::warn("watchdog_resumed").kv("loop", loop);
  if (verdict.alive) notifier_.watchdog();
}

}  // namespace whoisd
