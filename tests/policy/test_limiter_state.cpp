// The limiter's state as lib/state sees it: export, import, and the sweep that
// forgets what can no longer matter.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "policy/limiter.h"
#include "support/test_address.h"

using namespace whoisd;
using namespace std::chrono_literals;
using Verdict = Decision::Verdict;
using whoisd::test::ip;

namespace {

IpAddress v4(std::uint32_t n) { return IpAddress::v4(0x0A000000u + n); }  // 10.x.y.z

constexpr UnixSeconds kStart = 1'767'225'600;
constexpr std::int64_t kDay = 86400;

std::map<SourceKey, SourceState> export_all(Limiter& lim) {
  std::map<SourceKey, SourceState> out;
  lim.export_all([&](const SourceState& s) { out[s.key] = s; });
  return out;
}

}  // namespace

TEST_CASE("export and import round trip every kind of state") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 8;
  Limiter lim(config, clock);

  lim.check(ip("192.0.2.1"));  // inline, one query
  for (int i = 0; i < 3; ++i) {
    lim.check(ip("192.0.2.2"));  // inline, three queries in two minutes
    clock.advance(40);
  }
  for (int i = 0; i < 7; ++i) lim.check(ip("2001:db8:1:2::5"));  // heavy: more than fit inline
  for (int i = 0; i < 9; ++i) lim.check(ip("192.0.2.3"));        // suspended, episode 1
  lim.suspend(lim.key_of(ip("192.0.2.4")), 5h);                  // manual
  clock.advance(600);

  auto before = export_all(lim);
  REQUIRE(before.size() == 5);
  const auto& two = before.at(lim.key_of(ip("192.0.2.2")));
  CHECK(two.queries_in_window() == 3);
  CHECK(two.minutes.size() == 2);
  CHECK(two.minutes.front().minute == kStart / 60);
  const auto& three = before.at(lim.key_of(ip("192.0.2.3")));
  CHECK(three.episodes == 1);
  CHECK(three.suspended_until == kStart + 120 + kDay);
  CHECK(three.last_episode == kStart + 120);
  CHECK(three.minutes.empty());  // they will have left the window when the suspension ends
  CHECK(before.at(lim.key_of(ip("192.0.2.4"))).flags == SourceState::kManualSuspension);

  Limiter restored(config, clock);
  for (const auto& [key, state] : before) CHECK(restored.import(state));
  CHECK(export_all(restored) == before);
  CHECK(restored.active_suspensions().size() == 2);

  // And it decides the same from there on.
  for (const char* a : {"192.0.2.1", "192.0.2.2", "2001:db8:1:2::9", "192.0.2.3", "192.0.2.4", "192.0.2.99"}) {
    for (int i = 0; i < 10; ++i) {
      auto x = lim.check(ip(a)), y = restored.check(ip(a));
      CHECK(x.verdict == y.verdict);
      CHECK(x.count == y.count);
      CHECK(x.episode == y.episode);
      CHECK(x.suspended_until == y.suspended_until);
    }
  }
}

TEST_CASE("import refuses what this limiter cannot hold") {
  ManualClock clock(kStart);
  Limiter lim(LimiterConfig{}, clock);
  SourceState s;
  s.key = source_key(ip("2001:db8:1:2::"), 56);
  s.minutes = {{kStart / 60, 2}};
  CHECK_FALSE(lim.import(s));  // another prefix length
  s.key = source_key(ip("2001:db8:1:2::"), 64);
  s.minutes = {{kStart / 60, 2}, {kStart / 60 - 5, 1}};
  CHECK_FALSE(lim.import(s));  // not oldest first
  s.minutes = {{-4, 1}};
  CHECK_FALSE(lim.import(s));
  CHECK(lim.tracked_sources() == 0);
  s.minutes = {{kStart / 60 - 5, 1}, {kStart / 60, 2}};
  CHECK(lim.import(s));
  CHECK(lim.check(ip("2001:db8:1:2::1")).count == 4);
}

