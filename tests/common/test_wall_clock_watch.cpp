// WallClockWatch: the wall clock is trusted only after it has kept pace with the
// monotonic clock for the hold; a step, either way, starts the hold again.
#include "common/wall_clock_watch.h"

#include <catch2/catch.hpp>

using whoisd::ManualClock;
using whoisd::WallClockWatch;

namespace {
constexpr std::int64_t kYear = 365 * 86'400;
}

TEST_CASE("wall clock watch: trusted after the hold from the first reading, while time passes", "[clock]") {
  ManualClock clock;
  WallClockWatch watch(std::chrono::seconds(600));
  auto first = watch.read(clock);
  CHECK_FALSE(first.trusted);
  CHECK_FALSE(first.after_step);  // nothing stepped: the hold starts at the first reading
  CHECK(first.trusted_in == 600);
  CHECK(first.wall == clock.now());
  clock.advance(599);
  CHECK_FALSE(watch.read(clock).trusted);
  clock.advance(1);
  CHECK(watch.read(clock).trusted);
  // A slow reader is not a step: the offset, not the time between readings, counts.
  clock.advance(3600);
  auto late = watch.read(clock);
  CHECK(late.trusted);
  CHECK(late.step == 0);
}

TEST_CASE("wall clock watch: a step either way starts the hold again; small jitter does not", "[clock]") {
  ManualClock clock;
  WallClockWatch watch(std::chrono::seconds(600));
  watch.read(clock);
  clock.advance(600);
  REQUIRE(watch.read(clock).trusted);

  // Whole-second readings and slewing move the offset by a second or so: still in step.
  clock.step(WallClockWatch::kTolerance.count());
  clock.advance(1);
  CHECK(watch.read(clock).trusted);
  clock.step(-WallClockWatch::kTolerance.count());
  CHECK(watch.read(clock).trusted);

  // A year ahead, then back three seconds later: neither reading is trusted, nor any
  // until the wall clock has kept pace for the hold again.
  clock.step(kYear);
  auto ahead = watch.read(clock);
  CHECK(ahead.step == kYear);
  CHECK_FALSE(ahead.trusted);
  CHECK(ahead.after_step);
  clock.advance(3);
  CHECK_FALSE(watch.read(clock).trusted);
  clock.step(-kYear);
  auto back = watch.read(clock);
  CHECK(back.step == -kYear);
  CHECK_FALSE(back.trusted);
  CHECK(back.after_step);
  CHECK(back.trusted_in == 600);
  clock.advance(599);
  CHECK_FALSE(watch.read(clock).trusted);
  clock.advance(1);
  auto settled = watch.read(clock);
  CHECK(settled.trusted);
  CHECK_FALSE(settled.after_step);
  CHECK(settled.step == 0);
}
