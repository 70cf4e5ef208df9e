// Query-log figures for bench/README.md: the writer's sustained rows a second into a
// real state database (batched transactions, WAL, synchronous=NORMAL, both indexes),
// and what record() costs the event-loop thread that calls it.
//   bench_query_log            full run (2,000,000 queries from 2 threads)
//   bench_query_log --quick    short run (200,000 queries)
//   bench_query_log DIR        put the state database in DIR (default: a new directory in /tmp)
//   bench_query_log --sources S  queries from S sources of 10.0.0.0/8 in turn (default: the 256
//                              addresses of 192.0.2.0/24), e.g. 1000000: nearly every row of a
//                              batch its own source, the worst case of the writer's counts
//                              for query_counts (most keys per flush)
//   bench_query_log --top DIR [--rows N] [--days D] [--sources S]
//                              whoisd-admin top's time (top_sources) over 1 h, 24 h, 7 d and
//                              30 d of the log in DIR/state.sqlite; when the file does not
//                              exist, first writes a log of N rows (default 10,000,000) over
//                              the D days (default 30) before now, from S sources (default
//                              100,000) with Zipf-distributed activity (the k-th busiest makes
//                              1/k of the first's queries). The file is kept for the next run.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "state/query_counts.h"
#include "state/query_log.h"
#include "state/sqlite_statement.h"
#include "state/state_db.h"
#include "state/state_reports.h"

using namespace whoisd;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