TEST_CASE("import of an expired, unreported suspension reports its expiry") {
  ManualClock clock(kStart);
  Limiter lim(LimiterConfig{}, clock);
  SourceState s;
  s.key = lim.key_of(ip("192.0.2.1"));
  s.episodes = 2;
  s.last_episode = kStart - 3 * kDay;
  s.suspended_until = kStart - kDay;  // ended while the daemon was down
  CHECK(lim.import(s));
  std::vector<LimiterEvent> events;
  REQUIRE(lim.drain_events(events) == 1);
  CHECK(events[0].kind == LimiterEvent::Kind::suspension_expired);
  CHECK(events[0].at == kStart - kDay);
  CHECK(events[0].episode == 2);
}

TEST_CASE("export_dirty sends only what changed, including forgotten sources") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 3;
  Limiter lim(config, clock);
  for (std::uint32_t i = 0; i < 1000; ++i) lim.check(v4(i));
  std::size_t n = lim.export_dirty([](const SourceState& s) { CHECK(s.queries_in_window() == 1); });
  CHECK(n == 1000);
  CHECK(lim.export_dirty([](const SourceState&) {}) == 0);

  lim.check(v4(7));
  lim.check(v4(7));
  lim.check(v4(7));  // crosses
  std::vector<SourceState> got;
  CHECK(lim.export_dirty([&](const SourceState& s) { got.push_back(s); }) == 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].key == lim.key_of(v4(7)));
  CHECK(got[0].episodes == 1);
  CHECK(got[0].queries_in_window() == 0);

  // A suspended query changes nothing.
  lim.check(v4(7));
  CHECK(lim.export_dirty([](const SourceState&) {}) == 0);

  // A day later everyone but the suspended source is forgotten; lib/state hears of it.
  clock.advance(kDay + 120);
  std::size_t forgotten = 0;
  while (lim.tracked_sources() > 1) forgotten += lim.sweep(100);
  CHECK(forgotten == 999);
  got.clear();
  CHECK(lim.export_dirty([&](const SourceState& s) { got.push_back(s); }) >= 999);
  std::size_t empty = std::count_if(got.begin(), got.end(), [](const SourceState& s) { return s.empty(); });
  CHECK(empty == 999);
}

TEST_CASE("the sweep forgets what no longer matters and keeps what does") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 10;
  Limiter lim(config, clock);

  auto quiet = ip("192.0.2.1");       // one query, will age out
  auto busy = ip("192.0.2.2");        // many queries (a heap record), will age out
  auto recent = ip("192.0.2.3");      // a query later: stays
  auto suspended = ip("192.0.2.4");   // suspended: stays until its episode is forgotten
  lim.check(quiet);
  for (int i = 0; i < 9; ++i) lim.check(busy);
  for (int i = 0; i < 11; ++i) lim.check(suspended);
  CHECK(lim.stats().heavy_sources == 2);
  clock.advance(kDay / 2);
  lim.check(recent);

  auto sweep_all = [&] {
    std::size_t n = 0;
    for (int i = 0; i < 200; ++i) n += lim.sweep(64);  // more than a full pass
    return n;
  };
  CHECK(sweep_all() == 0);
  CHECK(lim.tracked_sources() == 4);

  clock.set(kStart + kDay + 60);
  CHECK(sweep_all() == 2);  // quiet and busy
  CHECK(lim.tracked_sources() == 2);
  CHECK_FALSE(lim.inspect(lim.key_of(quiet)));
  CHECK_FALSE(lim.inspect(lim.key_of(busy)));
  CHECK(lim.inspect(lim.key_of(recent)));
  CHECK(lim.inspect(lim.key_of(suspended)));

  clock.set(kStart + kDay / 2 + kDay + 60);
  CHECK(sweep_all() == 1);  // recent
  // The suspension is over, but its episode still counts within the quiet period.
  auto state = lim.inspect(lim.key_of(suspended));
  REQUIRE(state);
  CHECK(state->episodes == 1);
  clock.set(kStart + kDay + 30 * kDay - 1);
  CHECK(sweep_all() == 0);
  clock.set(kStart + kDay + 30 * kDay);
  CHECK(sweep_all() == 1);
  CHECK(lim.tracked_sources() == 0);
  CHECK(lim.stats().heavy_sources == 0);
  CHECK(lim.stats().heavy_bytes == 0);
}

