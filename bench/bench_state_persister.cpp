// The limiter state writer's cost (StatePersister, lib/state/state_persister.h) for
// bench/README.md: CPU of the persister's rounds per changed source and per query,
// with N active sources, on a real state.sqlite (WAL, synchronous=NORMAL).
//
// Simulated time (a ManualClock): each round, `rate x interval` queries go through
// Limiter::check() (untimed), then StatePersister::round() runs on this thread and its
// thread CPU time is measured, as the daemon's `whoisd-state` thread would spend it.
//   bench_state_persister                   the three cases below, one after the other
//   bench_state_persister --sources S       one case: S sources of 10.0.0.0/8 taking turns
//                                           (256; 65,536 as scenario 1's generator;
//                                           1,000,000 as scenario 3: each query a new
//                                           source until the million is reached)
//   --rate Q         queries a second (default 20,700: scenario 1's rate)
//   --interval-ms I  the persister's interval (default: StatePersisterOptions' default)
//   --seconds T      simulated seconds measured (default 120: two minutes, two folds)
//   --history H      each source starts with H minutes of earlier queries in its window
//                    (default 0; 1,000 is a busy source near the limit, whose whole
//                    minutes list is rewritten whenever it changes)
//   DIR              where the state databases go, DIR/sources-S/ (default: a new directory in
//                    /tmp, removed at the end)
// Before the timed rounds, every source is queried once and written, and at least a
// minute is simulated (untimed warm-up), so that the state file holds every source's
// row as a running daemon's would.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/clock.h"
#include "policy/limiter.h"
#include "state/source_state_table.h"
#include "state/state_db.h"
#include "state/state_persister.h"

using namespace whoisd;

namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Case {
  std::uint64_t sources = 65'536;
  double rate = 20'700;
  std::chrono::milliseconds interval = StatePersisterOptions{}.interval;
  int seconds = 120;
  int history = 0;
};

// The address of the i-th query: the S sources of 10.0.0.0/8 in turn, scattered (an odd
// multiplier modulo 2^24: S <= 2^24 distinct addresses).
IpAddress client_of(std::uint64_t i, std::uint64_t sources) {
  return IpAddress::v4(0x0a000000u + static_cast<std::uint32_t>((i % sources) * 2654435761u & 0x00ffffffu));
}

