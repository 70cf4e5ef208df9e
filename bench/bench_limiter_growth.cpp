// Limiter figures for bench/README.md: what a deciding thread (an event loop) pays
// while the limiter grows to millions of sources, and once it is at max_sources.
//   bench_limiter_growth           2,000,000 new sources at 100,000 a second, twice; the bound; the rewrite
//   bench_limiter_growth --quick   200,000 of them; the bound with 100,000; the rewrite
//   bench_limiter_growth --shrink  part 2 alone
//   bench_limiter_growth --rewrite part 4 alone
//
// 1. Growth. New sources, one decision each, at a fixed rate on this thread (as the
//    loops see a flood of distinct sources), with a second thread doing what the
//    state writer does every 500 ms (export_dirty); then the same without it. A shard's
//    table of 1 MB or more grows on the limiter's grower thread, which allocates and
//    faults in the new table (most of a growth's cost; bench/README.md, rounds 27 and
//    28) before it takes the shard's lock to rehash; a smaller one grows on the
//    deciding thread. Printed: decisions over 1 ms and the worst five (wall time), the
//    same by the deciding thread's own CPU time (what it did, not what it waited
//    for), and the tables' size at the end.
// 2. Shrinking. The same sources a day later, gone: the sweep (the daemon's: 20,000
//    slots a call, on the control thread; here one call a millisecond) forgets them and
//    gives each shard's table back at the end of its pass, while this thread decides
//    for a few sources that stay and a third exports as the state writer does. Printed: decisions over 1 ms and the worst five, and
//    the tables before and after.
// 3. The bound. Decisions a second, closed loop, once max_sources is reached and
//    every new source replaces a tracked one (the state writer's exports between, timed
//    apart); and the limiter's bytes there.
// 4. The full rewrite. After a write round that failed, the state writer rewrites
//    every source (export_all, a chunk of a table at a time), here eight times 50 ms
//    apart, while this thread decides for 4,096 sources among 2,000,000. Printed:
//    decisions over 1 ms and the worst five, and the longest export_all.
// Timings are wall time on a shared machine: run it alone (no build, no benchmark).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "policy/limiter.h"

using namespace whoisd;
using Steady = std::chrono::steady_clock;

namespace {

// The calling thread's CPU time (µs): a decision's wall time includes waiting for a
// core on a busy machine; its CPU time is the work the deciding thread itself did (page
// faults included), which is what a growth on that thread costs it.
double thread_cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

IpAddress nth_source(std::size_t i) { return IpAddress::v4(0x0A000000u + static_cast<std::uint32_t>(i)); }

// What the parts print of the decisions' times (µs): how many, how many over 1 ms, and
// the five longest (zeros if fewer). Reorders `took`.
struct DecisionTimes {
  std::size_t decisions = 0, over_1ms = 0;
  std::vector<float> worst;
};

DecisionTimes summarize(std::vector<float>& took) {
  DecisionTimes t;
  t.decisions = took.size();
  t.over_1ms = static_cast<std::size_t>(std::count_if(took.begin(), took.end(), [](float us) { return us > 1000; }));
  const std::size_t shown = std::min<std::size_t>(5, took.size());
  std::partial_sort(took.begin(), took.begin() + static_cast<std::ptrdiff_t>(shown), took.end(), std::greater<>());
  t.worst.assign(took.begin(), took.begin() + static_cast<std::ptrdiff_t>(shown));
  t.worst.resize(5, 0);
  return t;
}

// "N over 1 ms; worst a b c d e ms", as every part prints it.
std::string over_1ms_and_worst(const DecisionTimes& t) {
  char text[160];
  std::snprintf(text, sizeof text, "%zu over 1 ms; worst %.2f %.2f %.2f %.2f %.2f ms", t.over_1ms,
                t.worst[0] / 1e3, t.worst[1] / 1e3, t.worst[2] / 1e3, t.worst[3] / 1e3, t.worst[4] / 1e3);
  return text;
}

struct GrowthRun {
  DecisionTimes times;
  std::size_t cpu_over_1ms = 0;   // decisions that took over 1 ms of the deciding thread's own CPU
  float cpu_worst = 0;            // µs
  std::size_t table_bytes = 0;
  std::uint64_t growths_off_loop = 0, growths_by_inserter = 0;
};

GrowthRun grow(std::size_t sources, double rate, bool writer_exports) {
  SystemClock clock;
  Limiter limiter(LimiterConfig{}, clock);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // StatePersisterOptions::interval
      if (writer_exports) limiter.export_dirty([](const SourceState&) {});
    }
  });
  std::vector<float> took(sources);
  std::vector<float> cpu(sources);
  const auto start = Steady::now();
  for (std::size_t i = 0; i < sources; ++i) {
    const auto due = start + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(double(i) / rate));
    while (Steady::now() < due) {
    }
    const auto t0 = Steady::now();
    const double c0 = thread_cpu_us();
    limiter.check(nth_source(i));
    cpu[i] = static_cast<float>(thread_cpu_us() - c0);
    took[i] = std::chrono::duration<float, std::micro>(Steady::now() - t0).count();
  }
  done.store(true);
  writer.join();
  GrowthRun r;
  r.times = summarize(took);
  r.cpu_over_1ms = static_cast<std::size_t>(std::count_if(cpu.begin(), cpu.end(), [](float us) { return us > 1000; }));
  r.cpu_worst = *std::max_element(cpu.begin(), cpu.end());
  const LimiterStats st = limiter.stats();
  r.table_bytes = st.table_bytes;
  r.growths_off_loop = st.growths_off_loop;
  r.growths_by_inserter = st.growths_by_inserter;
  return r;
}