TEST_CASE("the sweep does bounded work and gives memory back") {
  ManualClock clock(kStart);
  Limiter lim(LimiterConfig{}, clock);
  for (std::uint32_t i = 0; i < 100000; ++i) lim.check(v4(i));
  CHECK(lim.stats().table_bytes / 100000 <= 64);
  // The list of sources to export (16 bytes each) lives until lib/state's next export,
  // at most a second: the steady state is after one.
  lim.export_dirty([](const SourceState&) {});
  auto full = lim.stats();
  CHECK(full.tracked_sources == 100000);
  CHECK(full.total_bytes / full.tracked_sources <= 64);
  clock.advance(2 * kDay);
  std::size_t forgotten = lim.sweep(10);
  CHECK(forgotten <= 10);
  for (int i = 0; i < 100000 && lim.tracked_sources() > 0; ++i) forgotten += lim.sweep(1000);
  CHECK(lim.tracked_sources() == 0);
  CHECK(forgotten == 100000);
  // Every one exported as forgotten, once: about 6,250 a shard, filled 2,048 a lock hold.
  std::set<SourceKey> gone;
  std::size_t exported = lim.export_dirty([&](const SourceState& s) {
    CHECK(s.empty());
    gone.insert(s.key);
  });
  CHECK(exported == 100000);
  CHECK(gone.size() == 100000);
  CHECK(gone.count(lim.key_of(v4(99999))) == 1);
  // a further full pass lets every shard shrink
  for (int i = 0; i < 1000; ++i) lim.sweep(1000);
  CHECK(lim.stats().table_bytes < full.table_bytes / 8);
  CHECK(lim.check(v4(5)).verdict == Verdict::allow);
}

namespace {

// export_all walks each shard's table a chunk at a time and lets the loops in between.
// Here the sink itself, called between chunks with no lock held, makes the changes the
// loops and the sweep would, where they hurt most. Of 64,000 sources (about three
// chunks a shard), one in `keep_one_in` stays; the sink forgets each other one as it is
// sent (an import of a forgotten state: the sweep's erase), right behind the walk, so
// that erase's backward shift moves the sources just ahead of the walk towards it. Each
// source it is sent first brings `arrivals` new ones (tables grow while they are
// walked); with `sweeps`, a whole sweep pass every 256 sources sent gives back the
// memory of tables mostly forgotten (tables shrink while they are walked: the walk must
// restart on the new one, as its index there lies further on). None of the sources there
// all along may be missed or sent twice, and no mark may stay to hide one from the next
// export. Returns the growths and shrinks seen, for the caller to check it had them.
std::pair<std::uint64_t, bool> export_while_changing(std::uint32_t keep_one_in, std::uint32_t arrivals, bool sweeps) {
  ManualClock clock(kStart);
  Limiter lim(LimiterConfig{}, clock);
  constexpr std::uint32_t kFirst = 64000;
  for (std::uint32_t i = 0; i < kFirst; ++i) lim.check(v4(i));
  const LimiterStats before = lim.stats();

  std::vector<std::uint8_t> sent(kFirst * (arrivals + 1));  // by source number
  const auto number = [](const SourceKey& key) { return key.address().v4_host_order() - 0x0A000000u; };
  std::uint32_t arriving = kFirst;
  std::size_t calls = 0, forgotten = 0, smallest_table = before.table_bytes;
  const std::size_t total = lim.export_all([&](const SourceState& state) {
    const std::uint32_t n = number(state.key);
    if (n >= arriving) FAIL("source " << n << " was never tracked");
    ++sent[n];
    if (++calls % 256 == 0 && sweeps) {
      lim.sweep(std::numeric_limits<std::size_t>::max());
      smallest_table = std::min(smallest_table, lim.stats().table_bytes);
    }
    if (n >= kFirst) return;
    if (n % keep_one_in != 0) {
      SourceState gone;
      gone.key = state.key;
      if (!lim.import(gone)) FAIL("source " << n << " could not be forgotten");
      ++forgotten;
    }
    for (std::uint32_t i = 0; i < arrivals; ++i) lim.check(v4(arriving++));
  });
  const LimiterStats after = lim.stats();
  CHECK(total == calls);
  CHECK(forgotten == kFirst - kFirst / keep_one_in);
  std::size_t staying_missed = 0;
  for (std::uint32_t i = 0; i < kFirst; i += keep_one_in) staying_missed += sent[i] != 1;
  CHECK(staying_missed == 0);
  CHECK(std::all_of(sent.begin(), sent.end(), [](std::uint8_t times) { return times <= 1; }));

  // No mark left behind: a quiet export sends every source tracked now, once each.
  std::fill(sent.begin(), sent.end(), 0);
  const std::size_t all = lim.export_all([&](const SourceState& state) { ++sent[number(state.key)]; });
  CHECK(all == lim.tracked_sources());
  CHECK(all == kFirst / keep_one_in + (arriving - kFirst));
  CHECK(std::all_of(sent.begin(), sent.end(), [](std::uint8_t times) { return times <= 1; }));
  return {after.growths_off_loop + after.growths_by_inserter - before.growths_off_loop - before.growths_by_inserter,
          smallest_table < before.table_bytes / 2};
}

}  // namespace

