// Wall-clock time as the policy counts it (query windows, suspensions, retention),
// behind an interface so that tests drive weeks of time without sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace whoisd {

// Unix time in seconds (UTC).
using UnixSeconds = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual UnixSeconds now() const = 0;
};

class SystemClock final : public Clock {
 public:
  UnixSeconds now() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to; safe to read from several threads.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(UnixSeconds start = 1'767'225'600) : now_(start) {}  // 2026-01-01T00:00:00Z
  UnixSeconds now() const override { return now_.load(std::memory_order_relaxed); }
  void set(UnixSeconds t) { now_.store(t, std::memory_order_relaxed); }
  void advance(std::int64_t seconds) { now_.fetch_add(seconds, std::memory_order_relaxed); }

 private:
  std::atomic<UnixSeconds> now_;
};

}  // namespace whoisd
