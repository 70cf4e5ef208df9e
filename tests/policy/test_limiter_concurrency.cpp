// Several event-loop threads deciding at once: no count is lost or doubled, and a
// source hammered from every thread gets exactly `limit` answers and one crossing;
// also while the grower's thread grows the tables under them.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "policy/limiter.h"

using namespace whoisd;
using Verdict = Decision::Verdict;

TEST_CASE("four threads: counts are exact") {
  ManualClock clock;
  LimiterConfig config;
  config.queries = 1'000'000;
  Limiter lim(config, clock);
  constexpr int kThreads = 4;
  constexpr std::uint32_t kSources = 3000;
  constexpr int kRounds = 8;  // each thread queries every source this many times

  std::vector<std::thread> threads;
  std::atomic<int> not_allowed{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round)
        for (std::uint32_t i = 0; i < kSources; ++i) {
          // Each thread walks the sources in its own order, so shards contend.
          std::uint32_t s = (i * 7919u + static_cast<std::uint32_t>(t) * 1013u) % kSources;
          if (lim.check(IpAddress::v4(0x0A000000u + s)).verdict != Verdict::allow) ++not_allowed;
        }
      // Meanwhile lib/state's thread would export and sweep: do so too.
      if (t == 0) lim.export_dirty([](const SourceState&) {});
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 50; ++i) {
      lim.sweep(500);
      lim.export_dirty([](const SourceState&) {});
      lim.stats();
    }
  });
  for (auto& th : threads) th.join();
  CHECK(not_allowed == 0);
  CHECK(lim.tracked_sources() == kSources);
  std::uint32_t wrong = 0;
  for (std::uint32_t s = 0; s < kSources; ++s) {
    auto state = lim.inspect(lim.key_of(IpAddress::v4(0x0A000000u + s)));
    if (!state || state->queries_in_window() != kThreads * kRounds) ++wrong;
  }
  CHECK(wrong == 0);
}

TEST_CASE("four threads on one source: exactly limit answers and one crossing") {
  ManualClock clock;
  LimiterConfig config;
  config.queries = 5000;
  Limiter lim(config, clock);
  auto a = *IpAddress::parse("2001:db8::1");
  std::atomic<int> allowed{0}, crossed{0}, suspended{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        switch (lim.check(a).verdict) {
          case Verdict::allow: ++allowed; break;
          case Verdict::limit_crossed: ++crossed; break;
          case Verdict::suspended: ++suspended; break;
          case Verdict::exempt: break;
        }
      }
    });
  for (auto& th : threads) th.join();
  CHECK(allowed == 5000);
  CHECK(crossed == 1);
  CHECK(suspended == 8000 - 5001);
  std::vector<LimiterEvent> events;
  CHECK(lim.drain_events(events) == 1);
}

namespace {

bool thread_named(const std::string& name) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    if (std::getline(comm, line) && line == name) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("large tables grow on the grower's thread while two threads decide: no count is lost") {
  // 300,000 sources are about 18,750 a shard: past 80 % of a 10,390-slot table and of a
  // 15,585-slot one, both large enough (kGrowOffLoopMinSlots) to be grown off the
  // deciding threads.
  ManualClock clock;
  LimiterConfig config;
  config.queries = 1'000'000;
  Limiter lim(config, clock);
  constexpr std::uint32_t kSources = 300'000;
  auto source = [](std::uint32_t i) { return IpAddress::v4(0x0A000000u + i); };

  std::vector<std::thread> threads;
  std::atomic<int> not_allowed{0};
  for (std::uint32_t t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (std::uint32_t i = 0; i < kSources; ++i) {
        std::uint32_t s = t == 0 ? i : kSources - 1 - i;  // one from each end: shards contend
        if (lim.check(source(s)).verdict != Verdict::allow) ++not_allowed;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(not_allowed == 0);
  CHECK(thread_named("whoisd-grow"));
  const LimiterStats st = lim.stats();
  CHECK(st.tracked_sources == kSources);
  // The tables grew (16 shards of 23,377 slots, 32 bytes each, or more), the last two
  // times on the grower's thread (if it fell behind, an inserter grew at 90 %).
  CHECK(st.table_bytes >= 16u * 23'377u * 32u);
  CHECK(st.growths_off_loop + st.growths_by_inserter >= 16u * 18u);  // 16 slots to 23,377: 18 growths a shard
  CHECK(st.growths_off_loop >= 16u);
  int wrong = 0;
  for (std::uint32_t i = 0; i < kSources; ++i)
    if (lim.check(source(i)).count != 3) ++wrong;
  CHECK(wrong == 0);
}