int run_case(const std::string& parent, const Case& c) {
  const std::string dir = parent + "/sources-" + std::to_string(c.sources);
  std::filesystem::remove_all(dir);
  const std::string path = state_db_path(dir);
  StateDb::open(path, StateDb::Mode::create);
  ManualClock clock;
  LimiterConfig config;
  config.queries = 1'000'000'000;  // every source under the limit, as in scenario 1
  Limiter limiter(config, clock);

  if (c.history > 0) {
    // A daemon that has run for a day: each source's window already holds `history`
    // minutes, in the limiter and in source_state.
    StateDb db = StateDb::open(path, StateDb::Mode::read_write);
    SourceStateTable table(db);
    StateDb::Transaction tx(db);
    const std::int64_t now_minute = clock.now() / 60;
    SourceState state;
    for (std::uint64_t s = 0; s < c.sources; ++s) {
      state.key = source_key(client_of(s, c.sources), 64);
      state.minutes.clear();
      for (int m = c.history; m >= 1; --m)
        state.minutes.push_back({now_minute - 1 - static_cast<std::int64_t>(m) * 1439 / c.history, 1});
      state.minutes.erase(std::unique(state.minutes.begin(), state.minutes.end(),
                                      [](const MinuteCount& a, const MinuteCount& b) { return a.minute == b.minute; }),
                          state.minutes.end());
      limiter.import(state);
      table.write(state, clock.now());
    }
    tx.commit();
  }

  StatePersisterOptions options;
  options.interval = c.interval;
  StatePersister persister(path, limiter, clock, options);
  persister.load();

  const double interval_s = static_cast<double>(c.interval.count()) / 1000.0;
  const auto per_round = static_cast<std::uint64_t>(c.rate * interval_s + 0.5);
  std::uint64_t query = 0;
  double sim_ms = 0;  // simulated time since the start, ms
  auto one_round = [&](bool timed, double& cpu) {
    for (std::uint64_t i = 0; i < per_round; ++i) limiter.check(client_of(query++, c.sources));
    sim_ms += static_cast<double>(c.interval.count());
    clock.set(ManualClock().now() + static_cast<std::int64_t>(sim_ms / 1000.0));
    double t0 = timed ? thread_cpu_seconds() : 0;
    persister.round();
    if (timed) cpu += thread_cpu_seconds() - t0;
  };

  // Warm-up: every source queried and written once, and a minute and a round (the
  // persister's folds, StatePersisterOptions::fold_every), whichever is more.
  double untimed = 0;
  const std::uint64_t warm_rounds =
      std::max<std::uint64_t>(60'000 / static_cast<std::uint64_t>(c.interval.count()) + 1,
                              (c.sources + per_round - 1) / per_round);
  auto wall0 = std::chrono::steady_clock::now();
  for (std::uint64_t r = 0; r < warm_rounds; ++r) one_round(false, untimed);
  double warm_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();

  const StatePersisterStats before = persister.stats();
  const std::uint64_t rounds = static_cast<std::uint64_t>(c.seconds * 1000 / c.interval.count());
  double cpu = 0;
  const std::uint64_t first_query = query;
  for (std::uint64_t r = 0; r < rounds; ++r) one_round(true, cpu);
  const StatePersisterStats after = persister.stats();
  persister.stop();

  const std::uint64_t changed = after.sources_written - before.sources_written;
  const std::uint64_t queries = query - first_query;
  std::printf(
      "state persister: sources %llu, %.0f queries/s, interval %lld ms, history %d min: %llu rounds (%d s simulated) "
      "after %llu warm-up rounds (%.1f s)\n",
      static_cast<unsigned long long>(c.sources), c.rate, static_cast<long long>(c.interval.count()), c.history,
      static_cast<unsigned long long>(rounds), c.seconds, static_cast<unsigned long long>(warm_rounds), warm_wall);
  std::printf(
      "state persister:   %.0f changed sources a round; CPU %.2f ms a round = %.2f us per changed source = %.3f us "
      "per query; file %.1f MB + WAL %.1f MB\n",
      static_cast<double>(changed) / static_cast<double>(rounds), cpu * 1e3 / static_cast<double>(rounds),
      changed ? cpu * 1e6 / static_cast<double>(changed) : 0.0, cpu * 1e6 / static_cast<double>(queries),
      static_cast<double>(std::filesystem::file_size(path)) / 1e6,
      std::filesystem::exists(path + "-wal") ? static_cast<double>(std::filesystem::file_size(path + "-wal")) / 1e6
                                             : 0.0);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Case c;
  bool one_case = false;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--sources" && has_value) {
      c.sources = std::max<std::uint64_t>(1, std::strtoull(argv[++i], nullptr, 10));
      one_case = true;
    } else if (a == "--rate" && has_value) {
      c.rate = std::max(1.0, std::atof(argv[++i]));
    } else if (a == "--interval-ms" && has_value) {
      c.interval = std::chrono::milliseconds(std::clamp(std::atoi(argv[++i]), 10, 1000));
    } else if (a == "--seconds" && has_value) {
      c.seconds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--history" && has_value) {
      c.history = std::clamp(std::atoi(argv[++i]), 0, 1439);
    } else if (!a.empty() && a[0] != '-') {
      dir = a;
    } else {
      std::fprintf(stderr, "bench_state_persister: unknown or incomplete argument '%s' (see the source's header)\n",
                   a.c_str());
      return 2;
    }
  }
  bool own_dir = dir.empty();
  if (own_dir) {
    char tmpl[] = "/tmp/whoisd-bench-state-XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
  }
  int rc = 0;
  try {
    if (one_case) {
      rc = run_case(dir, c);
    } else {
      for (std::uint64_t s : {std::uint64_t{256}, std::uint64_t{65'536}, std::uint64_t{1'000'000}}) {
        c.sources = s;
        rc |= run_case(dir, c);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_state_persister: %s\n", e.what());
    rc = 1;
  }
  if (own_dir) std::filesystem::remove_all(dir);
  return rc;
}
