// Opening a snapshot: the checks that refuse wrong, empty, truncated, corrupt, missing and
// unreadable files with a message naming the file and the fault, and the promise that
// opening never writes to the file or its directory.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "snapshot/snapshot_store.h"
#include "snapshot/sqlite_handle.h"
#include "snapshot_test_util.h"
#include "support/fixture_snapshot.h"
#include "support/temp_dir.h"

using whoisd::SnapshotError;
using whoisd::SnapshotStore;
using whoisd::test::fixture_copy;
using whoisd::test::open_error;
using whoisd::test::TempDir;

namespace {

std::set<std::string> listing(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.insert(entry.path().filename());
  return names;
}

}  // namespace

TEST_CASE("a good snapshot opens, and validate_snapshot reports the same facts") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  CHECK(open_error(path).empty());
  whoisd::SnapshotInfo info = whoisd::validate_snapshot(path, true);
  CHECK(info.domains == 36);
  CHECK(info.schema_version == 2);
  CHECK(info.exported_at == 1795000000);
}

TEST_CASE("a wrong schema version is refused, naming the file and the version") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::test::run_sql(path, "PRAGMA user_version = 3");
  std::string error = open_error(path);
  CHECK_THAT(error, Catch::Contains(path) && Catch::Contains("schema version 3"));

  whoisd::test::run_sql(path, "PRAGMA user_version = 0");
  error = open_error(path);
  CHECK_THAT(error, Catch::Contains(path) && Catch::Contains("no schema version"));
}

TEST_CASE("a missing table is refused, naming it") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::test::run_sql(path, "DROP TABLE ds_records");
  CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("missing table 'ds_records'"));
}

TEST_CASE("a missing column is refused, naming the table and the column") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::test::run_sql(path, "ALTER TABLE contacts RENAME COLUMN opt_out TO opted_out");
  CHECK_THAT(open_error(path),
             Catch::Contains(path) && Catch::Contains("table 'contacts' has no column 'opt_out'"));

  // Also a never-published column: the file must follow the documented schema whole.
  std::string other = fixture_copy(dir, "other.sqlite");
  whoisd::test::run_sql(other, "ALTER TABLE contacts RENAME COLUMN tax_number TO nif");
  CHECK_THAT(open_error(other), Catch::Contains("has no column 'tax_number'"));
}

TEST_CASE("a table without its key, which would make every lookup a scan, is refused") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::test::run_sql(path,
                        "CREATE TABLE copy AS SELECT * FROM domains; DROP TABLE domains; "
                        "ALTER TABLE copy RENAME TO domains;");
  CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("would read a whole table"));
}

TEST_CASE("missing or malformed meta facts are refused") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::test::run_sql(path, "DELETE FROM meta WHERE key = 'exported_at'");
  CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("lacks the key 'exported_at'"));
  whoisd::test::run_sql(path, "INSERT INTO meta VALUES ('exported_at', 'yesterday')");
  CHECK_THAT(open_error(path), Catch::Contains("exported_at is 'yesterday'"));
}

TEST_CASE("a snapshot without domains is refused: it would answer no match for everything") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  whoisd::test::run_sql(path, "DELETE FROM ds_records; DELETE FROM glue_addresses; DELETE FROM name_servers; "
                              "DELETE FROM domains; DELETE FROM published_domains; "
                              "UPDATE meta SET value = '0' WHERE key = 'domain_count';");
  CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("holds no domains"));
}

TEST_CASE("a file that is not SQLite is refused") {
  TempDir dir;
  std::string path = dir.file("text.sqlite");
  whoisd::test::write_bytes(path, std::string(4096, 'x'));
  CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("not a SQLite database"));
  whoisd::test::write_bytes(path, "SQLite");  // shorter than the header
  CHECK_THAT(open_error(path), Catch::Contains("not a SQLite database"));
}

TEST_CASE("an empty file is refused") {
  TempDir dir;
  std::string path = dir.file("empty.sqlite");
  whoisd::test::write_bytes(path, "");
  CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("empty file"));
}

TEST_CASE("a truncated file is refused") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  std::string bytes = whoisd::test::read_bytes(path);
  REQUIRE(bytes.size() > 8192);
  SECTION("cut at a page boundary") { whoisd::test::write_bytes(path, bytes.substr(0, 4096 * 2)); }
  SECTION("cut inside a page") { whoisd::test::write_bytes(path, bytes.substr(0, bytes.size() - 1000)); }
  CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("truncated"));
}

