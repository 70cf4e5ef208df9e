// The limiter's decisions: the edges of the limit, the sliding window, escalation,
// source grouping, exemptions and per-network limits, and the operator actions.
#include <catch2/catch.hpp>

#include "policy/limiter.h"
#include "support/test_address.h"

using namespace whoisd;
using namespace std::chrono_literals;
using Verdict = Decision::Verdict;
using whoisd::test::ip;

namespace {

Network net(const char* text) { return *Network::parse(text); }

constexpr UnixSeconds kStart = 1'767'225'600;  // 2026-01-01T00:00:00Z, minute-aligned
constexpr std::int64_t kDay = 86400;

// n queries from `client`, spread evenly over `span` seconds starting now; the clock
// ends at now + span. Returns how many were allowed.
int spread(Limiter& lim, ManualClock& clock, const IpAddress& client, int n, std::int64_t span) {
  int allowed = 0;
  UnixSeconds start = clock.now();
  for (int i = 0; i < n; ++i) {
    clock.set(start + span * i / n);
    if (lim.check(client).verdict == Verdict::allow) ++allowed;
  }
  clock.set(start + span);
  return allowed;
}

}  // namespace

TEST_CASE("999, 1,000 and 1,001 queries within 24 hours") {
  ManualClock clock(kStart);
  Limiter lim(LimiterConfig{}, clock);
  auto a = ip("192.0.2.1");

  CHECK(spread(lim, clock, a, 999, 23 * 3600) == 999);
  auto d = lim.check(a);  // the 1,000th
  CHECK(d.verdict == Verdict::allow);
  CHECK(d.count == 1000);
  CHECK(d.limit == 1000);
  clock.advance(60);
  d = lim.check(a);  // the 1,001st: refused, and the first suspension starts
  CHECK(d.verdict == Verdict::limit_crossed);
  CHECK(d.episode == 1);
  CHECK(d.suspended_until == clock.now() + kDay);
  CHECK(to_string(d.source) == "192.0.2.1");

  // Another source is unaffected.
  CHECK(lim.check(ip("192.0.2.2")).verdict == Verdict::allow);
}

TEST_CASE("the window slides past old queries") {
  ManualClock clock(kStart);
  Limiter lim(LimiterConfig{}, clock);

  SECTION("queries a full window old no longer count (over-blocking by at most a minute)") {
    auto a = ip("192.0.2.1"), b = ip("192.0.2.2"), c = ip("192.0.2.3");
    CHECK(spread(lim, clock, a, 1000, 0) == 1000);
    CHECK(spread(lim, clock, b, 1000, 0) == 1000);
    CHECK(spread(lim, clock, c, 1000, 0) == 1000);
    clock.set(kStart + kDay - 1);  // the 1,000 are inside the window: refuse
    CHECK(lim.check(a).verdict == Verdict::limit_crossed);
    clock.set(kStart + kDay + 59);  // just outside the window, inside the minute of slack
    CHECK(lim.check(b).verdict == Verdict::limit_crossed);
    clock.set(kStart + kDay + 60);  // more than window + 1 minute ago: must answer
    auto d = lim.check(c);
    CHECK(d.verdict == Verdict::allow);
    CHECK(d.count == 1);
  }

  SECTION("half the queries leave the window, half stay") {
    auto a = ip("198.51.100.7");
    CHECK(spread(lim, clock, a, 500, 0) == 500);
    clock.set(kStart + 12 * 3600);
    CHECK(spread(lim, clock, a, 500, 0) == 500);
    clock.set(kStart + kDay + 60);
    CHECK(spread(lim, clock, a, 500, 0) == 500);  // the first 500 have left
    auto d = lim.check(a);
    CHECK(d.verdict == Verdict::limit_crossed);
  }
}

