// Swapping snapshots: a new file renamed over the path replaces the old one on reload;
// lookups running meanwhile are each answered wholly from one file; a bad file is
// refused and the old one keeps serving.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <thread>

#include "snapshot/snapshot_store.h"
#include "snapshot_test_util.h"
#include "support/fixture_snapshot.h"
#include "support/temp_dir.h"

using whoisd::PublishedDomain;
using whoisd::SnapshotStore;
using whoisd::test::TempDir;

namespace {

// Version B of the fixture: every domain and contact value that a lookup returns is
// marked, so a lookup that mixed the two files would show a partial mark. Glue is
// marked with addresses that are still addresses (build refuses any other): IPv4 in
// 10.0.0.0/8 (the fixture's are in the documentation networks), IPv6 in fd0b::/16; DS
// digests end in BB instead of their last octet (their length is their type's).
const char* const kMarkB =
    "UPDATE domains SET status = 'B'; "
    "UPDATE contacts SET name = name || ' [B]', email = email || ' [B]', address = address || ' [B]'; "
    "UPDATE name_servers SET host = 'swap-b.' || host; "
    "UPDATE glue_addresses SET address = '10.' || substr(address, instr(address, '.') + 1) WHERE ip_version = 4; "
    "UPDATE glue_addresses SET address = 'fd0b:' || address WHERE ip_version = 6; "
    "UPDATE ds_records SET digest = substr(digest, 1, length(digest) - 2) || 'BB'; "
    "UPDATE meta SET value = '1795000999' WHERE key = 'exported_at';";

// 'A', 'B', or 'X' for a lookup that mixes the two versions.
char version_of(const PublishedDomain& d) {
  const bool b = d.status == "B";
  auto marked = [](const std::string& value) { return value.size() >= 4 && value.substr(value.size() - 4) == " [B]"; };
  bool consistent = true;
  if (d.registrant.disclosed) consistent = consistent && marked(d.registrant.name) == b && marked(d.registrant.email) == b;
  if (d.admin.disclosed) consistent = consistent && marked(d.admin.name) == b;
  if (d.tech.disclosed) consistent = consistent && marked(d.tech.email) == b;
  for (const auto& ns : d.name_servers) {
    consistent = consistent && (ns.host.rfind("swap-b.", 0) == 0) == b;
    for (const auto& a : ns.ipv4) consistent = consistent && (a.rfind("10.", 0) == 0) == b;
    for (const auto& a : ns.ipv6) consistent = consistent && (a.rfind("fd0b:", 0) == 0) == b;
  }
  for (const auto& ds : d.ds_records) consistent = consistent && (ds.digest_hex.substr(ds.digest_hex.size() - 2) == "BB") == b;
  if (!consistent) return 'X';
  return b ? 'B' : 'A';
}

// Copies `from` beside `path` and renames it over path, as the registry installs a file.
void install(const std::string& from, const std::string& path) {
  const std::string temp = path + ".new";
  whoisd::test::copy_file(from, temp);
  REQUIRE(std::rename(temp.c_str(), path.c_str()) == 0);
}

struct Versions {
  std::string a, b, path;  // version A, version B (kMarkB), and the path a store serves
};
// Both versions of the fixture in dir; nothing at the path yet.
Versions two_versions(const TempDir& dir) {
  Versions v{dir.file("a.sqlite"), dir.file("b.sqlite"), dir.file("pt.sqlite")};
  whoisd::test::copy_file(whoisd::test::shared_fixture_snapshot(), v.a);
  whoisd::test::copy_file(v.a, v.b);
  whoisd::test::run_sql(v.b, kMarkB);
  whoisd::test::rebuild_published_view(v.b);
  return v;
}

// Dates the file back (a snapshot installed long before it is overwritten): a copy over
// it in the same clock tick could otherwise leave its size and modification time as
// they were.
void date_back(const std::string& path) {
  const struct timespec times[2] = {{1600000000, 0}, {1600000000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

}  // namespace

TEST_CASE("reload serves the new file; a bad file is refused and the old one keeps serving") {
  TempDir dir;
  const auto [a, b, path] = two_versions(dir);
  install(a, path);

  SnapshotStore store(path);
  store.open();
  CHECK(store.info().generation == 1);
  CHECK(version_of(*store.lookup("exemplo.pt")) == 'A');

  install(b, path);
  // Until reload, the old file is still served (it is held open, though renamed over).
  CHECK(version_of(*store.lookup("exemplo.pt")) == 'A');
  CHECK_FALSE(store.written_in_place());  // renamed over: the served file is untouched
  std::string error;
  REQUIRE(store.reload(&error));
  CHECK(error.empty());
  CHECK(version_of(*store.lookup("exemplo.pt")) == 'B');
  CHECK(store.info().generation == 2);
  CHECK(store.info().exported_at == 1795000999);

  // A broken file renamed over the path: refused, B keeps serving.
  const std::string broken = dir.file("broken.sqlite");
  whoisd::test::write_bytes(broken, "not a snapshot at all");
  install(broken, path);
  CHECK_FALSE(store.reload(&error));
  CHECK_THAT(error, Catch::Contains(path) && Catch::Contains("not a SQLite database"));
  CHECK(version_of(*store.lookup("exemplo.pt")) == 'B');
  CHECK(store.info().generation == 2);

  // The file disappears: refused too.
  REQUIRE(std::remove(path.c_str()) == 0);
  CHECK_FALSE(store.reload(nullptr));
  CHECK(store.lookup("exemplo.pt"));

  // open() on a store that serves: like reload, but throws.
  CHECK_THROWS_AS(store.open(), whoisd::SnapshotError);
  CHECK(version_of(*store.lookup("xn--aores-yra.pt")) == 'B');
  install(a, path);
  store.open();
  CHECK(version_of(*store.lookup("xn--aores-yra.pt")) == 'A');
  CHECK(store.info().generation == 3);
}

TEST_CASE("the pool holds a connection for each concurrent reader, on open and reload") {
  TempDir dir;
  const auto [a, b, path] = two_versions(dir);
  install(a, path);
  whoisd::SnapshotStoreOptions options;
  options.concurrent_readers = 40;  // more than the default (twice the hardware threads, at least 4) on most hosts
  SnapshotStore store(path, options);
  store.open();
  CHECK(store.info().connections >= 40);
  install(b, path);
  REQUIRE(store.reload(nullptr));
  CHECK(store.info().connections >= 40);
  // An explicit count is kept as it is.
  SnapshotStore two(path, whoisd::SnapshotStoreOptions{2, false});
  two.open();
  CHECK(two.info().connections == 2);
}

TEST_CASE("swaps under concurrent lookups: no failed, missing or mixed lookup") {
  TempDir dir;
  const auto [a, b, path] = two_versions(dir);
  const std::string broken = dir.file("broken.sqlite");
  whoisd::test::write_bytes(broken, std::string(8192, '\0'));
  install(a, path);
  const std::vector<std::string> names = whoisd::test::all_a_labels(a);

  // Fewer pooled connections than threads, so that the pool also grows and waits.
  SnapshotStore store(path, whoisd::SnapshotStoreOptions{2, false});
  store.open();

  constexpr int kThreads = 4;
  std::atomic<bool> stop{false};
  std::atomic<long> lookups{0}, failures{0}, mixed{0}, missing{0}, seen_a{0}, seen_b{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::size_t i = static_cast<std::size_t>(t);
      while (!stop.load()) {
        const std::string& name = names[i++ % names.size()];
        try {
          auto d = store.lookup(name);
          if (!d) {
            ++missing;
          } else {
            char v = version_of(*d);
            if (v == 'X') ++mixed;
            (v == 'A' ? seen_a : seen_b)++;
          }
        } catch (const std::exception&) {
          ++failures;
        }
        ++lookups;
      }
    });
  }

  int refused = 0, reloaded = 0;
  for (int round = 0; round < 40; ++round) {
    const std::string& next = round % 10 == 9 ? broken : (round % 2 == 0 ? b : a);
    install(next, path);
    std::string error;
    if (store.reload(&error)) {
      ++reloaded;
    } else {
      ++refused;
      CHECK_THAT(error, Catch::Contains(path));
    }
    // Let the lookup threads run on this version for a moment.
    const long target = lookups.load() + 200;
    while (lookups.load() < target) std::this_thread::yield();
  }
  stop = true;
  for (auto& thread : threads) thread.join();

  CHECK(refused == 4);
  CHECK(reloaded == 36);
  CHECK(lookups.load() > 40 * 200);
  CHECK(failures.load() == 0);
  CHECK(missing.load() == 0);
  CHECK(mixed.load() == 0);
  CHECK(seen_a.load() > 0);
  CHECK(seen_b.load() > 0);
  CHECK(store.info().generation == 37);
}

TEST_CASE("a file copied over the served one in place: lookups refused, not read from it, until a reload") {
  TempDir dir;
  const auto [a, b, path] = two_versions(dir);
  install(a, path);
  date_back(path);
  SnapshotStore store(path);
  store.open();
  REQUIRE(version_of(*store.lookup("exemplo.pt")) == 'A');

  // What changes only the inode's metadata is not a write: a hard link, a chmod.
  REQUIRE(::link(path.c_str(), dir.file("link.sqlite").c_str()) == 0);
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  CHECK_FALSE(store.written_in_place());
  CHECK(version_of(*store.lookup("exemplo.pt")) == 'A');

  // cp b pt.sqlite: the same inode, truncated and written again.
  whoisd::test::copy_file(b, path);
  CHECK(store.written_in_place());
  CHECK_THROWS_WITH(store.lookup("exemplo.pt"), Catch::Contains(path) && Catch::Contains("written in place"));
  CHECK_THROWS_AS(store.lookup("nao-existe.pt"), whoisd::SnapshotError);  // never a "no match" from it either
  CHECK(store.written_in_place());  // it stays so: the pages the connections hold are gone

  // A reload opens the file now at the path, whole again, and serves it.
  std::string error;
  REQUIRE(store.reload(&error));
  CHECK_FALSE(store.written_in_place());
  CHECK(version_of(*store.lookup("exemplo.pt")) == 'B');
  CHECK_FALSE(store.lookup("nao-existe.pt"));
  CHECK(store.info().generation == 2);

  // A copy cut short (the first page only, as a copy in progress leaves it): refused as
  // truncated, and the store keeps refusing lookups rather than serve either file.
  date_back(path);
  REQUIRE(store.reload(&error));  // opened again with the old date, so a new write shows
  whoisd::test::write_bytes(path, whoisd::test::read_bytes(a).substr(0, 4096));
  CHECK(store.written_in_place());
  CHECK_FALSE(store.reload(&error));
  CHECK_THAT(error, Catch::Contains("truncated"));
  CHECK_THROWS_AS(store.lookup("exemplo.pt"), whoisd::SnapshotError);
  // The copy completes: served again.
  whoisd::test::copy_file(a, path);
  REQUIRE(store.reload(&error));
  CHECK(version_of(*store.lookup("exemplo.pt")) == 'A');
}

TEST_CASE("a refused file leaves no descriptor open, however often it is refused") {
  TempDir dir;
  const auto [a, b, path] = two_versions(dir);
  install(a, path);
  SnapshotStore store(path);
  store.open();
  const std::string bad = dir.file("bad.sqlite");
  whoisd::test::copy_file(a, bad);
  whoisd::test::run_sql(bad, "DROP TABLE ds_records");  // a SQLite file that fails validation
  install(bad, path);
  auto open_descriptors = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"), std::filesystem::directory_iterator{});
  };
  const auto before = open_descriptors();
  std::string error;
  for (int i = 0; i < 20; ++i) CHECK_FALSE(store.reload(&error));
  CHECK_THAT(error, Catch::Contains("ds_records"));
  CHECK(open_descriptors() == before);
  CHECK(version_of(*store.lookup("exemplo.pt")) == 'A');
}
