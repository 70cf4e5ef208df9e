#include "common/wall_clock_watch.h"

namespace whoisd {

WallClockWatch::Reading WallClockWatch::read(const Clock& clock) {
  Reading r;
  r.wall = clock.now();
  r.monotonic = clock.monotonic();
  const std::int64_t offset = r.wall - r.monotonic;
  if (!started_) {
    started_ = true;
    in_step_since_ = r.monotonic;
  } else if (offset - offset_ > kTolerance.count() || offset_ - offset > kTolerance.count()) {
    r.step = offset - offset_;
    in_step_since_ = r.monotonic;
    stepped_ = true;
  }
  offset_ = offset;
  const std::int64_t held = r.monotonic - in_step_since_;
  r.trusted = held >= hold_.count();
  if (r.trusted) stepped_ = false;
  r.after_step = !r.trusted && stepped_;
  r.trusted_in = r.trusted ? 0 : hold_.count() - held;
  return r;
}

}  // namespace whoisd
