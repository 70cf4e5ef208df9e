// Query-log figures for bench/README.md: the writer's sustained rows a second into a
// real state database (batched transactions, WAL, synchronous=NORMAL, both indexes),
// and what record() costs the event-loop thread that calls it.
//   bench_query_log            full run (2,000,000 queries from 2 threads)
//   bench_query_log --quick    short run (200,000 queries)
//   bench_query_log DIR        put the state database in DIR (default: a new directory in /tmp)
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "state/query_log.h"
#include "state/state_db.h"

using namespace whoisd;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick")
      quick = true;
    else
      dir = a;
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
          e.client = IpAddress::v4(0xc0000200u + static_cast<std::uint32_t>((i * 7 + t) & 0xff));  // 192.0.2.x
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
