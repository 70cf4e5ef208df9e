// The state database: created when missing, refused clearly when corrupt, of another
// schema version, foreign, damaged or not writable — never reset silently.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <functional>

#include "state/state_db.h"
#include "state/state_dir_lock.h"
#include "state/state_reports.h"
#include "state/state_schema.h"
#include "state_test_util.h"
#include "support/temp_dir.h"

using whoisd::StateDb;
using whoisd::test::open_error;
using whoisd::test::sql_exec;
using whoisd::test::sql_int;
using whoisd::test::sql_text;
using whoisd::test::TempDir;

namespace {

// What `fn` returns when run as user nobody (uid and gid 65534), in a child process:
// root passes every permission check, so a test of what the daemon's user meets runs there.
std::string as_nobody(const std::function<std::string()>& fn) {
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(pipe_fds[0]);
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
    const std::string out = fn();
    if (write(pipe_fds[1], out.data(), out.size()) < 0) _exit(4);
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return out;
}

}  // namespace

TEST_CASE("a missing state database is created with the schema, in WAL mode", "[state][db]") {
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path() + "/state/");
  CHECK(path == dir.path() + "/state/state.sqlite");
  {
    StateDb db = StateDb::open(path, StateDb::Mode::create);  // creates the directory too
    CHECK(db.path() == path);
  }
  CHECK(sql_int(path, "PRAGMA user_version") == whoisd::kStateSchemaVersion);
  CHECK(sql_text(path, "PRAGMA journal_mode") == "wal");
  for (const char* table : {"meta", "source_state", "query_log", "abuse_events", "admin_actions"})
    CHECK(sql_int(path, std::string("SELECT count(*) FROM sqlite_schema WHERE type='table' AND name='") + table + "'") ==
          1);
  // Opening again keeps what is there.
  sql_exec(path, "INSERT INTO abuse_events (time, source, kind) VALUES (1, '192.0.2.1', 'suspension_started')");
  StateDb::open(path, StateDb::Mode::create);
  StateDb::open(path, StateDb::Mode::read_write);
  StateDb::open(path, StateDb::Mode::read_only);
  CHECK(sql_int(path, "SELECT count(*) FROM abuse_events") == 1);
}

TEST_CASE("the admin modes never create a state database", "[state][db]") {
  TempDir dir;
  std::string path = dir.file("state.sqlite");
  for (auto mode : {StateDb::Mode::read_write, StateDb::Mode::read_only}) {
    std::string error = open_error(path, mode);
    CHECK_THAT(error, Catch::Contains(path) && Catch::Contains("does not exist"));
  }
  CHECK(access(path.c_str(), F_OK) != 0);
}

TEST_CASE("a corrupt state database is an error naming the file, and is left alone", "[state][db]") {
  TempDir dir;
  std::string path = dir.file("state.sqlite");
  {
    std::ofstream garbage(path, std::ios::binary);
    for (int i = 0; i < 4096; ++i) garbage << static_cast<char>((i * 37) & 0xff);
  }
  for (auto mode : {StateDb::Mode::create, StateDb::Mode::read_write, StateDb::Mode::read_only}) {
    std::string error = open_error(path, mode);
    CHECK_THAT(error, Catch::Contains(path) && Catch::Contains("corrupt"));
  }
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK(st.st_size == 4096);  // not reset
}

TEST_CASE("a state database of another schema version is refused, not reset", "[state][db]") {
  TempDir dir;
  std::string path = dir.file("state.sqlite");
  StateDb::open(path, StateDb::Mode::create);
  sql_exec(path, "INSERT INTO meta VALUES ('marker', 'kept'); PRAGMA user_version = 7");
  std::string error = open_error(path, StateDb::Mode::create);
  CHECK_THAT(error, Catch::Contains(path) && Catch::Contains("version 7") &&
                        Catch::Contains("version " + std::to_string(whoisd::kStateSchemaVersion)));
  CHECK(sql_text(path, "SELECT value FROM meta WHERE key = 'marker'") == "kept");
}

