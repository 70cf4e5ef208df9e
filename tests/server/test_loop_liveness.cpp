// The watchdog's decision (loop_liveness.h) with the counters and the clock in the
// test's hands: a wedged loop is one whose counter the test does not move.
#include <catch2/catch.hpp>

#include <chrono>

#include "server/loop_liveness.h"

using whoisd::LoopLiveness;
using namespace std::chrono_literals;

namespace {

const LoopLiveness::Clock::time_point t0{};

}  // namespace

TEST_CASE("alive only when every loop's heartbeat moved since the last alive verdict", "[watchdog]") {
  LoopLiveness liveness({"whoisd-loop0", "whoisd-loop1"}, {5, 9}, 15000ms, t0);

  // Nothing moved yet: the counters at the start do not count.
  CHECK_FALSE(liveness.check({5, 9}, t0 + 7500ms).alive);
  // One moved, the other not: still not alive.
  CHECK_FALSE(liveness.check({6, 9}, t0 + 8000ms).alive);
  // Both moved since the start: alive, and the counters now are the new baseline.
  CHECK(liveness.check({6, 10}, t0 + 8500ms).alive);
  CHECK_FALSE(liveness.check({6, 10}, t0 + 9000ms).alive);
  CHECK_FALSE(liveness.check({7, 10}, t0 + 9500ms).alive);
  CHECK(liveness.check({8, 11}, t0 + 10000ms).alive);
}

TEST_CASE("a wedged loop withholds every ping, is named once, and its recovery is said", "[watchdog]") {
  LoopLiveness liveness({"whoisd-loop0", "whoisd-loop1", "whoisd-loop2"}, {0, 0, 0}, 15000ms, t0);
  REQUIRE(liveness.check({1, 1, 1}, t0 + 7500ms).alive);

  // whoisd-loop1 stops at 1 from 7.5 s on; the others keep beating.
  LoopLiveness::Verdict v = liveness.check({2, 1, 2}, t0 + 15000ms);
  CHECK_FALSE(v.alive);
  CHECK(v.newly_stalled.empty());  // silent for 7.5 s, under stall_after
  v = liveness.check({3, 1, 3}, t0 + 22500ms);
  CHECK_FALSE(v.alive);
  REQUIRE(v.newly_stalled.size() == 1);
  CHECK(v.newly_stalled[0].loop == "whoisd-loop1");
  CHECK(v.newly_stalled[0].silent == 15000ms);
  for (int i = 4; i < 10; ++i) {
    v = liveness.check({std::uint64_t(i), 1, std::uint64_t(i)}, t0 + 7500ms * i);
    CHECK_FALSE(v.alive);
    CHECK(v.newly_stalled.empty());  // said once per stall
  }

  // It runs again: recovered, and alive once it moved.
  v = liveness.check({10, 2, 10}, t0 + 75000ms);
  CHECK(v.alive);
  REQUIRE(v.recovered.size() == 1);
  CHECK(v.recovered[0] == "whoisd-loop1");
  // Wedged again later: named again.
  liveness.check({11, 2, 11}, t0 + 82500ms);
  v = liveness.check({12, 2, 12}, t0 + 90000ms);
  REQUIRE(v.newly_stalled.size() == 1);
  CHECK(v.newly_stalled[0].loop == "whoisd-loop1");
}

TEST_CASE("every loop that stalls is named, each with its own silence", "[watchdog]") {
  LoopLiveness liveness({"whoisd-loop0", "whoisd-loop1"}, {0, 0}, 1000ms, t0);
  CHECK(liveness.check({1, 1}, t0 + 200ms).alive);
  liveness.check({1, 2}, t0 + 600ms);
  LoopLiveness::Verdict v = liveness.check({1, 2}, t0 + 1400ms);
  REQUIRE(v.newly_stalled.size() == 1);
  CHECK(v.newly_stalled[0].loop == "whoisd-loop0");
  CHECK(v.newly_stalled[0].silent == 1200ms);
  v = liveness.check({1, 2}, t0 + 1700ms);
  REQUIRE(v.newly_stalled.size() == 1);
  CHECK(v.newly_stalled[0].loop == "whoisd-loop1");
  CHECK(v.newly_stalled[0].silent == 1100ms);
  CHECK_FALSE(v.alive);
}

TEST_CASE("a count of counters that is not one per loop is refused, naming both", "[watchdog]") {
  CHECK_THROWS_WITH(LoopLiveness({"whoisd-loop0"}, {0, 0}, 1000ms, t0),
                    "LoopLiveness: 1 loop names for 2 heartbeat counters");
  LoopLiveness liveness({"whoisd-loop0", "whoisd-loop1"}, {0, 0}, 1000ms, t0);
  CHECK_THROWS_WITH(liveness.check({1}, t0 + 1ms), "LoopLiveness: 1 heartbeat counters for 2 loops");
}