TEST_CASE("export_all sends every source once, a chunk at a time, while sources come and tables grow") {
  const auto [growths, shrunk] = export_while_changing(2, 16, false);
  CHECK(growths >= 2 * Limiter::kShards);
}

TEST_CASE("export_all sends every source once, a chunk at a time, while sources go and tables shrink") {
  const auto [growths, shrunk] = export_while_changing(8, 0, true);
  CHECK(shrunk);
}

TEST_CASE("heavy records return inline once they hold little") {
  ManualClock clock(kStart);
  Limiter lim(LimiterConfig{}, clock);
  auto a = ip("192.0.2.1");
  for (int i = 0; i < 20; ++i) lim.check(a);
  CHECK(lim.stats().heavy_sources == 1);
  clock.advance(kDay - 3600);
  for (int i = 0; i < 3; ++i) lim.check(a);
  clock.advance(3600 + 120);  // the 20 leave the window, the 3 stay
  for (int i = 0; i < 200; ++i) lim.sweep(64);
  CHECK(lim.stats().heavy_sources == 0);
  CHECK(lim.inspect(lim.key_of(a))->queries_in_window() == 3);
  CHECK(lim.check(a).count == 4);
}

TEST_CASE("import over a suspended source replaces its suspension without a false expiry") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 1;
  Limiter lim(config, clock);
  auto a = ip("192.0.2.1");
  lim.check(a);
  CHECK(lim.check(a).verdict == Verdict::limit_crossed);
  std::vector<LimiterEvent> events;
  CHECK(lim.drain_events(events) == 1);
  SourceState s;
  s.key = lim.key_of(a);
  s.minutes = {{kStart / 60, 1}};
  s.episodes = 1;
  CHECK(lim.import(s));
  CHECK(lim.active_suspensions().empty());
  clock.advance(2 * kDay);
  events.clear();
  CHECK(lim.drain_events(events) == 0);
  CHECK(lim.check(a).verdict == Verdict::allow);
}

TEST_CASE("a stored suspension is in force until its end, unless that end was reported") {
  SourceState s;
  s.suspended_until = kStart + 3600;
  CHECK(s.suspension_in_force(kStart));
  CHECK_FALSE(s.suspension_in_force(kStart + 3600));
  s.flags = SourceState::kManualSuspension;
  CHECK(s.suspension_in_force(kStart));
  s.flags |= SourceState::kExpiryReported;  // reported, then the clock stepped back before the end
  CHECK_FALSE(s.suspension_in_force(kStart));
}

