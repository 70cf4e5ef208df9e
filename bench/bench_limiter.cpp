// Limiter figures for bench/README.md: decisions a second on one core across
// 1,000,000 sources, and the bytes each tracked source costs.
//   bench_limiter            full run (1,000,000 sources, 20,000,000 decisions)
//   bench_limiter --quick    short run (200,000 sources, 2,000,000 decisions)
// Every timed phase is checked against a model of what the limiter must answer (the
// default limit is never reached here: every decision allows, and counts one more
// query than the source had): a wrong decision fails the run (exit 1).
#include <x86intrin.h>

#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <vector>

#include "policy/limiter.h"

using namespace whoisd;

namespace {

// CPU time of this thread: the machine is shared, and "on one core" means the
// time the core actually spent on us.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}
double seconds_since(double start) { return cpu_seconds() - start; }

// The part of this thread's CPU time spent in the kernel (here: page faults, e.g. the
// first write to a fresh 2 MB huge page, ~4 ms each on the development VM).
double system_seconds() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return double(ru.ru_stime.tv_sec) + double(ru.ru_stime.tv_usec) / 1e6;
}

// Memory of this process in transparent huge pages (the limiter asks for them for its
// big tables and its record arena; the kernel may or may not grant them).
double huge_page_mb() {
  std::FILE* f = std::fopen("/proc/self/smaps_rollup", "r");
  if (!f) return -1;
  char line[256];
  double kb = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "AnonHugePages: %lf kB", &kb) == 1) break;
  std::fclose(f);
  return kb / 1024;
}

// Anonymous memory resident in this process (/proc/self/status RssAnon), in bytes: the
// limiter's tables are mapped by it, not by malloc, so malloc's own figures miss them.
std::size_t resident_anon() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  std::size_t kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "RssAnon: %zu kB", &kb) == 1) break;
  std::fclose(f);
  return kb * 1024;
}

struct XorShift {
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const std::size_t sources = quick ? 200'000 : 1'000'000;
  const std::size_t decisions = quick ? 2'000'000 : 20'000'000;

