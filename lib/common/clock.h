// Wall-clock time as the policy counts it (query windows, suspensions, retention),
// behind an interface so that tests drive weeks of time without sleeping; and a
// monotonic reading beside it, for what must run on schedule whatever the wall clock
// does (the state writer's folds and purges): an operator or NTP may step the wall
// clock, by seconds or by years, and back.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace whoisd {

// Unix time in seconds (UTC).
using UnixSeconds = std::int64_t;
// Seconds from an arbitrary start (the boot, for SystemClock); only differences mean anything.
using MonotonicSeconds = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual UnixSeconds now() const = 0;
  // Never steps, and moves with real time.
  virtual MonotonicSeconds monotonic() const = 0;
};

class SystemClock final : public Clock {
 public:
  UnixSeconds now() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  MonotonicSeconds monotonic() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to; safe to read from several threads.
// advance() and set() are time passing (both readings move); step() is the wall clock
// set to another time (only it moves), as `date -s` or an NTP step does.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(UnixSeconds start = 1'767'225'600) : now_(start) {}  // 2026-01-01T00:00:00Z
  UnixSeconds now() const override { return now_.load(std::memory_order_relaxed); }
  MonotonicSeconds monotonic() const override { return monotonic_.load(std::memory_order_relaxed); }
  void set(UnixSeconds t) { advance(t - now()); }
  void advance(std::int64_t seconds) {
    monotonic_.fetch_add(seconds, std::memory_order_relaxed);
    now_.fetch_add(seconds, std::memory_order_relaxed);
  }
  void step(std::int64_t seconds) { now_.fetch_add(seconds, std::memory_order_relaxed); }

 private:
  std::atomic<UnixSeconds> now_;
  std::atomic<MonotonicSeconds> monotonic_{0};
};

}  // namespace whoisd
