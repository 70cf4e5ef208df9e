// The state directory's lock: whoisd-admin asks whether a daemon holds it without
// disturbing one that starts meanwhile.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "state/state_dir_lock.h"
#include "support/temp_dir.h"

using namespace std::chrono_literals;
using whoisd::StateDirHolder;
using whoisd::StateDirLock;
using whoisd::test::TempDir;

TEST_CASE("state_dir_holder says whether a daemon holds the state directory, and which", "[state][lock]") {
  TempDir dir;
  // No lock file: no whoisd ever ran here (and the probe makes none).
  CHECK(whoisd::state_dir_holder(dir.path()).status == StateDirHolder::Status::free);
  CHECK(access(dir.file("whoisd.lock").c_str(), F_OK) != 0);
  {
    StateDirLock daemon(dir.path());
    StateDirHolder held = whoisd::state_dir_holder(dir.path());
    CHECK(held.status == StateDirHolder::Status::held);
    CHECK(held.pid == std::to_string(getpid()));
  }
  // Released (the process ended, for a real daemon): its stale process id is not taken for one.
  CHECK(whoisd::state_dir_holder(dir.path()).status == StateDirHolder::Status::free);
  CHECK(whoisd::state_dir_holder(dir.file("no/such/dir")).status == StateDirHolder::Status::free);
  // A directory that cannot be looked into: unknown, naming the file (root looks into any).
  if (geteuid() != 0) {
    REQUIRE(chmod(dir.path().c_str(), 0) == 0);
    StateDirHolder unknown = whoisd::state_dir_holder(dir.path());
    chmod(dir.path().c_str(), 0700);
    CHECK(unknown.status == StateDirHolder::Status::unknown);
    CHECK_THAT(unknown.error, Catch::Contains(dir.file("whoisd.lock")));
  }
}

TEST_CASE("a daemon starting while whoisd-admin probes the lock waits for the probe", "[state][lock]") {
  TempDir dir;
  { StateDirLock first(dir.path()); }  // makes the lock file
  // A probe's shared lock, held far longer than a real one (microseconds).
  const int probe = open(dir.file("whoisd.lock").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(probe >= 0);
  REQUIRE(flock(probe, LOCK_SH | LOCK_NB) == 0);
  std::thread release([probe] {
    std::this_thread::sleep_for(50ms);
    flock(probe, LOCK_UN);
  });
  CHECK_NOTHROW(StateDirLock(dir.path()));
  release.join();
  close(probe);

  // A daemon that keeps it is another daemon: the start is refused, naming it.
  StateDirLock daemon(dir.path());
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(StateDirLock(dir.path()), Catch::Contains("in use by another whoisd (process " +
                                                                std::to_string(getpid()) + ")"));
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}