  // 80 % IPv4 addresses, 20 % IPv6 /64s (each reached through a varying interface id).
  // Computed, not looked up in a table: the daemon gets the address from its socket,
  // so a table here would add a cache miss per decision that the daemon does not pay.
  XorShift rng;
  auto client = [&](std::size_t i) {
    if (i % 5 != 4) return IpAddress::v4(0x0A000000u + static_cast<std::uint32_t>(i * 2654435761u % 0xF0000000u));
    std::array<std::uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8};
    auto net = static_cast<std::uint32_t>(i);
    std::memcpy(b.data() + 4, &net, 4);
    std::uint64_t iid = rng.s;
    std::memcpy(b.data() + 8, &iid, 8);
    return IpAddress::v6(b);
  };

  ManualClock clock;
  std::size_t rss_before = resident_anon();
  Limiter limiter(LimiterConfig{}, clock);

  // Phase 1: every source makes a few queries (1 to 4) over an hour; the first round
  // inserts them all (the tables grow as they would in the daemon). The export after
  // each round is timed apart, as in phase 2.
  // What each source has made so far (nothing leaves the 24 h window during the run),
  // and the check of a phase: `counts` is the sum of Decision::count over its
  // decisions, `answered` how many were answered; `replay` calls its argument with the
  // source of each decision, in order, untimed.
  std::vector<std::uint32_t> model(sources, 0);
  bool wrong = false;
  auto verify = [&](const char* phase, std::uint64_t counts, std::uint64_t answered, std::uint64_t decisions_made,
                    auto&& replay) {
    std::uint64_t expected = 0;
    replay([&](std::size_t i) { expected += ++model[i]; });
    if (counts == expected && answered == decisions_made) return;
    std::printf("  WRONG DECISIONS in %s: %llu answered of %llu, counts sum to %llu instead of %llu\n", phase,
                static_cast<unsigned long long>(answered), static_cast<unsigned long long>(decisions_made),
                static_cast<unsigned long long>(counts), static_cast<unsigned long long>(expected));
    wrong = true;
  };
  auto fill_round_skips = [](std::size_t i, int round) {
    return round > 0 && (i * 7 + static_cast<std::size_t>(round)) % 4 < static_cast<std::size_t>(round);
  };

  double start = cpu_seconds();
  double fill_export_s = 0;
  std::size_t made = 0;
  std::uint64_t fill_counts = 0, fill_answered = 0;
  for (int round = 0; round < 4; ++round) {
    for (std::size_t i = 0; i < sources; ++i) {
      if (fill_round_skips(i, round)) continue;
      Decision d = limiter.check(client(i));
      fill_counts += d.count;
      fill_answered += d.answered();
      ++made;
    }
    clock.advance(900);
    double t = cpu_seconds();
    limiter.export_dirty([](const SourceState&) {});  // as lib/state does every second
    fill_export_s += seconds_since(t);
  }
  double fill_s = seconds_since(start) - fill_export_s;
  verify("the fill", fill_counts, fill_answered, made, [&](auto&& decided) {
    for (int round = 0; round < 4; ++round)
      for (std::size_t i = 0; i < sources; ++i)
        if (!fill_round_skips(i, round)) decided(i);
  });
  auto st = limiter.stats();
  std::size_t rss_after = resident_anon();
  std::printf("limiter: %zu sources, %zu queries to fill (%.2f per source) in %.2f s CPU: %.2f million/s "
              "(%.0f ns each); with the exports on the same core %.2f million/s\n",
              st.tracked_sources, made, double(made) / double(st.tracked_sources), fill_s, double(made) / fill_s / 1e6,
              fill_s * 1e9 / double(made), double(made) / (fill_s + fill_export_s) / 1e6);
  std::printf("  own accounting: %.1f bytes/source (tables %.1f, heap records %.1f; %zu heavy sources)\n",
              double(st.total_bytes) / double(st.tracked_sources), double(st.table_bytes) / double(st.tracked_sources),
              double(st.heavy_bytes) / double(st.tracked_sources), st.heavy_sources);
  std::printf("  the process's resident anonymous memory grew by %.1f bytes/source\n",
              double(rss_after - rss_before) / double(st.tracked_sources));

  // Phase 2: decisions across all sources in random order, time moving on, with the
  // state export lib/state makes (every second there, on its own thread; here every
  // 2^20 decisions, on this one, timed apart). `fenced`: an lfence after each
  // decision, so that the CPU cannot start the next decision's cache misses before
  // this one's are done: in the daemon a whole query's work separates two decisions,
  // so this latency-bound rate is the one a loop sees.
  //
  // `ahead` > 0: the daemon's pattern with Limiter::prefetch(). The daemon knows a
  // client's address at accept4() and prefetches its slot there; check() comes after
  // the connection is set up, a recv() system call (~1 us by itself) and the line's
  // framing, so the slot's miss (~160-230 ns here) has long finished when check()
  // runs. Here there is nothing between two decisions but the decisions, so the
  // prefetch is issued `ahead` decisions early instead: the time it has to complete
  // is `ahead` decisions' time (8 x ~60-100 ns is less than the daemon's recv alone).
  // The addresses wait in a small ring, as the daemon keeps them in its connections,
  // and the prefetches' own cost is timed with the decisions. Only decisions are
  // counted, and they are one at a time when `fenced` (an lfence does not wait for a
  // prefetch, which is not ordered with it, so the miss still overlaps).
  std::vector<std::uint32_t> order(1 << 20);
  for (auto& o : order) o = static_cast<std::uint32_t>(rng.next() % sources);
  const std::size_t order_mask = order.size() - 1;
  constexpr std::size_t kRing = 32;  // addresses accepted and not yet decided, at most
  auto decide = [&](std::size_t count, bool fenced, std::size_t ahead) {
    double export_s = 0, exported = 0;
    std::uint64_t counts = 0, answered = 0;
    IpAddress ring[kRing];
    for (std::size_t n = 0; n < ahead; ++n) {
      ring[n % kRing] = client(order[n & order_mask]);
      limiter.prefetch(ring[n % kRing]);
    }
    const std::size_t heavy_bytes_before = limiter.stats().heavy_bytes;
    double export_system_s = 0;
    const double system_before = system_seconds();
    start = cpu_seconds();
    for (std::size_t n = 0; n < count; ++n) {
      if ((n & 0xFFFF) == 0) clock.advance(1);
      Decision d;
      if (ahead) {
        IpAddress& next = ring[(n + ahead) % kRing];
        next = client(order[(n + ahead) & order_mask]);
        limiter.prefetch(next);
        d = limiter.check(ring[n % kRing]);
      } else {
        d = limiter.check(client(order[n & order_mask]));
      }
      counts += d.count;
      answered += d.answered();
      if (fenced) _mm_lfence();
      if ((n & 0xFFFFF) == 0xFFFFF) {
        double t = cpu_seconds();
        double system_t = system_seconds();
        exported += double(limiter.export_dirty([](const SourceState&) {}));
        export_system_s += system_seconds() - system_t;
        export_s += seconds_since(t);
      }
    }
    double total_s = seconds_since(start);
    const double system_s = system_seconds() - system_before;
    double decide_s = total_s - export_s;
    char how[96] = "";
    if (ahead)
      std::snprintf(how, sizeof how, ", %seach slot prefetched %zu decisions ahead", fenced ? "one at a time (lfence), " : "",
                    ahead);
    else if (fenced)
      std::snprintf(how, sizeof how, ", one at a time (lfence)");
    std::printf("  %zu decisions across %zu sources%s: %.2f million/s on one core (%.0f ns each); "
                "with the export of their %.0f dirty states on the same core %.2f million/s (%.0f ns an exported state)\n",
                count, sources, how, double(count) / decide_s / 1e6, decide_s * 1e9 / double(count), exported,
                double(count) / total_s / 1e6, export_s * 1e9 / exported);
    // Why one run may differ from the next (bench/README.md): kernel time in the
    // decisions, e.g. page faults when heavy records outgrow their blocks.
    std::printf("    system time: decisions %.3f s, exports %.3f s; heavy records grew by %.1f MB\n",
                system_s - export_system_s, export_system_s,
                (double(limiter.stats().heavy_bytes) - double(heavy_bytes_before)) / 1e6);
    verify("random order", counts, answered, count, [&](auto&& decided) {
      for (std::size_t n = 0; n < count; ++n) decided(order[n & order_mask]);
    });
  };
  decide(decisions, false, 0);
  st = limiter.stats();
  std::printf("  after: %.1f bytes/source (own accounting), %zu heavy sources; %.0f MB in huge pages\n",
              double(st.total_bytes) / double(st.tracked_sources), st.heavy_sources, huge_page_mb());
  decide(decisions / 2, true, 0);
  // The daemon's pattern (see above): the headline with 8 ahead, the same length as
  // the cold one-at-a-time run before it; then how it depends on how early the
  // prefetch comes, cold runs in between. Each of those runs is one simulated minute
  // (60 x 65536 decisions), so that each crosses one minute boundary at the same
  // point (where heavy sources touch their records): otherwise runs that happen to
  // cross none would look faster. (--quick: a quarter of a minute.)
  decide(decisions / 2, true, 8);
  const std::size_t minute_run = quick ? 60 * 65536 / 4 : 60 * 65536;
  for (std::size_t ahead : {0, 1, 2, 0, 4, 8, 16, 0}) decide(minute_run, true, ahead);

  // Phase 3: one source hot in cache, for the cost of the logic itself.
  auto hot = client(0);
  LimiterConfig unlimited;
  unlimited.queries = 0xFFFFFFFFu;
  Limiter hot_limiter(unlimited, clock);
  std::uint64_t hot_counts = 0, hot_answered = 0;
  start = cpu_seconds();
  for (std::size_t n = 0; n < decisions; ++n) {
    if ((n & 0xFFFF) == 0) clock.advance(1);
    Decision d = hot_limiter.check(hot);
    hot_counts += d.count;
    hot_answered += d.answered();
  }
  double decide_s = seconds_since(start);
  std::printf("  one hot source: %.2f million decisions/s\n", double(decisions) / decide_s / 1e6);
  if (hot_answered != decisions || hot_counts != std::uint64_t{decisions} * (decisions + 1) / 2) {
    std::printf("  WRONG DECISIONS for the hot source\n");
    wrong = true;
  }

  // Phase 4: a day later, a full sweep forgets them all, in bounded steps.
  clock.advance(2 * 86400);
  start = cpu_seconds();
  std::size_t forgotten = 0, calls = 0;
  while (limiter.tracked_sources() > 0) {
    forgotten += limiter.sweep(4096);
    ++calls;
  }
  double sweep_s = seconds_since(start);
  std::printf("  sweep: forgot %zu sources in %zu calls of 4096 slots, %.1f ms (%.1f us a call)\n", forgotten, calls,
              sweep_s * 1e3, sweep_s * 1e6 / double(calls));
  if (forgotten != sources) wrong = true;
  std::printf(wrong ? "  DECISIONS WRONG: see above\n" : "  every decision checked against the model: correct\n");
  return wrong ? 1 : 0;
}