TEST_CASE("a version-3 state database is upgraded by the daemon's open only, its abuse log kept",
          "[state][db]") {
  TempDir dir;
  std::string path = dir.file("state.sqlite");
  {
    std::ofstream touch(path);
  }
  // A file as the whoisd of version 3 made it, with two abuse events.
  sql_exec(path, std::string("PRAGMA journal_mode = WAL; BEGIN;") + std::string(whoisd::state_schema_version_1_sql()) +
                     std::string(whoisd::state_schema_added_in_version_2()) +
                     std::string(whoisd::state_schema_added_in_version_3()) +
                     "INSERT INTO abuse_events (id, time, source, kind, episode, until, reason, operator) VALUES "
                     "(7, 1767225000, '192.0.2.1', 'suspension_started', 1, 1767311400, 'limit of 5 queries crossed', ''), "
                     "(9, 1767226000, '192.0.2.1', 'suspension_lifted', 1, 1767311400, 'false positive', 'ana');"
                     "PRAGMA user_version = 3; COMMIT;");
  CHECK_THROWS(sql_exec(path, "INSERT INTO abuse_events (time, source, kind) VALUES (1, 'x', 'suspension_kept')"));
  for (auto mode : {StateDb::Mode::read_only, StateDb::Mode::read_write})
    CHECK_THAT(open_error(path, mode), Catch::Contains(path) && Catch::Contains("version 3") &&
                                           Catch::Contains("restart whoisd"));
  CHECK(StateDb::open(path, StateDb::Mode::check).schema_version() == 3);
  CHECK(sql_int(path, "PRAGMA user_version") == 3);

  StateDb::open(path, StateDb::Mode::create);
  CHECK(sql_int(path, "PRAGMA user_version") == whoisd::kStateSchemaVersion);
  CHECK(sql_text(path, "SELECT group_concat(id || ' ' || kind || ' ' || episode || ' ' || until || ' ' || reason || "
                       "' ' || operator, '; ') FROM (SELECT * FROM abuse_events ORDER BY id)") ==
        "7 suspension_started 1 1767311400 limit of 5 queries crossed ; "
        "9 suspension_lifted 1 1767311400 false positive ana");
  sql_exec(path, "INSERT INTO abuse_events (time, source, kind) VALUES (1, 'x', 'suspension_kept'), "
                 "(2, 'x', 'episodes_forgotten')");
  CHECK(sql_int(path, "SELECT max(id) FROM abuse_events") == 11);  // ids go on from the copied ones
  CHECK_THROWS(sql_exec(path, "INSERT INTO abuse_events (time, source, kind) VALUES (1, 'x', 'anything')"));
  // Its indexes came with it.
  CHECK(sql_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'abuse_events'") == 2);
  // A new file has the same schema as an upgraded one.
  std::string fresh = dir.file("fresh.sqlite");
  StateDb::open(fresh, StateDb::Mode::create);
  CHECK(sql_text(fresh, "SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_schema ORDER BY name)") ==
        sql_text(path, "SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_schema ORDER BY name)"));
}

TEST_CASE("a version-4 state database is upgraded to 5: suspensions kept, their reasons taken from the abuse log",
          "[state][db]") {
  TempDir dir;
  std::string path = dir.file("state.sqlite");
  {
    std::ofstream touch(path);
  }
  // A file as the whoisd of version 4 made it: three suspensions in force, the limit's
  // (its start event, and an older one of another end), an operator's, and one whose
  // start event the retention purged.
  const std::string state_row = "x'00000000000000000000ffffc0000201', 32, x'', ";
  sql_exec(path,
           std::string("PRAGMA journal_mode = WAL; BEGIN;") + std::string(whoisd::state_schema_version_1_sql()) +
               std::string(whoisd::state_schema_added_in_version_2()) +
               std::string(whoisd::state_schema_added_in_version_3()) +
               std::string(whoisd::state_schema_changed_in_version_4()) +
               "INSERT INTO source_state (source, key, prefix, minutes, episodes, last_episode, suspended_until, flags, "
               "updated_at) VALUES "
               "('192.0.2.1', " + state_row + "2, 1767225000, 1767484800, 0, 1767225000), "
               "('192.0.2.2', " + state_row + "0, 0, 1767600000, 1, 1767226000), "
               "('192.0.2.3', " + state_row + "1, 1767000000, 1767700000, 1, 1767000000), "
               "('192.0.2.4', " + state_row + "0, 0, 0, 0, 1767000000);"
               "INSERT INTO abuse_events (time, source, kind, episode, until, reason, operator) VALUES "
               "(1767000000, '192.0.2.1', 'suspension_started', 1, 1767086400, 'limit of 5 queries crossed', ''), "
               "(1767225000, '192.0.2.1', 'suspension_started', 2, 1767484800, 'limit of 6 queries crossed', ''), "
               "(1767226000, '192.0.2.2', 'suspension_imposed', 0, 1767600000, 'scraping', 'ana');"
               "PRAGMA user_version = 4; COMMIT;");
  for (auto mode : {StateDb::Mode::read_only, StateDb::Mode::read_write})
    CHECK_THAT(open_error(path, mode), Catch::Contains(path) && Catch::Contains("version 4") &&
                                           Catch::Contains("restart whoisd"));
  CHECK(StateDb::open(path, StateDb::Mode::check).schema_version() == 4);

  StateDb::open(path, StateDb::Mode::create);
  CHECK(sql_int(path, "PRAGMA user_version") == 5);
  CHECK(sql_int(path, "SELECT count(*) FROM source_state") == 4);
  CHECK(sql_text(path, "SELECT group_concat(source || ' ' || until || ' ' || since || ' ' || kind || ' ' || reason || "
                       "' ' || operator, '; ') FROM (SELECT * FROM suspension_reasons ORDER BY source)") ==
        "192.0.2.1 1767484800 1767225000 automatic limit of 6 queries crossed ; "
        "192.0.2.2 1767600000 1767226000 manual scraping ana");

  StateDb db = StateDb::open(path, StateDb::Mode::read_only);
  auto active = whoisd::active_suspensions(db, 1767300000);
  REQUIRE(active.size() == 3);
  CHECK(active[0].source == "192.0.2.1");
  CHECK(active[0].reason == "limit of 6 queries crossed");
  CHECK_FALSE(active[0].manual);
  CHECK(active[1].source == "192.0.2.2");
  CHECK(active[1].reason == "scraping");
  CHECK(active[1].operator_name == "ana");
  CHECK(active[1].since == 1767226000);
  CHECK(active[1].manual);
  CHECK(active[2].source == "192.0.2.3");
  CHECK_FALSE(active[2].reason);  // its start is in neither table any more
  CHECK(active[2].since == 1767000000);
  CHECK(whoisd::source_history(db, "192.0.2.3", 0, 10, 1767300000).suspended_until == 1767700000);
  // An end already reported (the clock then stepped back before it) is over, as the
  // limiter decides: neither `suspensions` nor `history` calls it in force.
  sql_exec(path, "UPDATE source_state SET flags = flags | 2 WHERE source = '192.0.2.3'");
  active = whoisd::active_suspensions(db, 1767300000);
  REQUIRE(active.size() == 2);
  CHECK(active[1].source == "192.0.2.2");
  CHECK_FALSE(whoisd::source_history(db, "192.0.2.3", 0, 10, 1767300000).suspended_until);
}

TEST_CASE("a SQLite file that is not a whoisd state database is refused", "[state][db]") {
  TempDir dir;
  std::string path = dir.file("state.sqlite");
  {
    std::ofstream touch(path);
  }
  sql_exec(path, "CREATE TABLE domains (name TEXT)");
  CHECK_THAT(open_error(path, StateDb::Mode::create), Catch::Contains("not a whoisd state database"));

  std::string damaged = dir.file("damaged.sqlite");
  StateDb::open(damaged, StateDb::Mode::create);
  sql_exec(damaged, "DROP TABLE admin_actions");
  CHECK_THAT(open_error(damaged, StateDb::Mode::create),
             Catch::Contains(damaged) && Catch::Contains("table admin_actions is missing"));
}

TEST_CASE("an empty file is given the schema by the daemon but refused by the admin tool", "[state][db]") {
  TempDir dir;
  std::string path = dir.file("state.sqlite");
  {
    std::ofstream touch(path);
  }
  CHECK_THAT(open_error(path, StateDb::Mode::read_write), Catch::Contains("without the whoisd state schema"));
  StateDb::open(path, StateDb::Mode::create);
  CHECK(sql_int(path, "PRAGMA user_version") == whoisd::kStateSchemaVersion);
}

TEST_CASE("a state database this user cannot write is an error at open", "[state][db]") {
  TempDir dir;
  std::string path = dir.file("state.sqlite");
  StateDb::open(path, StateDb::Mode::create);
  if (geteuid() != 0) {
    REQUIRE(chmod(path.c_str(), 0444) == 0);
    CHECK_THAT(open_error(path, StateDb::Mode::create), Catch::Contains(path) && Catch::Contains("not writable"));
    CHECK_THAT(open_error(path, StateDb::Mode::read_write), Catch::Contains("not writable"));
    chmod(path.c_str(), 0644);
    return;
  }
  // root writes anything: try as an unprivileged user in a child process instead.
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  REQUIRE(chmod(path.c_str(), 0644) == 0);
  const std::string out = as_nobody([&] {
    return open_error(path, StateDb::Mode::create) + "\n" + open_error(path, StateDb::Mode::read_write);
  });
  INFO(out);
  auto newline = out.find('\n');
  REQUIRE(newline != std::string::npos);
  CHECK_THAT(out.substr(0, newline), Catch::Contains(path) && Catch::Contains("not writable"));
  CHECK_THAT(out.substr(newline + 1), Catch::Contains(path) && Catch::Contains("not writable"));
}

TEST_CASE("a state directory beyond a directory the daemon's user may not pass through names that directory",
          "[state][db]") {
  TempDir dir;
  const std::string closed = dir.path() + "/closed";  // as /root is (mode 0700) for a checkout's demo/state
  REQUIRE(mkdir(closed.c_str(), 0700) == 0);
  const std::string state_dir = closed + "/checkout/demo/state";
  const auto lock_error = [&] {
    try {
      whoisd::StateDirLock lock(state_dir);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string error;
  if (geteuid() == 0) {
    REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
    error = as_nobody(lock_error);
  } else {
    REQUIRE(chmod(closed.c_str(), 0) == 0);
    error = lock_error();
    chmod(closed.c_str(), 0700);
  }
  CHECK_THAT(error, Catch::Contains("state directory " + state_dir + ": cannot create it") &&
                        Catch::Contains("may not pass through '" + closed + "'"));
}
