// A heavy source's slot caches what the common decision needs (the window's total,
// the newest minute, the oldest bucket's age, the newest minute's queries not yet in
// the record): every count a decision reports must agree with the record as export
// and inspect read it, across minute changes, bursts beyond the pending counter,
// expiries, suspensions, lift/suspend, import and sweep.
#include <catch2/catch.hpp>

#include <deque>

#include "policy/limiter.h"
#include "support/test_address.h"

using namespace whoisd;
using namespace std::chrono_literals;
using Verdict = Decision::Verdict;
using whoisd::test::ip;

namespace {

constexpr UnixSeconds kStart = 1'767'225'600;  // minute-aligned

// Answer times kept by the test itself: the count a decision at `now` must report
// is the answers of minutes now/60 - W .. now/60 (W = window in minutes).
struct Expected {
  std::deque<UnixSeconds> answers;
  std::int64_t window_minutes;
  std::uint32_t count(UnixSeconds now) const {
    std::uint32_t n = 0;
    for (UnixSeconds t : answers) n += t / 60 >= now / 60 - window_minutes;
    return n;
  }
};

// One allowed query: its count must match the expectation and the exported state.
void allowed(Limiter& lim, const ManualClock& clock, const IpAddress& a, Expected& e) {
  Decision d = lim.check(a);
  REQUIRE(d.verdict == Verdict::allow);
  e.answers.push_back(clock.now());
  REQUIRE(d.count == e.count(clock.now()));
  auto state = lim.inspect(d.source);
  REQUIRE(state);
  REQUIRE(state->queries_in_window() == d.count);
}

LimiterConfig limits(std::uint32_t queries, std::chrono::seconds window = 24h) {
  LimiterConfig config;
  config.queries = queries;
  config.window = window;
  return config;
}

}  // namespace

TEST_CASE("cache: bursts within a minute beyond the pending counter, then minute changes") {
  ManualClock clock(kStart);
  Limiter lim(limits(100000, 10min), clock);
  auto a = ip("192.0.2.1");
  Expected e{{}, 10};
  for (int i = 0; i < 700; ++i) allowed(lim, clock, a, e);  // 700 > 255 pending: flushed to the record
  clock.advance(59);                                         // still the same minute
  for (int i = 0; i < 10; ++i) allowed(lim, clock, a, e);
  for (int minute = 0; minute < 25; ++minute) {              // buckets come and leave the window
    clock.advance(60);
    for (int i = 0; i <= minute % 4; ++i) allowed(lim, clock, a, e);
  }
  // The export holds the same minutes the test counted, pending queries included.
  auto state = lim.inspect(lim.key_of(a));
  REQUIRE(state);
  std::uint32_t newest = 0;
  for (const auto& mc : state->minutes) newest = mc.minute == clock.now() / 60 ? mc.count : newest;
  CHECK(newest == 1);  // the last minute's one query (24 % 4 + 1)
  CHECK(state->queries_in_window() == e.count(clock.now()));
}

TEST_CASE("cache: the limit is reached in the newest minute exactly") {
  ManualClock clock(kStart);
  Limiter lim(limits(300), clock);  // more than the pending counter holds, all in one minute
  auto a = ip("192.0.2.2");
  Expected e{{}, 24 * 60};
  for (int i = 0; i < 300; ++i) allowed(lim, clock, a, e);
  Decision d = lim.check(a);
  CHECK(d.verdict == Verdict::limit_crossed);
  CHECK(d.count == 0);  // a 24 h suspension >= the window: the answers are dropped
  CHECK(lim.check(a).verdict == Verdict::suspended);
}

TEST_CASE("cache: a bucket expiring is noticed even when the newest minute is unchanged") {
  ManualClock clock(kStart);
  Limiter lim(limits(1000, 2min), clock);  // W = 2: minutes m-2 .. m count
  auto a = ip("192.0.2.3");
  Expected e{{}, 2};
  for (int i = 0; i < 8; ++i) allowed(lim, clock, a, e);  // minute 0: heavy
  clock.advance(120);
  allowed(lim, clock, a, e);  // minute 2: minute 0 still counts
  clock.advance(60);
  allowed(lim, clock, a, e);  // minute 3: minute 0 leaves the window
  CHECK(e.count(clock.now()) == 2);
  clock.advance(600);  // everything leaves; the record empties
  allowed(lim, clock, a, e);
  CHECK(lim.check(a).count == 2);
}