TEST_CASE("max_sources bounds the sources tracked; suspensions are never replaced") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.queries = 3;
  config.max_sources = 1600;  // 100 a shard
  Limiter lim(config, clock);

  // Sources with a suspension, and some with many queries, before the flood.
  std::vector<IpAddress> suspended, heavy;
  for (std::uint32_t i = 0; i < 20; ++i) {
    suspended.push_back(IpAddress::v4(0xC6336400u + i));  // 198.51.100.x
    for (int q = 0; q < 3; ++q) lim.check(suspended.back());
    REQUIRE(lim.check(suspended.back()).verdict == Verdict::limit_crossed);
  }
  clock.advance(60);
  // A flood of new sources, one query each, over ten minutes (IPv6 /64s in turn, as
  // from a rotating prefix).
  const std::size_t flood = 50'000;
  for (std::size_t i = 0; i < flood; ++i) {
    if (i % 5000 == 0) clock.advance(60);
    std::array<std::uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8};
    b[4] = static_cast<std::uint8_t>(i >> 24);
    b[5] = static_cast<std::uint8_t>(i >> 16);
    b[6] = static_cast<std::uint8_t>(i >> 8);
    b[7] = static_cast<std::uint8_t>(i);
    REQUIRE(lim.check(IpAddress::v6(b)).verdict == Verdict::allow);
  }
  auto st = lim.stats();
  CHECK(st.max_sources == 1600);
  CHECK(st.tracked_sources <= 1600);
  CHECK(st.tracked_sources >= 1500);
  CHECK(st.evicted_sources == 20 + flood - st.tracked_sources);
  // The suspensions are all still in force, and their sources still tracked.
  for (const auto& a : suspended) CHECK(lim.check(a).verdict == Verdict::suspended);
  CHECK(lim.active_suspensions().size() == 20);

  // What was replaced is exported as forgotten (lib/state deletes its row): every
  // export names a source tracked now or an empty state.
  std::size_t forgotten = 0, kept = 0;
  lim.export_dirty([&](const SourceState& s) { (s.empty() ? forgotten : kept) += 1; });
  CHECK(forgotten >= flood - 1600);
  CHECK(kept <= 1600);
}

TEST_CASE("at max_sources the source replaced is one with few and old queries") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.max_sources = 16 * 8;  // 8 a shard: every shard's whole table is in each sample
  Limiter lim(config, clock);
  // 40 sources with 20 queries each (heavy records) at the start...
  for (std::uint32_t i = 0; i < 40; ++i)
    for (int q = 0; q < 20; ++q) lim.check(v4(i));
  // ...then sources with one query each, 30 s apart (all within the window): the
  // newcomers replace the oldest of these, never a heavy source while an inline one is
  // in the sample.
  for (std::uint32_t i = 1000; i < 3000; ++i) {
    clock.advance(30);
    lim.check(v4(i));
  }
  for (std::uint32_t i = 0; i < 40; ++i) {
    auto state = lim.inspect(lim.key_of(v4(i)));
    INFO("heavy source " << i);
    REQUIRE(state);
    CHECK(state->queries_in_window() == 20);
  }
  // The newest single-query source is still there.
  CHECK(lim.inspect(lim.key_of(v4(2999))));
  CHECK(lim.tracked_sources() <= 16 * 8);
}

TEST_CASE("at max_sources an import of a forgotten source replaces no one") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.max_sources = 16 * 4;
  Limiter lim(config, clock);
  for (std::uint32_t i = 0; i < 2000; ++i) lim.check(v4(i));  // every shard at its bound
  const std::size_t tracked = lim.tracked_sources();
  REQUIRE(tracked == 16 * 4);
  const auto evicted = lim.stats().evicted_sources;
  // Forgotten sources (empty states) of sources not tracked: there is nothing to hold,
  // so nothing to make room for.
  for (std::uint32_t i = 5000; i < 5200; ++i) {
    SourceState forgotten;
    forgotten.key = lim.key_of(v4(i));
    REQUIRE(lim.import(forgotten));
  }
  CHECK(lim.tracked_sources() == tracked);
  CHECK(lim.stats().evicted_sources == evicted);
  // One of a tracked source still forgets it.
  SourceState forgotten;
  forgotten.key = lim.key_of(v4(1999));
  REQUIRE(lim.inspect(forgotten.key));
  REQUIRE(lim.import(forgotten));
  CHECK_FALSE(lim.inspect(forgotten.key));
  CHECK(lim.tracked_sources() == tracked - 1);
}

TEST_CASE("max_sources is validated") {
  ManualClock clock(kStart);
  LimiterConfig config;
  config.max_sources = 15;
  CHECK_THROWS_WITH(Limiter(config, clock), Catch::Contains("limits.max_sources must be from 16 to 1000000000 (got 15)"));
}
