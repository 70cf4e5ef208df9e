// Tells whether the wall clock can be trusted for an act that cannot be undone: the
// retention purge deletes what the wall clock calls old, so a wall clock stepped a
// year ahead, even for seconds, would delete the whole query and abuse logs (SPEC §4,
// §7). The wall clock is trusted once it has moved in step with the monotonic clock
// for `hold`: a transient step (ahead, then back within the hold) is never acted on,
// and a lasting correction is honoured once the hold has passed.
//
// In step means that wall minus monotonic stayed within kTolerance of its value at
// the previous reading. Comparing offsets rather than the time between readings
// keeps a slow reader (a state round held up by the disk) from looking like a step;
// the tolerance absorbs the whole-second readings and a leap second. NTP's slewing
// (adjtime(3), the kernel's frequency correction) never moves the offset: it moves
// the monotonic clock with the wall clock. A suspend of the machine does (the
// monotonic clock stops while suspended) and is taken as a step: the wall clock is
// the real-time clock's again after a resume, until NTP has checked it.
#pragma once

#include <chrono>
#include <cstdint>

#include "common/clock.h"

namespace whoisd {

class WallClockWatch {
 public:
  static constexpr std::chrono::seconds kTolerance{5};

  explicit WallClockWatch(std::chrono::seconds hold) : hold_(hold) {}

  struct Reading {
    UnixSeconds wall = 0;
    MonotonicSeconds monotonic = 0;
    std::int64_t step = 0;       // how far the wall clock jumped since the last reading (0: in step)
    bool trusted = false;        // in step for the hold
    bool after_step = false;     // not trusted because of a step (rather than since the first reading)
    std::int64_t trusted_in = 0; // seconds of monotonic time until trusted, if nothing steps meanwhile
  };

  // Reads both of `clock`'s readings. The first reading starts the hold: nothing is
  // known yet of how the wall clock moves.
  Reading read(const Clock& clock);

 private:
  std::chrono::seconds hold_;
  bool started_ = false;
  std::int64_t offset_ = 0;            // wall minus monotonic at the last reading
  MonotonicSeconds in_step_since_ = 0;
  bool stepped_ = false;               // the hold in progress started at a step
};

}  // namespace whoisd