TEST_CASE("cache: suspend and lift go through the record, and the cache stays true") {
  ManualClock clock(kStart);
  Limiter lim(limits(50), clock);
  auto a = ip("192.0.2.4");
  Expected e{{}, 24 * 60};
  for (int i = 0; i < 20; ++i) allowed(lim, clock, a, e);  // heavy, 14 pending in the slot
  auto r = lim.suspend(lim.key_of(a), 1h);
  CHECK(r.episodes == 0);
  Decision d = lim.check(a);
  CHECK(d.verdict == Verdict::suspended);
  CHECK(d.count == 20);
  CHECK(lim.inspect(lim.key_of(a))->queries_in_window() == 20);
  CHECK(lim.lift(lim.key_of(a)).was_suspended);
  for (int i = 0; i < 5; ++i) allowed(lim, clock, a, e);  // the earlier 20 still count
  clock.advance(3600);
  for (int i = 0; i < 25; ++i) allowed(lim, clock, a, e);
  CHECK(e.count(clock.now()) == 50);
  CHECK(lim.check(a).verdict == Verdict::limit_crossed);
}

TEST_CASE("cache: import replaces pending queries; sweep keeps the cache true") {
  ManualClock clock(kStart);
  Limiter lim(limits(1000, 30min), clock);
  auto a = ip("192.0.2.5");
  Expected e{{}, 30};
  for (int i = 0; i < 12; ++i) allowed(lim, clock, a, e);  // heavy with queries pending in the slot

  // Import a state with other minutes: the pending queries must not survive it.
  SourceState s;
  s.key = lim.key_of(a);
  s.minutes = {{kStart / 60 - 5, 7}, {kStart / 60, 3}};
  REQUIRE(lim.import(s));
  CHECK(lim.inspect(s.key)->minutes == s.minutes);
  e.answers.clear();
  for (int i = 0; i < 7; ++i) e.answers.push_back(kStart - 5 * 60);
  for (int i = 0; i < 3; ++i) e.answers.push_back(kStart);
  allowed(lim, clock, a, e);
  CHECK(e.count(clock.now()) == 11);

  // A sweep after the old minute left the window folds pending queries in and prunes.
  clock.advance(26 * 60);
  for (int i = 0; i < 1000; ++i) lim.sweep(64);
  auto state = lim.inspect(s.key);
  REQUIRE(state);
  CHECK(state->queries_in_window() == e.count(clock.now()));
  allowed(lim, clock, a, e);
  CHECK(e.count(clock.now()) == 5);
}

TEST_CASE("cache: the state export carries the pending queries") {
  ManualClock clock(kStart);
  Limiter lim(LimiterConfig{}, clock);
  auto a = ip("2001:db8:1:2::7");
  for (int i = 0; i < 9; ++i) lim.check(a);
  clock.advance(60);
  for (int i = 0; i < 4; ++i) lim.check(a);
  std::vector<SourceState> exported;
  lim.export_dirty([&](const SourceState& s) { exported.push_back(s); });
  REQUIRE(exported.size() == 1);
  std::vector<MinuteCount> want{{kStart / 60, 9}, {kStart / 60 + 1, 4}};
  CHECK(exported[0].minutes == want);

  // and a fresh limiter importing it decides the same
  Limiter other(LimiterConfig{}, clock);
  REQUIRE(other.import(exported[0]));
  CHECK(other.check(a).count == 14);
  CHECK(lim.check(a).count == 14);
}

TEST_CASE("cache: an imported state whose oldest minute has left the window, newest minute current") {
  // The only way to a slot whose newest minute is the current one while its oldest
  // bucket is already out of the window: the decision must still notice the expiry.
  ManualClock clock(kStart + 30);
  Limiter lim(limits(1000, 2min), clock);  // W = 2: minutes m-2 .. m count
  auto a = ip("192.0.2.6");
  const std::int64_t m = kStart / 60;
  SourceState s;
  s.key = lim.key_of(a);
  s.minutes = {{m - 3, 5}, {m - 2, 2}, {m, 6}};
  REQUIRE(lim.import(s));
  CHECK(lim.check(a).count == 9);  // minute m-3 is out; m-2 and m count
  clock.advance(60);
  CHECK(lim.check(a).count == 8);  // m-2 goes too
}