void print(const char* how, std::size_t sources, const GrowthRun& r) {
  std::printf("  %-28s %zu sources: decisions %s; of its own CPU: %zu over 1 ms, worst %.2f ms; tables %.1f MB, grown "
              "%llu times off the deciding thread and %llu on it\n",
              how, sources, over_1ms_and_worst(r.times).c_str(), r.cpu_over_1ms, r.cpu_worst / 1e3,
              double(r.table_bytes) / 1e6,
              static_cast<unsigned long long>(r.growths_off_loop), static_cast<unsigned long long>(r.growths_by_inserter));
}

struct ShrinkRun {
  DecisionTimes times;
  std::size_t bytes_before = 0, bytes_after = 0;
  std::size_t sweeps = 0;
  float sweep_worst = 0, export_worst = 0;  // µs, the longest sweep() and export_dirty() calls
};

// The daemon sweeps `budget` slots every `period` and the state writer exports every
// 500 ms; here both run 1,000 times as often (a day's departures in seconds), so that
// each export still finds as many forgotten sources as the daemon's would.
ShrinkRun shrink(std::size_t sources, std::size_t budget, std::chrono::microseconds period) {
  ManualClock clock;
  Limiter limiter(LimiterConfig{}, clock);
  for (std::size_t i = 0; i < sources; ++i) limiter.check(nth_source(i));
  limiter.export_dirty([](const SourceState&) {});
  ShrinkRun r;
  r.bytes_before = limiter.stats().table_bytes;
  clock.advance(25 * 3600);  // the window (24 h) is past: every source can be forgotten
  constexpr std::size_t kStaying = 4096;  // sources that keep asking: every shard has some
  const auto export_period = std::chrono::microseconds(500);  // the daemon's 500 ms, at 1,000x
  std::atomic<bool> done{false};
  const auto timed = [](float& worst, auto&& call) {
    const auto t0 = Steady::now();
    call();
    worst = std::max(worst, std::chrono::duration<float, std::micro>(Steady::now() - t0).count());
  };
  std::thread writer([&] {  // the state writer: the forgotten sources' keys wait for its export
    while (!done.load()) {
      std::this_thread::sleep_for(export_period);
      timed(r.export_worst, [&] { limiter.export_dirty([](const SourceState&) {}); });
    }
  });
  std::thread sweeper([&] {
    // Until every table is back to about its smallest (a pass of all 16 shards more):
    // a 64th of the flood's, or, after a small one (--quick), 128 bytes a staying source
    // (their tables end at twice their sources, 64 bytes a source).
    const std::size_t small = std::max(r.bytes_before / 64, kStaying * 128);
    while (limiter.stats().table_bytes > small || limiter.tracked_sources() > kStaying) {
      timed(r.sweep_worst, [&] { limiter.sweep(budget); });
      ++r.sweeps;
      std::this_thread::sleep_for(period / 1000);
    }
    done.store(true);
  });
  std::vector<float> took;
  for (std::size_t n = 0; !done.load(); ++n) {
    const auto t0 = Steady::now();
    limiter.check(nth_source(sources + n % kStaying));
    took.push_back(std::chrono::duration<float, std::micro>(Steady::now() - t0).count());
    const auto pause = Steady::now() + std::chrono::microseconds(10);  // 100,000 decisions a second at most
    while (Steady::now() < pause) {
    }
  }
  sweeper.join();
  writer.join();
  r.times = summarize(took);
  r.bytes_after = limiter.stats().table_bytes;
  return r;
}

struct RewriteRun {
  DecisionTimes times;
  std::size_t exports = 0;
  float export_worst = 0;  // µs
  bool short_export = false;  // an export_all sent fewer sources than there are
};