TEST_CASE("suspensions escalate 1, 2, 3 and are forgotten after the quiet period") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 10;
  Limiter lim(config, clock);
  auto a = ip("203.0.113.9");

  auto cross = [&](std::uint32_t expected_episode) {
    CHECK(spread(lim, clock, a, 10, 0) == 10);
    auto d = lim.check(a);
    REQUIRE(d.verdict == Verdict::limit_crossed);
    CHECK(d.episode == expected_episode);
    CHECK(d.suspended_until == clock.now() + expected_episode * kDay);
    CHECK(d.limit == 10);
    return d.suspended_until;
  };

  UnixSeconds until = cross(1);
  clock.set(until - 1);
  auto d = lim.check(a);
  CHECK(d.verdict == Verdict::suspended);
  CHECK(d.suspended_until == until);
  CHECK(d.episode == 1);
  CHECK_FALSE(d.manual);
  clock.set(until);  // the suspension is over and the window starts empty
  until = cross(2);
  // queries during a suspension do not count
  for (int i = 0; i < 100; ++i) CHECK(lim.check(a).verdict == Verdict::suspended);
  clock.set(until);
  until = cross(3);
  clock.set(until + 30 * kDay - 1);  // not quiet long enough yet
  until = cross(4);
  clock.set(until + 30 * kDay);  // 30 days without one: forgotten
  cross(1);
}

TEST_CASE("a clock stepped back past a reported end does not bring the suspension back") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 1;
  Limiter lim(config, clock);
  auto a = ip("192.0.2.1");
  CHECK(lim.check(a).verdict == Verdict::allow);
  auto d = lim.check(a);
  REQUIRE(d.verdict == Verdict::limit_crossed);
  const UnixSeconds until = d.suspended_until;
  clock.set(until + 600);
  std::vector<LimiterEvent> events;
  lim.drain_events(events);  // the start and the end, both reported
  REQUIRE(events.size() == 2);
  CHECK(events[1].kind == LimiterEvent::Kind::suspension_expired);
  CHECK(lim.stats().active_suspensions == 0);
  clock.set(until - 3600);  // an NTP step back of 70 minutes
  d = lim.check(a);
  CHECK(d.verdict == Verdict::allow);  // not "suspended until" an end already reported
  CHECK(d.episode == 0);
  CHECK(lim.active_suspensions().empty());
  // An operator's suspension then is a new one, not "kept" as the old one.
  auto r = lim.suspend(lim.key_of(a), 1h);
  CHECK_FALSE(r.kept);
  CHECK(r.previous_until == 0);
  CHECK(lim.check(a).verdict == Verdict::suspended);
}

TEST_CASE("a suspension shorter than the window does not let the window restart") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 5;
  config.suspension = 1h;
  Limiter lim(config, clock);
  auto a = ip("192.0.2.1");
  CHECK(spread(lim, clock, a, 5, 0) == 5);
  auto d = lim.check(a);
  CHECK(d.verdict == Verdict::limit_crossed);
  clock.set(d.suspended_until);
  // The 5 answers are still within 24 hours: a sixth would break the limit.
  d = lim.check(a);
  CHECK(d.verdict == Verdict::limit_crossed);
  CHECK(d.episode == 2);
  CHECK(d.suspended_until == clock.now() + 2 * 3600);
}

TEST_CASE("IPv6 sources are /64 networks by default, or the configured prefix") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 3;

  SECTION("/64") {
    Limiter lim(config, clock);
    CHECK(lim.check(ip("2001:db8:1:2::1")).verdict == Verdict::allow);
    CHECK(lim.check(ip("2001:db8:1:2::2")).verdict == Verdict::allow);
    CHECK(lim.check(ip("2001:db8:1:2:ffff::3")).verdict == Verdict::allow);
    auto d = lim.check(ip("2001:db8:1:2:1:2:3:4"));
    CHECK(d.verdict == Verdict::limit_crossed);
    CHECK(to_string(d.source) == "2001:db8:1:2::/64");
    CHECK(lim.check(ip("2001:db8:1:3::1")).verdict == Verdict::allow);
    CHECK(lim.tracked_sources() == 2);
  }
  SECTION("/56") {
    config.ipv6_prefix = 56;
    Limiter lim(config, clock);
    CHECK(lim.check(ip("2001:db8:1:2::1")).verdict == Verdict::allow);
    CHECK(lim.check(ip("2001:db8:1:ff::1")).verdict == Verdict::allow);
    CHECK(lim.check(ip("2001:db8:1:7f:1::1")).verdict == Verdict::allow);
    auto d = lim.check(ip("2001:db8:1:0::1"));
    CHECK(d.verdict == Verdict::limit_crossed);
    CHECK(to_string(d.source) == "2001:db8:1::/56");
    CHECK(lim.check(ip("2001:db8:1:100::1")).verdict == Verdict::allow);
  }
}

