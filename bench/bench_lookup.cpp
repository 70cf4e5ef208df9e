// Snapshot lookups per second by A-label, random keys, one thread (bench/README.md,
// "Snapshot lookups").
//   bench_lookup [--quick] [--snapshot FILE] [--domains N] [--lookups N]
// Without --snapshot it uses the cache of bench/run.sh, $WHOISD_BENCH_CACHE (default
// /var/tmp/whoisd-bench)/pt-<N>-seed1-schema<V>.sqlite, generating it (seed 1) when it is
// missing, invalid for this build or does not hold N domains; --quick is 10,000 domains
// and 200,000 lookups.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "snapshot/snapshot_generator.h"
#include "snapshot/snapshot_schema.h"
#include "snapshot/snapshot_store.h"
#include "snapshot/sqlite_handle.h"

namespace {

std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// CPU time of this thread: on a shared machine, wall time also counts other processes.
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t domains = 1000000;
  std::int64_t lookups = 2000000;
  std::string snapshot;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_lookup: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--quick") {
      domains = 10000;
      lookups = 200000;
    } else if (arg == "--snapshot") {
      snapshot = value();
    } else if (arg == "--domains") {
      domains = std::atoll(value().c_str());
    } else if (arg == "--lookups") {
      lookups = std::atoll(value().c_str());
    } else {
      std::fprintf(stderr, "usage: bench_lookup [--quick] [--snapshot FILE] [--domains N] [--lookups N]\n");
      return 2;
    }
  }
  if (domains < 1 || lookups < 1) {
    std::fprintf(stderr, "bench_lookup: --domains and --lookups must be positive\n");
    return 2;
  }
  if (snapshot.empty()) {
    const char* cache = std::getenv("WHOISD_BENCH_CACHE");
    const std::string dir = cache != nullptr && *cache != '\0' ? cache : "/var/tmp/whoisd-bench";
    std::filesystem::create_directories(dir);
    snapshot = dir + "/pt-" + std::to_string(domains) + "-seed1-schema" + std::to_string(whoisd::kSnapshotSchemaVersion) +
               ".sqlite";
  }

  try {
    bool reuse = false;
    try {
      reuse = whoisd::validate_snapshot(snapshot, false).domains == domains;
    } catch (const whoisd::SnapshotError&) {
    }
    if (!reuse) {
      std::printf("generating %s (%lld domains, seed 1)...\n", snapshot.c_str(), static_cast<long long>(domains));
      std::fflush(stdout);
      auto start = std::chrono::steady_clock::now();
      whoisd::GeneratorOptions options;
      options.domains = domains;
      whoisd::generate_snapshot(snapshot, options);
      std::printf("generated in %.1f s\n", seconds_since(start));
    }

    // The keys: every A-label in the file, then drawn at random.
    std::vector<std::string> keys;
    {
      whoisd::sqlite::Db db =
          whoisd::sqlite::open(whoisd::sqlite::immutable_uri(snapshot), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
      whoisd::sqlite::Stmt stmt = whoisd::sqlite::prepare(db.get(), "SELECT a_label FROM domains");
      while (sqlite3_step(stmt.get()) == SQLITE_ROW) keys.emplace_back(whoisd::sqlite::column_text(stmt.get(), 0));
    }
    std::uint64_t state = 42;
    std::vector<std::uint32_t> order(static_cast<std::size_t>(lookups));
    for (auto& k : order) k = static_cast<std::uint32_t>(splitmix(state) % keys.size());

    whoisd::SnapshotStore store(snapshot);
    auto open_start = std::chrono::steady_clock::now();
    store.open();
    const double open_seconds = seconds_since(open_start);
    const whoisd::SnapshotInfo info = store.info();

    // Warm the page cache of the kernel and the mappings (one pass over the keys'
    // first hundred thousand), as a daemon that has been serving for a while would be.
    std::size_t found = 0, names = 0, fields = 0;
    for (std::size_t i = 0; i < std::min<std::size_t>(keys.size(), 100000); ++i) found += store.lookup(keys[i]) ? 1 : 0;

    found = 0;
    auto start = std::chrono::steady_clock::now();
    double cpu_start = thread_cpu_seconds();
    // The server's path: one PublishedDomain per thread, decoded into again and again.
    whoisd::PublishedDomain d;
    for (std::uint32_t k : order) {
      if (store.lookup(keys[k], d)) {
        ++found;
        names += d.name_servers.size();
        fields += d.registrant.name.size();
      }
    }
    const double hit_seconds = seconds_since(start);
    const double hit_cpu = thread_cpu_seconds() - cpu_start;

    // Names that are not registered (the other common answer).
    const std::int64_t misses = std::min<std::int64_t>(lookups, 500000);
    std::size_t missing_found = 0;
    start = std::chrono::steady_clock::now();
    cpu_start = thread_cpu_seconds();
    for (std::int64_t i = 0; i < misses; ++i) {
      std::string name = "nao-registado-" + std::to_string(splitmix(state) % 100000000) + ".pt";
      missing_found += store.lookup(name, d) ? 1 : 0;
    }
    const double miss_seconds = seconds_since(start);
    const double miss_cpu = thread_cpu_seconds() - cpu_start;

    if (found != order.size() || missing_found != 0) {
      std::fprintf(stderr, "bench_lookup: %zu of %zu keys found, %zu unregistered names found\n", found,
                   order.size(), missing_found);
      return 1;
    }
    std::printf("snapshot: %s, %lld domains, %lld bytes, opened and validated in %.3f s\n", snapshot.c_str(),
                static_cast<long long>(info.domains), static_cast<long long>(info.file_bytes), open_seconds);
    const double n = static_cast<double>(lookups), m = static_cast<double>(misses);
    std::printf("registered, random keys: %lld lookups, %.0f lookups/s of CPU time (%.2f us each), "
                "%.0f lookups/s of wall time; %.2f name servers each\n",
                static_cast<long long>(lookups), n / hit_cpu, hit_cpu * 1e6 / n, n / hit_seconds,
                static_cast<double>(names) / static_cast<double>(found));
    std::printf("not registered:          %lld lookups, %.0f lookups/s of CPU time (%.2f us each), "
                "%.0f lookups/s of wall time\n",
                static_cast<long long>(misses), m / miss_cpu, miss_cpu * 1e6 / m, m / miss_seconds);
    (void)fields;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_lookup: %s\n", e.what());
    return 1;
  }
  return 0;
}
