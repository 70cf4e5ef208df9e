// The SIGBUS guard of mapped snapshot files (snapshot/mapping_guard.h): a watched file
// truncated under its mapping reads zeros and is marked damaged; any other file's SIGBUS
// keeps its default action; and a store whose file is truncated in place fails its
// lookups instead of the process.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "snapshot/mapping_guard.h"
#include "snapshot/snapshot_store.h"
#include "snapshot_test_util.h"
#include "support/fixture_snapshot.h"
#include "support/temp_dir.h"

using whoisd::test::TempDir;
namespace guard = whoisd::mapping_guard;

namespace {

// A file of `pages` pages of 'x', mapped shared and read-only; the mapping is returned.
const volatile char* map_file(const std::string& path, long pages, struct stat& st) {
  const long page = ::sysconf(_SC_PAGESIZE);
  whoisd::test::write_bytes(path, std::string(static_cast<std::size_t>(pages * page), 'x'));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::fstat(fd, &st) == 0);
  void* map = ::mmap(nullptr, static_cast<std::size_t>(pages * page), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  REQUIRE(map != MAP_FAILED);
  return static_cast<const volatile char*>(map);
}

}  // namespace

TEST_CASE("a watched file truncated under its mapping reads zeros and is marked damaged", "[snapshot][guard]") {
  TempDir dir;
  const std::string path = dir.file("mapped");
  const long page = ::sysconf(_SC_PAGESIZE);
  struct stat st {};
  const volatile char* map = map_file(path, 3, st);
  const int slot = guard::watch(st.st_dev, st.st_ino);
  REQUIRE(slot >= 0);
  CHECK(map[2 * page] == 'x');
  CHECK_FALSE(guard::damaged(slot));

  REQUIRE(::truncate(path.c_str(), page) == 0);  // pages 2 and 3 are past the end now
  CHECK(map[0] == 'x');                           // still in the file
  CHECK(map[2 * page + 7] == 0);                  // SIGBUS, handled: a page of zeros
  CHECK(map[2 * page] == 0);                      // the same page again: no second fault
  CHECK(guard::damaged(slot));
  CHECK(map[page + 1] == 0);                      // another page past the end
  guard::unwatch(slot);
  ::munmap(const_cast<char*>(map), static_cast<std::size_t>(3 * page));

  // The slot is free again, and clean for the next file.
  struct stat st2 {};
  const volatile char* map2 = map_file(dir.file("other"), 1, st2);
  const int slot2 = guard::watch(st2.st_dev, st2.st_ino);
  CHECK_FALSE(guard::damaged(slot2));
  CHECK(map2[0] == 'x');
  guard::unwatch(slot2);
  ::munmap(const_cast<char*>(map2), static_cast<std::size_t>(page));
}

TEST_CASE("a SIGBUS in a file that is not watched keeps its default action", "[snapshot][guard]") {
  TempDir dir;
  const std::string watched = dir.file("watched"), other = dir.file("other");
  const long page = ::sysconf(_SC_PAGESIZE);
  struct stat st {};
  const volatile char* map = map_file(watched, 1, st);
  const int slot = guard::watch(st.st_dev, st.st_ino);  // installs the handler
  REQUIRE(slot >= 0);
  struct stat st_other {};
  const volatile char* map_other = map_file(other, 2, st_other);
  REQUIRE(::truncate(other.c_str(), 0) == 0);
  std::fflush(nullptr);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    volatile char c = map_other[page];  // must end this process
    (void)c;
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  // Killed by SIGBUS. The guard passes it to the action that was there before it: under
  // a sanitizer, its handler, which reports it and ends the process its own way (an
  // abort, an exit status): never a normal exit.
  CHECK_FALSE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
#if !defined(__SANITIZE_ADDRESS__)
  if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGBUS);
#endif
  CHECK_FALSE(guard::damaged(slot));
  guard::unwatch(slot);
  ::munmap(const_cast<char*>(map), static_cast<std::size_t>(page));
  ::munmap(const_cast<char*>(map_other), static_cast<std::size_t>(2 * page));
}

TEST_CASE("a snapshot truncated in place under the store: lookups fail, the process does not",
          "[snapshot][guard]") {
  TempDir dir;
  const std::string path = whoisd::test::fixture_copy(dir);
  whoisd::SnapshotStore store(path);
  store.open();
  REQUIRE(store.lookup("exemplo.pt"));
  // What `cp` does first: open with O_TRUNC. Every mapped page is past the end now.
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  REQUIRE(fd >= 0);
  ::close(fd);
  for (const char* name : {"exemplo.pt", "xn--aores-yra.pt", "nao-existe.pt"})
    CHECK_THROWS_AS(store.lookup(name), whoisd::SnapshotError);
  CHECK(store.written_in_place());
  // The copy completes: a reload serves it.
  whoisd::test::copy_file(whoisd::test::shared_fixture_snapshot(), path);
  std::string error;
  REQUIRE(store.reload(&error));
  CHECK(store.lookup("exemplo.pt"));
  CHECK_FALSE(store.written_in_place());
}