// A query log of `rows` rows spread evenly over the `days` before now, written
// straight into query_log (one transaction per 100,000 rows), in time order, then
// counted into query_counts.
void write_big_log(const std::string& path, std::int64_t rows, int days, int sources) {
  StateDb db = StateDb::open(path, StateDb::Mode::create);
  // Zipf: source k (from 1) is drawn with weight 1/k.
  std::vector<double> cdf(static_cast<std::size_t>(sources));
  double sum = 0;
  for (int k = 0; k < sources; ++k) cdf[static_cast<std::size_t>(k)] = sum += 1.0 / (k + 1);
  const char* kOutcomes[] = {"found", "found", "found", "found", "found", "found", "no_match", "no_match", "invalid",
                             "suspended"};
  SqliteStatement insert(db,
                         "INSERT INTO query_log (time_us, source, client, proxy_peer, query, outcome, answer_us) "
                         "VALUES (?, ?, ?, NULL, ?, ?, ?)");
  const std::int64_t span_us = std::int64_t{days} * 86'400'000'000;
  const std::int64_t start_us = unix_now_us() - span_us;
  std::uint64_t rng = 1;
  auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t at = 0; at < rows;) {
    StateDb::Transaction tx(db);
    for (std::int64_t end = std::min(rows, at + 100'000); at < end; ++at) {
      double u = static_cast<double>(splitmix(rng) >> 11) * 0x1.0p-53 * sum;
      auto k = static_cast<std::uint32_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
      std::uint32_t address = 0x0a000000u + k * 2654435761u % 0x00ffffffu;  // 10.x.y.z, scattered
      std::string source = std::to_string(address >> 24) + "." + std::to_string((address >> 16) & 255) + "." +
                           std::to_string((address >> 8) & 255) + "." + std::to_string(address & 255);
      std::uint64_t r = splitmix(rng);
      insert.bind(1, start_us + static_cast<std::int64_t>(static_cast<double>(span_us) * static_cast<double>(at) / static_cast<double>(rows)))
          .bind(2, source)
          .bind(3, source)
          .bind(4, "dominio-" + std::to_string(r % 100'000) + ".pt")
          .bind(5, kOutcomes[(r >> 32) % 10])
          .bind(6, static_cast<std::int64_t>(20 + (r >> 40) % 50));
      insert.run();
    }
    tx.commit();
  }
  {
    // What the writer would have counted, had the rows come through it.
    StateDb::Transaction tx(db);
    rebuild_query_counts(db);
    tx.commit();
  }
  std::printf("top: wrote %lld rows over %d days from %d sources in %.1f s\n", static_cast<long long>(rows), days,
              sources, seconds_since(t0));
}

// Times top_sources (whoisd-admin top, --limit 20) over periods ending now.
int run_top(const std::string& dir, std::int64_t rows, int days, int sources) {
  const std::string path = state_db_path(dir);
  if (!std::filesystem::exists(path)) write_big_log(path, rows, days, sources);
  {
    // The daemon's open: creates, checks (and upgrades) the schema.
    auto t0 = std::chrono::steady_clock::now();
    StateDb::open(path, StateDb::Mode::create);
    std::printf("top: the daemon's open of the state database took %.2f s\n", seconds_since(t0));
  }
  StateDb db = StateDb::open(path, StateDb::Mode::read_only);
  struct Period {
    const char* name;
    std::int64_t seconds;
  };
  for (Period p : {Period{"1h", 3600}, Period{"24h", 86'400}, Period{"7d", 7 * 86'400}, Period{"30d", 30 * 86'400}}) {
    std::vector<double> times;
    std::int64_t first_queries = 0;
    for (int run = 0; run < 5; ++run) {
      auto t0 = std::chrono::steady_clock::now();
      auto top = top_sources(db, unix_now_us() - p.seconds * 1'000'000, 20);
      times.push_back(seconds_since(t0));
      first_queries = top.empty() ? 0 : top.front().queries;
    }
    std::sort(times.begin(), times.end());
    std::printf("top --since %-3s: median %.3f s (min %.3f, max %.3f; 5 runs, warm cache), busiest source %lld queries\n",
                p.name, times[2], times.front(), times.back(), static_cast<long long>(first_queries));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string dir, top_dir;
  std::int64_t top_rows = 10'000'000;
  int top_days = 30, top_sources_count = 100'000;
  std::uint64_t writer_sources = 0;  // 0: the 256 addresses of 192.0.2.0/24
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--quick")
      quick = true;
    else if (a == "--top" && has_value)
      top_dir = argv[++i];
    else if (a == "--rows" && has_value)
      top_rows = std::atoll(argv[++i]);
    else if (a == "--days" && has_value)
      top_days = std::atoi(argv[++i]);
    else if (a == "--sources" && has_value)
      writer_sources = static_cast<std::uint64_t>(top_sources_count = std::max(1, std::atoi(argv[++i])));
    else
      dir = a;
  }
  if (!top_dir.empty()) {
    try {
      return run_top(top_dir, std::max<std::int64_t>(top_rows, 1), std::max(top_days, 1), std::max(top_sources_count, 1));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_query_log: %s\n", e.what());
      return 1;
    }
  }
  bool own_dir = dir.empty();
  if (own_dir) {
    char tmpl[] = "/tmp/whoisd-bench-query-log-XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
  }
  const std::string path = state_db_path(dir);
  const int threads = 2;
  const std::int64_t total = quick ? 200'000 : 2'000'000;
  const std::int64_t per_thread = total / threads;

  try {
    StateDb::open(path, StateDb::Mode::create);
    QueryLogOptions options;
    QueryLog log(path, options);
    log.start();

    // Producers keep the backlog below capacity (as a daemon under its sustainable
    // load would), so the figure is the writer's rate, not a count of drops.
    std::atomic<std::int64_t> record_ns{0};
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> producers;
    for (int t = 0; t < threads; ++t)
      producers.emplace_back([&, t] {
        std::int64_t ns = 0;
        const std::int64_t base_us = unix_now_us();
        for (std::int64_t i = 0; i < per_thread; ++i) {
          while (log.counters().backlog > options.capacity * 3 / 4) std::this_thread::sleep_for(std::chrono::microseconds(200));
          QueryLogEntry e;
          e.time_us = base_us + i;
          e.client = writer_sources == 0
                         ? IpAddress::v4(0xc0000200u + static_cast<std::uint32_t>((i * 7 + t) & 0xff))  // 192.0.2.x
                         : IpAddress::v4(0x0a000000u + static_cast<std::uint32_t>(
                                                           (static_cast<std::uint64_t>(i) * 2654435761u + t) % writer_sources));
          e.query = "dominio-" + std::to_string(i % 100'000) + ".pt";
          e.outcome = i % 10 == 0 ? QueryOutcome::no_match : QueryOutcome::found;
          e.answer_us = static_cast<std::uint32_t>(20 + i % 50);
          auto t0 = std::chrono::steady_clock::now();
          log.record(std::move(e));
          ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
        }
        record_ns += ns;
      });
    for (auto& p : producers) p.join();
    log.stop();
    double secs = seconds_since(start);
    auto c = log.counters();
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                 static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    std::printf("query log: %lld rows written in %.2f s = %.0f rows/s sustained (%d producer threads, batch %zu)\n",
                static_cast<long long>(c.written), secs, static_cast<double>(c.written) / secs, threads, options.batch);
    std::printf("query log: %.2f CPU s in all (writer and producers) = %.0f rows per CPU second\n", cpu,
                static_cast<double>(c.written) / cpu);
    std::printf("query log: record() %.0f ns per call on the calling thread (mean, including the clock reads)\n",
                static_cast<double>(record_ns.load()) / static_cast<double>(total));
    std::printf("query log: dropped %llu, write errors %llu, file %.1f MB (%.0f bytes a row with indexes)\n",
                static_cast<unsigned long long>(c.dropped), static_cast<unsigned long long>(c.write_errors),
                static_cast<double>(std::filesystem::file_size(path)) / 1e6,
                static_cast<double>(std::filesystem::file_size(path)) / static_cast<double>(c.written ? c.written : 1));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_query_log: %s\n", e.what());
    return 1;
  }
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}