TEST_CASE("an IPv4-mapped address counts as its IPv4 address") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 2;
  Limiter lim(config, clock);
  CHECK(lim.check(ip("192.0.2.1")).verdict == Verdict::allow);
  CHECK(lim.check(ip("::ffff:192.0.2.1")).verdict == Verdict::allow);
  auto d = lim.check(ip("192.0.2.1"));
  CHECK(d.verdict == Verdict::limit_crossed);
  CHECK(to_string(d.source) == "192.0.2.1");
}

TEST_CASE("exempt networks are never limited nor tracked; networks can have their own limit") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 4;
  config.exempt = {net("127.0.0.1/32"), net("192.0.2.7"), net("2001:db8:ee::/48")};
  config.network_limits.add(net("192.0.2.0/24"), 2);
  config.network_limits.add(net("192.0.2.128/25"), 6);
  config.network_limits.add(net("2001:db8::/32"), 1);
  Limiter lim(config, clock);

  for (int i = 0; i < 5000; ++i) {
    auto d = lim.check(ip("127.0.0.1"));
    REQUIRE(d.verdict == Verdict::exempt);
    REQUIRE(d.answered());
  }
  for (int i = 0; i < 100; ++i) CHECK(lim.check(ip("192.0.2.7")).verdict == Verdict::exempt);  // exempt beats /24
  for (int i = 0; i < 100; ++i) CHECK(lim.check(ip("2001:db8:ee:1::5")).verdict == Verdict::exempt);
  CHECK(lim.tracked_sources() == 0);

  auto exhaust = [&](const char* a) {
    int allowed = 0;
    Decision d;
    while ((d = lim.check(ip(a))).verdict == Verdict::allow) ++allowed;
    CHECK(d.verdict == Verdict::limit_crossed);
    return std::pair{allowed, d.limit};
  };
  CHECK(exhaust("192.0.2.1") == std::pair{2, 2u});       // the /24's limit
  CHECK(exhaust("192.0.2.200") == std::pair{6, 6u});     // the longer /25 wins
  CHECK(exhaust("198.51.100.1") == std::pair{4, 4u});    // the default
  CHECK(exhaust("2001:db8:5::1") == std::pair{1, 1u});   // IPv6 network limit
  CHECK(exhaust("2001:db9::1") == std::pair{4, 4u});
}

TEST_CASE("reconfigure applies new limits to the next decision") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 3;
  Limiter lim(config, clock);
  auto a = ip("192.0.2.1");
  CHECK(spread(lim, clock, a, 3, 0) == 3);
  config.queries = 5;
  CHECK(lim.reconfigure(config).empty());
  CHECK(spread(lim, clock, a, 2, 0) == 2);
  CHECK(lim.check(a).verdict == Verdict::limit_crossed);

  config.exempt = {net("192.0.2.0/24")};
  config.ipv6_prefix = 48;
  auto warnings = lim.reconfigure(config);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("ipv6_prefix") != std::string::npos);
  CHECK(lim.ipv6_prefix() == 64);
  CHECK(lim.check(a).verdict == Verdict::exempt);

  config.window = 10s;
  CHECK_THROWS_AS(lim.reconfigure(config), std::invalid_argument);
  config.window = 24h;
  config.queries = 0;
  CHECK_THROWS_WITH(Limiter(config, clock), Catch::Contains("limits.queries"));
}

