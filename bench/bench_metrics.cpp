// What a metric update costs on the hot path (every answer bumps a counter and observes
// the answer time), alone and with several threads bumping the same series, and what a
// scrape of the daemon's families costs. Usage: bench_metrics [--quick]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "server/metrics.h"

using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Runs `work(i)` n times on each of `threads` threads; returns ns per operation per thread.
template <typename Work>
double per_op_ns(int threads, long n, Work work) {
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (long i = 0; i < n; ++i) work(i);
    });
  for (auto& t : pool) t.join();
  return seconds_since(start) * 1e9 / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const long n = quick ? 1'000'000 : 20'000'000;
  const unsigned cores = std::thread::hardware_concurrency();

  whoisd::MetricsRegistry registry;
  whoisd::SystemClock clock;
  whoisd::DaemonMetrics metrics(registry, clock);
  whoisd::Counter& found = metrics.query(whoisd::MetricsOutcome::found);

  std::printf("bench_metrics: %ld operations per thread, %u cores\n", n, cores);
  for (int threads : {1, 2, 4}) {
    const double inc = per_op_ns(threads, n, [&](long) { found.inc(); });
    const double observe = per_op_ns(threads, n, [&](long i) { metrics.answer_seconds.observe(1e-6 * (i % 2000)); });
    std::printf("  %d thread(s): counter inc %.1f ns, histogram observe %.1f ns (same series on every thread)\n", threads,
                inc, observe);
  }
  const int scrapes = quick ? 1000 : 20000;
  std::size_t bytes = 0;
  const auto start = Clock::now();
  for (int i = 0; i < scrapes; ++i) bytes = registry.render().size();
  std::printf("  render of the daemon's families: %.1f us per scrape (%zu bytes)\n",
              seconds_since(start) * 1e6 / scrapes, bytes);
  return 0;
}