TEST_CASE("a corrupt file is refused") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  std::string bytes = whoisd::test::read_bytes(path);
  SECTION("the schema page is overwritten") {
    for (std::size_t i = 100; i < 4096; ++i) bytes[i] = static_cast<char>(0xA5);
    whoisd::test::write_bytes(path, bytes);
    std::string error = open_error(path);
    CHECK_THAT(error, Catch::Contains(path) && Catch::Contains("malformed"));
  }
  SECTION("the header's page size is impossible") {
    bytes[16] = 0x03;
    bytes[17] = 0x00;  // 768: not a power of two
    whoisd::test::write_bytes(path, bytes);
    CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("page size"));
  }
  SECTION("a data page is overwritten: the full integrity check finds it") {
    // The index that keeps domains.id unique: no lookup and no probe reads it; only
    // PRAGMA quick_check reads every page. Its page is overwritten past the page header.
    std::int64_t page = 0;
    {
      whoisd::sqlite::Db db = whoisd::sqlite::open(path, SQLITE_OPEN_READONLY);
      page = whoisd::sqlite::query_int(
          db.get(), "SELECT rootpage FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'domains'");
    }
    REQUIRE(page > 1);
    const std::size_t page_size = (static_cast<unsigned char>(bytes[16]) << 8) | static_cast<unsigned char>(bytes[17]);
    const std::size_t start = static_cast<std::size_t>(page - 1) * page_size;
    REQUIRE(start + page_size <= bytes.size());
    for (std::size_t i = start + 8; i < start + page_size; ++i) bytes[i] = static_cast<char>(0x5A);
    whoisd::test::write_bytes(path, bytes);
    CHECK_THROWS_WITH(whoisd::validate_snapshot(path, true), Catch::Contains(path));
    SnapshotStore store(path, whoisd::SnapshotStoreOptions{1, true});
    CHECK_THROWS_WITH(store.open(), Catch::Contains(path));
  }
}

TEST_CASE("a WAL-mode file is refused: its -wal file would be ignored") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  std::string bytes = whoisd::test::read_bytes(path);
  bytes[18] = 2;
  bytes[19] = 2;
  whoisd::test::write_bytes(path, bytes);
  CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("WAL mode"));
}

TEST_CASE("a missing file is refused") {
  TempDir dir;
  std::string path = dir.file("absent.sqlite");
  CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("no such file"));
  CHECK_THAT(open_error(dir.file("no-dir/pt.sqlite")), Catch::Contains("no such file"));
}

TEST_CASE("an unreadable file is refused") {
  TempDir dir;
  SECTION("a directory where the file should be") {
    std::string path = dir.file("pt.sqlite");
    std::filesystem::create_directory(path);
    CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("not a regular file"));
  }
  SECTION("a file without read permission (not checkable as root, who reads anything)") {
    std::string path = fixture_copy(dir);
    REQUIRE(::chmod(path.c_str(), 0) == 0);
    if (::geteuid() == 0) {
      // Root bypasses permissions: the file opens. The directory case above covers an
      // unreadable path for root.
      CHECK(open_error(path).empty());
    } else {
      CHECK_THAT(open_error(path), Catch::Contains(path) && Catch::Contains("Permission denied"));
    }
  }
}

TEST_CASE("opening and looking up never writes to the file or creates files beside it") {
  TempDir dir;
  std::string path = fixture_copy(dir);
  // A read-only file in a read-only directory (as root this does not stop writes, so the
  // listing and the bytes are compared as well).
  REQUIRE(::chmod(path.c_str(), 0444) == 0);
  REQUIRE(::chmod(dir.path().c_str(), 0555) == 0);
  struct stat before {};
  REQUIRE(::stat(path.c_str(), &before) == 0);
  const std::string bytes_before = whoisd::test::read_bytes(path);
  {
    SnapshotStore store(path);
    store.open();
    for (const std::string& name : whoisd::test::all_a_labels(path)) CHECK(store.lookup(name));
    CHECK_FALSE(store.lookup("nao-existe.pt"));
    std::string error;
    CHECK(store.reload(&error));
    CHECK(store.lookup("exemplo.pt"));
    CHECK(whoisd::validate_snapshot(path, true).domains == 36);
  }
  struct stat after {};
  REQUIRE(::stat(path.c_str(), &after) == 0);
  CHECK(listing(dir.path()) == std::set<std::string>{"pt.sqlite"});
  CHECK(whoisd::test::read_bytes(path) == bytes_before);
  CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  CHECK(after.st_size == before.st_size);
}

TEST_CASE("paths with URI-special characters open as plain paths") {
  TempDir dir;
  std::string path = fixture_copy(dir, "snap?mode=rw#x%20.sqlite");
  CHECK(open_error(path).empty());
  CHECK(listing(dir.path()).size() == 1);
}