TEST_CASE("operators lift and impose suspensions") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 2;
  Limiter lim(config, clock);
  auto a = ip("192.0.2.1");
  auto key = lim.key_of(a);

  SECTION("lift ends a suspension now and keeps the episode count") {
    spread(lim, clock, a, 2, 0);
    auto d = lim.check(a);
    REQUIRE(d.verdict == Verdict::limit_crossed);
    clock.advance(3600);
    auto r = lim.lift(key);
    CHECK(r.was_suspended);
    CHECK(r.previous_until == d.suspended_until);
    CHECK(r.episodes == 1);
    CHECK(lim.active_suspensions().empty());
    CHECK(lim.check(a).verdict == Verdict::allow);
    CHECK(lim.check(a).verdict == Verdict::allow);
    d = lim.check(a);
    CHECK(d.verdict == Verdict::limit_crossed);
    CHECK(d.episode == 2);
    // lifted suspensions produce no expiry event: the operator's action is its record
    std::vector<LimiterEvent> events;
    lim.drain_events(events);
    REQUIRE(events.size() == 2);
    CHECK(events[0].kind == LimiterEvent::Kind::suspension_started);
    CHECK(events[1].kind == LimiterEvent::Kind::suspension_started);
    CHECK(events[1].episode == 2);

    r = lim.lift(key, /*forget_episodes=*/true);
    CHECK(r.was_suspended);
    CHECK_FALSE(r.previous_manual);
    CHECK(r.episodes_forgotten == 2);
    CHECK(r.episodes == 0);
    spread(lim, clock, a, 2, 0);
    CHECK(lim.check(a).episode == 1);
  }
  SECTION("lift of a source that is not suspended changes nothing") {
    CHECK_FALSE(lim.lift(key).was_suspended);
    lim.check(a);
    CHECK_FALSE(lim.lift(key).was_suspended);
    CHECK(lim.check(a).verdict == Verdict::allow);
  }
  SECTION("lift of a source that is not suspended may still forget its episodes") {
    spread(lim, clock, a, 2, 0);
    auto d = lim.check(a);
    REQUIRE(d.verdict == Verdict::limit_crossed);
    clock.set(d.suspended_until);
    auto r = lim.lift(key, /*forget_episodes=*/true);
    CHECK_FALSE(r.was_suspended);
    CHECK(r.episodes_forgotten == 1);
    CHECK(r.episodes == 0);
    CHECK(lim.lift(key, /*forget_episodes=*/true).episodes_forgotten == 0);
  }
  SECTION("suspend imposes a manual suspension that is not an episode") {
    auto r = lim.suspend(key, 2h);
    CHECK(r.until == kStart + 7200);
    CHECK(r.previous_until == 0);
    CHECK(r.episodes == 0);
    auto d = lim.check(a);
    CHECK(d.verdict == Verdict::suspended);
    CHECK(d.manual);
    CHECK(d.episode == 0);
    CHECK(d.suspended_until == kStart + 7200);
    auto active = lim.active_suspensions();
    REQUIRE(active.size() == 1);
    CHECK(active[0].source == key);
    CHECK(active[0].manual);
    CHECK(active[0].since == kStart);
    CHECK(active[0].until == kStart + 7200);

    clock.set(kStart + 7200);
    CHECK(lim.check(a).verdict == Verdict::allow);
    std::vector<LimiterEvent> events;
    CHECK(lim.drain_events(events) == 1);
    CHECK(events[0].kind == LimiterEvent::Kind::suspension_expired);
    CHECK(events[0].manual);
    CHECK(events[0].at == kStart + 7200);
    CHECK(lim.drain_events(events) == 0);
    CHECK_THROWS_AS(lim.suspend(key, 0s), std::invalid_argument);
  }
  SECTION("lifts and suspensions in turn leave one suspension listed, once") {
    auto b = ip("192.0.2.2");
    lim.suspend(lim.key_of(b), 3h);
    for (int i = 0; i < 3; ++i) {
      lim.suspend(key, 2h);
      CHECK(lim.lift(key).was_suspended);
      lim.suspend(key, 2h);
    }
    CHECK(lim.stats().active_suspensions == 2);
    auto active = lim.active_suspensions();
    REQUIRE(active.size() == 2);
    CHECK(active[0].source == key);
    CHECK(active[1].source == lim.key_of(b));
    CHECK(lim.lift(key).was_suspended);
    CHECK(lim.stats().active_suspensions == 1);
    REQUIRE(lim.active_suspensions().size() == 1);
    // Restoring a lifted state over a listed source unlists it too.
    lim.suspend(key, 1h);
    SourceState lifted = *lim.inspect(key);
    lifted.suspended_until = clock.now() - 1;
    lifted.flags |= SourceState::kExpiryReported;
    lim.suspend(key, 1h);
    REQUIRE(lim.import(lifted));
    CHECK(lim.stats().active_suspensions == 1);
    // An ended suspension leaves the count at the next drain.
    clock.advance(3 * 3600);
    std::vector<LimiterEvent> events;
    lim.drain_events(events);
    CHECK(lim.stats().active_suspensions == 0);
  }
  SECTION("suspend after the quiet period does not bring forgotten episodes back") {
    spread(lim, clock, a, 2, 0);
    auto d = lim.check(a);
    REQUIRE(d.verdict == Verdict::limit_crossed);  // episode 1
    // Quiet for 30 days since it ended, and not decided on or swept since: the episode
    // is still in the record, to be forgotten lazily.
    clock.set(d.suspended_until + 30 * kDay);
    auto r = lim.suspend(key, 1h);
    CHECK_FALSE(r.kept);
    CHECK(r.episodes == 0);
    d = lim.check(a);
    CHECK(d.verdict == Verdict::suspended);
    CHECK(d.episode == 0);
    // The next crossing is the first episode again (24 h), not the second (48 h).
    clock.set(r.until);
    spread(lim, clock, a, 2, 0);
    d = lim.check(a);
    REQUIRE(d.verdict == Verdict::limit_crossed);
    CHECK(d.episode == 1);
    CHECK(d.suspended_until == clock.now() + kDay);
  }
  SECTION("suspend before the quiet period is over keeps the episodes") {
    spread(lim, clock, a, 2, 0);
    auto d = lim.check(a);
    REQUIRE(d.verdict == Verdict::limit_crossed);
    clock.set(d.suspended_until + 30 * kDay - 1);
    CHECK(lim.suspend(key, 1h).episodes == 1);
  }
  SECTION("suspend never shortens a suspension in force: it is kept, kind included") {
    spread(lim, clock, a, 2, 0);
    auto d = lim.check(a);
    REQUIRE(d.verdict == Verdict::limit_crossed);  // 24 h, episode 1
    const SourceState before = *lim.inspect(key);
    auto r = lim.suspend(key, 1h);
    CHECK(r.kept);
    CHECK(r.until == d.suspended_until);
    CHECK(r.previous_until == d.suspended_until);
    CHECK_FALSE(r.previous_manual);
    CHECK(r.episodes == 1);
    CHECK(*lim.inspect(key) == before);
    clock.advance(3600);
    d = lim.check(a);
    CHECK(d.verdict == Verdict::suspended);
    CHECK_FALSE(d.manual);
    CHECK(d.suspended_until == r.until);
    // The same end is kept too.
    CHECK(lim.suspend(key, std::chrono::seconds(r.until - clock.now())).kept);
  }
  SECTION("suspend replaces a suspension in force that ends sooner, as an operator's") {
    spread(lim, clock, a, 2, 0);
    auto d = lim.check(a);
    REQUIRE(d.verdict == Verdict::limit_crossed);
    auto r = lim.suspend(key, 48h);
    CHECK_FALSE(r.kept);
    CHECK(r.until == clock.now() + 48 * 3600);
    CHECK(r.previous_until == d.suspended_until);
    CHECK_FALSE(r.previous_manual);
    CHECK(r.episodes == 1);
    d = lim.check(a);
    CHECK(d.verdict == Verdict::suspended);
    CHECK(d.manual);
    CHECK(d.suspended_until == r.until);
    // An operator's own suspension is not shortened either.
    auto again = lim.suspend(key, 2h);
    CHECK(again.kept);
    CHECK(again.previous_manual);
    CHECK(again.until == r.until);
  }
}