RewriteRun rewrite(std::size_t sources) {
  ManualClock clock;
  LimiterConfig config;
  config.max_sources = 2 * sources;  // none replaced: every source is there for every export
  Limiter limiter(config, clock);
  for (std::size_t i = 0; i < sources; ++i) limiter.check(nth_source(i));
  limiter.export_dirty([](const SourceState&) {});
  constexpr std::size_t kDeciding = 4096;
  RewriteRun r;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 8; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const auto t0 = Steady::now();
      std::size_t sent = 0;
      limiter.export_all([&](const SourceState&) { ++sent; });
      r.export_worst = std::max(r.export_worst, std::chrono::duration<float, std::micro>(Steady::now() - t0).count());
      if (sent != sources) {
        std::printf("  WRONG: export_all sent %zu of %zu sources\n", sent, sources);
        r.short_export = true;
      }
      ++r.exports;
    }
    done.store(true);
  });
  std::vector<float> took;
  for (std::size_t n = 0; !done.load(); ++n) {
    const auto t0 = Steady::now();
    limiter.check(nth_source((n * 487) % kDeciding * (sources / kDeciding)));  // spread over the shards
    took.push_back(std::chrono::duration<float, std::micro>(Steady::now() - t0).count());
    const auto pause = Steady::now() + std::chrono::microseconds(10);
    while (Steady::now() < pause) {
    }
  }
  writer.join();
  r.times = summarize(took);
  return r;
}

// Returns false if an export_all was WRONG.
bool print_rewrites(std::size_t sources) {
  bool right = true;
  std::printf("limiter full rewrite: export_all of %zu sources, eight times, while a thread decides for 4,096 of them\n",
              sources);
  for (int round = 0; round < 3; ++round) {
    const RewriteRun r = rewrite(sources);
    std::printf("  %zu decisions: %s; %zu exports, the longest %.0f ms\n", r.times.decisions,
                over_1ms_and_worst(r.times).c_str(), r.exports, r.export_worst / 1e3);
    right = right && !r.short_export;
  }
  return right;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const bool shrink_only = argc > 1 && std::strcmp(argv[1], "--shrink") == 0;
  const bool rewrite_only = argc > 1 && std::strcmp(argv[1], "--rewrite") == 0;
  const std::size_t sources = quick ? 200'000 : 2'000'000;

  if (rewrite_only) return print_rewrites(sources) ? 0 : 1;
  const double rate = 100'000;

  if (!shrink_only) std::printf("limiter growth: new sources at %.0f a second, one decision each\n", rate);
  // Alternated, so that a disturbance of the machine is less likely to favour one.
  for (int round = 0; round < 2 && !shrink_only; ++round) {
    print("with the writer's exports:", sources, grow(sources, rate, true));
    print("without them:", sources, grow(sources, rate, false));
  }

  std::printf("limiter shrinking: those sources gone a day later, the sweep forgetting them while a thread "
              "decides for 4,096 others and the state writer exports (at 1,000 times the daemon's pace)\n");
  for (int round = 0; round < 2; ++round) {
    for (const auto& [budget, period] : {std::pair{std::size_t{20'000}, std::chrono::microseconds(1'000'000)},
                                         std::pair{Limiter::kSweepSlots, std::chrono::microseconds(Limiter::kSweepPeriod)}}) {
      const ShrinkRun r = shrink(sources, budget, period);
      std::printf("  sweep(%zu) every %lld ms: %zu decisions: %s; tables %.1f MB, then %.2f MB; %zu sweep calls, "
                  "the longest %.2f ms; the longest export %.2f ms\n",
                  budget, static_cast<long long>(period.count() / 1000), r.times.decisions,
                  over_1ms_and_worst(r.times).c_str(), double(r.bytes_before) / 1e6, double(r.bytes_after) / 1e6,
                  r.sweeps, r.sweep_worst / 1e3, r.export_worst / 1e3);
    }
  }
  if (shrink_only) return 0;

  const std::size_t bound = quick ? 100'000 : 1'000'000;
  SystemClock clock;
  LimiterConfig config;
  config.max_sources = bound;
  Limiter limiter(config, clock);
  for (std::size_t i = 0; i < bound; ++i) limiter.check(nth_source(i));
  const std::size_t more = 2 * bound;
  const auto t0 = Steady::now();
  double export_s = 0;
  for (std::size_t i = bound; i < bound + more; ++i) {
    limiter.check(nth_source(i));
    if (i % 65536 == 0) {
      // As the writer does every 500 ms: the replaced sources' keys wait in the export
      // list until then (16 bytes each). Timed apart: it runs off the loops.
      const auto e0 = Steady::now();
      limiter.export_dirty([](const SourceState&) {});
      export_s += std::chrono::duration<double>(Steady::now() - e0).count();
    }
  }
  limiter.export_dirty([](const SourceState&) {});
  const double s = std::chrono::duration<double>(Steady::now() - t0).count() - export_s;
  const LimiterStats st = limiter.stats();
  std::printf("limiter at max_sources = %zu: %zu new sources in %.2f s, %.2f million/s (%.0f ns each), each "
              "replacing one; %zu tracked, %llu replaced, %.1f bytes a source\n",
              bound, more, s, double(more) / s / 1e6, s * 1e9 / double(more), st.tracked_sources,
              static_cast<unsigned long long>(st.evicted_sources), double(st.total_bytes) / double(st.tracked_sources));
  const bool right = st.tracked_sources <= bound && st.evicted_sources + st.tracked_sources == bound + more;
  if (!right) std::printf("  WRONG: the bound did not hold, or a source was neither tracked nor replaced\n");
  const bool rewrites_right = print_rewrites(sources);
  return right && rewrites_right ? 0 : 1;
}
