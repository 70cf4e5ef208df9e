// Limiter::prefetch(): the daemon calls it for every accepted client, before check(),
// without any lock. It must be safe for any address at any moment (also while another
// thread grows or shrinks the table it reads the address of) and change no decision.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "policy/limiter.h"
#include "support/test_address.h"

using namespace whoisd;
using Verdict = Decision::Verdict;
using whoisd::test::ip;

namespace {

Network net(const char* text) { return *Network::parse(text); }

// Clients of every kind: IPv4, IPv6 in a few /64s with varying interface ids, IPv4
// written as mapped IPv6, exempt ones, ones under a network limit, the extremes.
IpAddress any_client(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0: return IpAddress::v4(0xC6336400u + static_cast<std::uint32_t>(rng() % 40));  // 198.51.100.0/26
    case 1: {
      std::array<std::uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, static_cast<std::uint8_t>(rng() % 6)};
      for (int i = 8; i < 16; ++i) b[i] = static_cast<std::uint8_t>(rng());
      return IpAddress::v6(b);
    }
    case 2: {  // ::ffff:198.51.100.x, the same sources as case 0
      std::array<std::uint8_t, 16> b{};
      b[10] = b[11] = 0xff;
      b[12] = 198, b[13] = 51, b[14] = 100, b[15] = static_cast<std::uint8_t>(rng() % 40);
      return IpAddress::v6(b);
    }
    case 3: return rng() % 2 ? ip("127.0.0.1") : ip("2001:db8:ee:1::5");  // exempt
    case 4: return IpAddress::v4(0xC0000200u + static_cast<std::uint32_t>(rng() % 8));  // 192.0.2.0/29: limit 2
    case 5: return rng() % 2 ? ip("0.0.0.0") : ip("255.255.255.255");
    case 6: return rng() % 2 ? ip("::") : ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    default: return IpAddress::v4(static_cast<std::uint32_t>(rng()));  // mostly new sources
  }
}

LimiterConfig small_config() {
  LimiterConfig config;
  config.queries = 4;
  config.window = std::chrono::seconds(600);
  config.suspension = std::chrono::seconds(300);
  config.quiet_period = std::chrono::seconds(1800);
  config.exempt = {net("127.0.0.1/32"), net("2001:db8:ee::/48")};
  config.network_limits.add(net("192.0.2.0/29"), 2);
  return config;
}

void require_same(const Decision& a, const Decision& b) {
  REQUIRE(a.verdict == b.verdict);
  REQUIRE(a.source == b.source);
  REQUIRE(a.limit == b.limit);
  REQUIRE(a.count == b.count);
  REQUIRE(a.suspended_until == b.suspended_until);
  REQUIRE(a.episode == b.episode);
  REQUIRE(a.manual == b.manual);
}

std::vector<SourceState> everything(Limiter& limiter) {
  std::vector<SourceState> out;
  limiter.export_all([&](const SourceState& s) { out.push_back(s); });
  std::sort(out.begin(), out.end(), [](const SourceState& a, const SourceState& b) { return a.key < b.key; });
  return out;
}

}  // namespace

TEST_CASE("prefetch changes no decision, for any address") {
  // Two limiters on one clock get the same queries; one also gets a prefetch of the
  // client (as the daemon does) and of other addresses before every decision.
  ManualClock clock;
  Limiter plain(small_config(), clock), prefetched(small_config(), clock);
  std::mt19937_64 rng(7);
  std::int64_t verdicts[4] = {};
  auto decide_both = [&](const IpAddress& client) {
    prefetched.prefetch(client);
    for (int i = 0; i < 3; ++i) prefetched.prefetch(any_client(rng));
    Decision expected = plain.check(client);
    Decision got = prefetched.check(client);
    require_same(got, expected);
    ++verdicts[static_cast<int>(got.verdict)];
  };
  std::size_t most_tracked = 0;
  for (int q = 0; q < 40000; ++q) {
    if (rng() % 4 == 0) clock.advance(static_cast<std::int64_t>(rng() % 30));
    decide_both(any_client(rng));
    if (q % 10000 == 5000) {  // a wave of new sources: every table grows several times
      for (int i = 0; i < 4000; ++i) decide_both(IpAddress::v4(static_cast<std::uint32_t>(rng())));
      most_tracked = std::max(most_tracked, prefetched.tracked_sources());
    }
    if (q % 1000 == 999) {
      REQUIRE(prefetched.sweep(500) == plain.sweep(500));  // sweeps forget the wave and shrink the tables
      prefetched.prefetch(any_client(rng));
    }
  }
  // Every verdict was exercised, or the comparison proves little.
  for (auto n : verdicts) CHECK(n > 0);
  CHECK(prefetched.tracked_sources() == plain.tracked_sources());
  CHECK(most_tracked > 4000);  // far more than the 16 shards' first tables (16 slots each) hold
  CHECK(everything(prefetched) == everything(plain));
  std::vector<LimiterEvent> a, b;
  CHECK(prefetched.drain_events(a) == plain.drain_events(b));
}

TEST_CASE("prefetch is safe while another thread grows and shrinks the tables") {
  // prefetch() reads a table's address and size without the lock, while check() may
  // be replacing the table (growth) and sweep() shrinking it; run under TSan/ASan this
  // is what shows the lock-free read is race-free and never touches freed memory.
  ManualClock clock;
  LimiterConfig config;
  config.queries = 1'000'000;
  Limiter lim(config, clock);
  constexpr std::uint32_t kSources = 60000;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> prefetches{0};
  std::thread prefetcher([&] {
    std::mt19937_64 rng(11);
    std::uint64_t n = 0;
    while (!done.load(std::memory_order_relaxed)) {
      // Sources being inserted right now, and anything else.
      lim.prefetch(IpAddress::v4(0x0A000000u + static_cast<std::uint32_t>(rng() % kSources)));
      lim.prefetch(any_client(rng));
      n += 2;
    }
    prefetches = n;
  });
  std::uint32_t not_allowed = 0;
  for (int wave = 0; wave < 3; ++wave) {
    for (std::uint32_t i = 0; i < kSources; ++i)  // the tables grow from 16 slots a shard
      if (lim.check(IpAddress::v4(0x0A000000u + i)).verdict != Verdict::allow) ++not_allowed;
    clock.advance(2 * 86400);  // past the window (24 h): the sweep forgets them all and shrinks the tables
    for (int calls = 0; calls < 10000 && lim.tracked_sources() > 0; ++calls) lim.sweep(1000);
    REQUIRE(lim.tracked_sources() == 0);
    for (int i = 0; i < 20; ++i) lim.sweep(1000);  // a full pass more: the end of each shard's pass shrinks it
  }
  // A last wave, counted twice, to show the counts are intact.
  for (int round = 0; round < 2; ++round)
    for (std::uint32_t i = 0; i < kSources; ++i)
      if (lim.check(IpAddress::v4(0x0A000000u + i)).verdict != Verdict::allow) ++not_allowed;
  done = true;
  prefetcher.join();
  CHECK(not_allowed == 0);
  CHECK(prefetches > 0);
  CHECK(lim.tracked_sources() == kSources);
  std::uint32_t wrong = 0;
  for (std::uint32_t i = 0; i < kSources; ++i) {
    auto state = lim.inspect(lim.key_of(IpAddress::v4(0x0A000000u + i)));
    if (!state || state->queries_in_window() != 2) ++wrong;
  }
  CHECK(wrong == 0);
}