TEST_CASE("suspension events: started when crossed, expired once when over") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 1;
  Limiter lim(config, clock);
  lim.check(ip("192.0.2.1"));
  lim.check(ip("192.0.2.1"));
  lim.check(ip("2001:db8::1"));
  lim.check(ip("2001:db8::1"));
  std::vector<LimiterEvent> events;
  CHECK(lim.drain_events(events) == 2);
  CHECK(events[0].kind == LimiterEvent::Kind::suspension_started);
  CHECK(events[0].at == kStart);
  CHECK(events[0].until == kStart + kDay);
  CHECK(events[0].limit == 1);
  CHECK(events[0].episode == 1);
  CHECK(lim.active_suspensions().size() == 2);

  events.clear();
  clock.advance(kDay - 1);
  CHECK(lim.drain_events(events) == 0);
  clock.advance(1);
  CHECK(lim.active_suspensions().empty());
  CHECK(lim.drain_events(events) == 2);
  for (const auto& e : events) {
    CHECK(e.kind == LimiterEvent::Kind::suspension_expired);
    CHECK(e.at == kStart + kDay);
    CHECK_FALSE(e.manual);
  }
  CHECK(lim.drain_events(events) == 0);
}

TEST_CASE("a forward clock step, later corrected, leaves no queries or suspension in the future") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 10;
  config.window = 1h;
  config.suspension = 1h;
  Limiter lim(config, clock);
  constexpr std::int64_t kAhead = 10 * kDay;  // a clock set ten days ahead, then put right

  SECTION("a source with a handful of queries (the slot's inline form)") {
    auto a = ip("192.0.2.1");
    clock.step(kAhead);
    for (int i = 0; i < 3; ++i) REQUIRE(lim.check(a).verdict == Verdict::allow);
    clock.step(-kAhead);
    auto d = lim.check(a);
    CHECK(d.verdict == Verdict::allow);
    CHECK(d.count == 4);  // the three made while ahead still count: they were recent
    clock.advance(2 * 3600);  // a window later they are gone, not kept until real time reaches them
    d = lim.check(a);
    CHECK(d.verdict == Verdict::allow);
    CHECK(d.count == 1);
    auto state = lim.inspect(d.source);
    REQUIRE(state);
    REQUIRE(state->minutes.size() == 1);
    CHECK(state->minutes[0].minute == clock.now() / 60);
  }

  SECTION("a source with many queries (a heavy record)") {
    auto a = ip("192.0.2.2");
    clock.step(kAhead);
    for (int i = 0; i < 6; ++i) REQUIRE(lim.check(a).verdict == Verdict::allow);
    clock.step(-kAhead);
    for (int i = 0; i < 4; ++i) REQUIRE(lim.check(a).verdict == Verdict::allow);
    CHECK(lim.check(a).verdict == Verdict::limit_crossed);  // ten within the window: the limit holds
    clock.advance(3 * 3600);  // past the suspension and a window
    auto d = lim.check(a);
    CHECK(d.verdict == Verdict::allow);
    CHECK(d.count == 1);
    for (int i = 0; i < 8; ++i) REQUIRE(lim.check(a).verdict == Verdict::allow);
    CHECK(lim.check(a).count == 10);
    CHECK(lim.check(a).verdict == Verdict::limit_crossed);  // the 11th crosses, not earlier
  }

  SECTION("the window is not emptied: queries made while ahead count from the correction") {
    auto a = ip("192.0.2.3");
    clock.step(kAhead);
    for (int i = 0; i < 8; ++i) REQUIRE(lim.check(a).verdict == Verdict::allow);
    clock.step(-kAhead);
    CHECK(lim.check(a).count == 9);
    CHECK(lim.check(a).count == 10);
    CHECK(lim.check(a).verdict == Verdict::limit_crossed);
  }

  SECTION("a limit suspension started while ahead lasts its length after the correction") {
    auto a = ip("192.0.2.4");
    clock.step(kAhead);
    for (int i = 0; i < 10; ++i) REQUIRE(lim.check(a).verdict == Verdict::allow);
    auto d = lim.check(a);
    REQUIRE(d.verdict == Verdict::limit_crossed);
    CHECK(d.suspended_until == clock.now() + 3600);
    clock.step(-kAhead);
    d = lim.check(a);
    CHECK(d.verdict == Verdict::suspended);
    CHECK(d.suspended_until == clock.now() + 3600);  // not ten days and an hour
    auto active = lim.active_suspensions();
    REQUIRE(active.size() == 1);
    CHECK(active[0].since == clock.now());
    clock.advance(3600);
    CHECK(lim.check(a).verdict == Verdict::allow);
  }

  SECTION("an operator's suspension imposed while ahead, and one imposed after") {
    auto a = ip("192.0.2.5");
    clock.step(kAhead);
    lim.suspend(lim.key_of(a), 2h);
    clock.step(-kAhead);
    // An operator suspending it again for an hour: the one in force (re-dated) ends later.
    auto r = lim.suspend(lim.key_of(a), 1h);
    CHECK(r.kept);
    CHECK(r.until == clock.now() + 2 * 3600);
    clock.advance(2 * 3600);
    CHECK(lim.check(a).verdict == Verdict::allow);
  }

  SECTION("a suspension imposed while ahead and lifted after the correction: the quiet period counts from the lift") {
    // The lift comes before any decision or sweep has re-dated the suspension. It ends
    // the suspension now; the start, dated in the future, must not stay later than that
    // end, nor drag the end back ten days when it is re-dated: the episode is
    // remembered for quiet_period after the lift.
    LimiterConfig quiet = config;
    quiet.quiet_period = std::chrono::seconds(kDay);
    lim.reconfigure(quiet);
    auto a = ip("192.0.2.8");
    clock.step(kAhead);
    for (int i = 0; i < 10; ++i) REQUIRE(lim.check(a).verdict == Verdict::allow);
    REQUIRE(lim.check(a).verdict == Verdict::limit_crossed);
    clock.step(-kAhead);
    auto r = lim.lift(lim.key_of(a));
    CHECK(r.was_suspended);
    auto state = lim.inspect(lim.key_of(a));
    REQUIRE(state);
    CHECK(state->last_episode <= clock.now());
    CHECK(state->suspended_until == clock.now());
    clock.advance(60);
    REQUIRE(lim.check(a).verdict == Verdict::allow);
    state = lim.inspect(lim.key_of(a));
    REQUIRE(state);
    CHECK(state->suspended_until == clock.now() - 60);  // the lift's time, not ten days before it
    CHECK(state->episodes == 1);
    for (int i = 0; i < 9; ++i) REQUIRE(lim.check(a).verdict == Verdict::allow);
    auto d = lim.check(a);
    CHECK(d.verdict == Verdict::limit_crossed);
    CHECK(d.episode == 2);  // within a day of the lift: a relapse escalates
  }

  SECTION("the sweep re-dates and forgets a source that stays silent") {
    auto a = ip("192.0.2.6");
    auto b = ip("192.0.2.7");
    clock.step(kAhead);
    lim.check(a);
    for (int i = 0; i < 7; ++i) lim.check(b);
    clock.step(-kAhead);
    lim.sweep(1'000'000);
    CHECK(lim.tracked_sources() == 2);  // re-dated to now: still in the window
    clock.advance(2 * 3600);
    CHECK(lim.sweep(1'000'000) == 2);
    CHECK(lim.tracked_sources() == 0);
  }
}
