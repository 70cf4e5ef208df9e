// query_counts, the query log counted per hour, source and outcome (query_counts.h):
// whoisd-admin top over random periods equals a count made here from the rows of
// query_log; the summary equals the GROUP BY of the rows after the writer, after
// purges that stop inside an hour, and after the upgrade of a version-1 file.
//
// The writer keeps the counts of the rows above N (query_counts_through_id) in memory
// until its next flush: top is exact with such an unflushed tail, a copy of the file
// taken then (what a kill -9 leaves) is made exact by the next writer's catch-up, and
// purges with a tail (even ones that delete rows of it, or every row) stay exact.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "state/query_counts.h"
#include "state/query_log.h"
#include "state/retention.h"
#include "state/sqlite_statement.h"
#include "state/state_db.h"
#include "state/state_reports.h"
#include "state/state_schema.h"
#include "expected_top.h"
#include "state_test_util.h"
#include "support/temp_dir.h"

using whoisd::IpAddress;
using whoisd::QueryLog;
using whoisd::QueryLogEntry;
using whoisd::QueryLogOptions;
using whoisd::QueryOutcome;
using whoisd::SqliteStatement;
using whoisd::StateDb;
using whoisd::TopSource;
using whoisd::test::query_counts_disagreement;
using whoisd::test::query_counts_through_id;
using whoisd::test::sql_exec;
using whoisd::test::sql_int;
using whoisd::test::TempDir;

namespace {

constexpr std::int64_t kHourUs = 3'600'000'000;
constexpr std::int64_t kStartUs = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z, on the hour

// The busiest `limit` sources since since_us, counted here from every row of query_log.
whoisd::test::ExpectedTop brute_force_top(StateDb& db, std::int64_t since_us, std::size_t limit) {
  whoisd::test::ExpectedTopCounter counter(since_us);
  SqliteStatement rows(db, "SELECT time_us, source, outcome FROM query_log");
  while (rows.step()) counter.add(rows.int64(0), rows.text(1), rows.text(2));
  return counter.top(limit);
}

void check_top_equals_rows(StateDb& db, std::int64_t since_us, std::size_t limit) {
  INFO("since " << since_us << " (" << (since_us - kStartUs) / kHourUs << " h and " << (since_us - kStartUs) % kHourUs
                << " us after the start), limit " << limit);
  whoisd::test::check_same_top(whoisd::top_sources(db, since_us, limit), brute_force_top(db, since_us, limit));
}

// `count` queries through the real writer (small batches, so that a source's hour is
// counted over several transactions), over `hours` hours from kStartUs, from IPv4
// and IPv6 clients of very different activity; one in 40 is late (a time up to an
// hour before the entries recorded before it), as two event loops may do.
std::vector<std::int64_t> record_random_queries(QueryLog& log, std::mt19937_64& rng, int count, int hours) {
  std::vector<std::int64_t> times;
  const std::int64_t step = hours * kHourUs / count;
  std::int64_t t = kStartUs;
  for (int i = 0; i < count; ++i) {
    t += static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(2 * step));
    std::int64_t when = i % 40 == 39 ? t - static_cast<std::int64_t>(rng() % kHourUs) : t;
    int s = static_cast<int>(rng() % 6 == 0 ? rng() % 4 : 4 + rng() % 300);
    QueryLogEntry e;
    e.time_us = when;
    e.client = *IpAddress::parse(s % 3 == 0 ? "2001:db8:" + std::to_string(s) + "::" + std::to_string(rng() % 9 + 1)
                                            : "10.0." + std::to_string(s / 256) + "." + std::to_string(s % 256));
    e.query = "exemplo.pt";
    e.outcome = static_cast<QueryOutcome>(rng() % (static_cast<int>(QueryOutcome::error) + 1));
    e.answer_us = 10;
    REQUIRE(log.record(std::move(e)));
    times.push_back(when);
  }
  return times;
}

std::vector<std::int64_t> log_random_queries(const std::string& path, std::mt19937_64& rng, int count, int hours) {
  QueryLog log(path, {.batch = 97, .ipv6_prefix = 64});
  log.start();
  auto times = record_random_queries(log, rng, count, hours);
  log.stop();
  REQUIRE(log.counters().written == static_cast<std::uint64_t>(count));
  return times;
}

// A writer that flushes its counts only at stop(): what it writes stays above N.
QueryLogOptions unflushed_writer() { return {.batch = 97, .ipv6_prefix = 64, .counts_flush_interval = std::chrono::hours(10)}; }

// Waits (without a time limit of its own: ctest's applies) until the writer has
// committed `written` rows.
void wait_written(const QueryLog& log, std::uint64_t written) {
  while (log.counters().written < written) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  REQUIRE(log.counters().written == written);
}

std::int64_t max_id(const std::string& path) { return sql_int(path, "SELECT coalesce(max(id), 0) FROM query_log"); }

// Periods starting anywhere: before the log, inside hours, on the hour, at a row's
// exact time (late ones included), after the log.
std::vector<std::int64_t> random_period_starts(std::mt19937_64& rng, const std::vector<std::int64_t>& times, int hours,
                                               int n) {
  std::vector<std::int64_t> starts = {kStartUs - 5 * kHourUs - 1, kStartUs, kStartUs + hours * kHourUs + kHourUs};
  for (int i = 0; i < n; ++i) {
    switch (i % 3) {
      case 0: starts.push_back(kStartUs + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hours * kHourUs))); break;
      case 1: starts.push_back(kStartUs + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hours)) * kHourUs); break;
      default: starts.push_back(times[rng() % times.size()]); break;
    }
  }
  return starts;
}

}  // namespace

TEST_CASE("query counts: hours are floor(time / 1 h), before 1970 too", "[state][query_counts]") {
  CHECK(whoisd::query_count_hour(0) == 0);
  CHECK(whoisd::query_count_hour(kHourUs - 1) == 0);
  CHECK(whoisd::query_count_hour(kHourUs) == 1);
  CHECK(whoisd::query_count_hour(-1) == -1);
  CHECK(whoisd::query_count_hour(-kHourUs) == -1);
  CHECK(whoisd::query_count_hour(-kHourUs - 1) == -2);
  CHECK(whoisd::query_count_hour(kStartUs + 5 * kHourUs + 17) == kStartUs / kHourUs + 5);
}

TEST_CASE("query counts: top over random periods equals a count of the rows, and the summary their GROUP BY",
          "[state][query_counts]") {
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path());
  StateDb::open(path, StateDb::Mode::create);
  std::mt19937_64 rng(GENERATE(1, 2, 3));
  const int hours = 40;
  auto times = log_random_queries(path, rng, 12'000, hours);
  REQUIRE(query_counts_disagreement(path) == 0);
  CHECK(sql_int(path, "SELECT sum(queries) FROM query_counts") == 12'000);
  // A source's hour spans several batches: fewer counts than rows.
  CHECK(sql_int(path, "SELECT count(*) FROM query_counts") < 12'000);

  StateDb db = StateDb::open(path, StateDb::Mode::read_only);
  for (std::int64_t since_us : random_period_starts(rng, times, hours, 60))
    check_top_equals_rows(db, since_us, since_us % 2 ? 10 : 1000);
}

TEST_CASE("query counts: purges that stop inside an hour keep the summary equal to the rows", "[state][query_counts]") {
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path());
  StateDb::open(path, StateDb::Mode::create);
  std::mt19937_64 rng(11);
  const int hours = 30;
  auto times = log_random_queries(path, rng, 6'000, hours);
  StateDb db = StateDb::open(path, StateDb::Mode::read_write);
  // Cutoffs (Unix s) moving forward, most inside an hour; small batches, so that a
  // batch often ends in the middle of a source's hour.
  std::int64_t rows = sql_int(path, "SELECT count(*) FROM query_log");
  for (int hour = 2; hour < hours + 2; hour += 4) {
    std::int64_t cutoff_us = kStartUs + hour * kHourUs + static_cast<std::int64_t>(rng() % kHourUs);
    auto purged = whoisd::purge_some(db, cutoff_us / 1'000'000, 37, 5);
    rows -= static_cast<std::int64_t>(purged.query_log);
    INFO("cutoff " << hour << " h and a bit; purged " << purged.query_log);
    REQUIRE(sql_int(path, "SELECT count(*) FROM query_log") == rows);
    REQUIRE(query_counts_disagreement(path) == 0);
    CHECK(sql_int(path, "SELECT coalesce(sum(queries), 0) FROM query_counts") == rows);
    for (std::int64_t since_us : random_period_starts(rng, times, hours, 6)) check_top_equals_rows(db, since_us, 50);
  }
  whoisd::purge_all(db, (kStartUs + (hours + 2) * kHourUs) / 1'000'000);
  CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 0);
  CHECK(sql_int(path, "SELECT count(*) FROM query_counts") == 0);
}

TEST_CASE("query counts: a version-1 state database is upgraded by the daemon's open only", "[state][query_counts]") {
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path());
  // A file as the whoisd before version 2 made it, with a log in it.
  {
    std::ofstream touch(path);
  }
  sql_exec(path, std::string("PRAGMA journal_mode = WAL; BEGIN;") + std::string(whoisd::state_schema_version_1_sql()) +
                     "PRAGMA user_version = 1; COMMIT;");
  sql_exec(path,
           "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4999) "
           "INSERT INTO query_log (time_us, source, client, query, outcome, answer_us) "
           "SELECT " + std::to_string(kStartUs) + " + i * 7654321 - (i % 13) * 600000000, '10.0.0.' || (i * i % 37), "
           "'10.0.0.1', 'x.pt', CASE i % 5 WHEN 0 THEN 'no_match' WHEN 1 THEN 'invalid' ELSE 'found' END, 5 FROM n");

  // whoisd-admin (read-only reports, and the commands that write) refuses it by name.
  for (auto mode : {StateDb::Mode::read_only, StateDb::Mode::read_write}) {
    CHECK_THAT(whoisd::test::open_error(path, mode), Catch::Contains(path) && Catch::Contains("version 1") && Catch::Contains("restart whoisd"));
  }
  CHECK(sql_int(path, "PRAGMA user_version") == 1);

  StateDb::open(path, StateDb::Mode::create);  // the daemon's open
  CHECK(sql_int(path, "PRAGMA user_version") == whoisd::kStateSchemaVersion);
  CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 5000);
  CHECK(sql_int(path, "SELECT sum(queries) FROM query_counts") == 5000);
  CHECK(query_counts_disagreement(path) == 0);
  StateDb db = StateDb::open(path, StateDb::Mode::read_only);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20; ++i) {
    std::int64_t since_us = kStartUs - kHourUs + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(12 * kHourUs));
    check_top_equals_rows(db, since_us, 20);
  }
  // Opened again: nothing left to upgrade, nothing recounted.
  StateDb::open(path, StateDb::Mode::create);
  CHECK(query_counts_disagreement(path) == 0);
}

TEST_CASE("query counts: top is exact with rows the writer has not counted yet, and a copy taken then (a kill -9) is "
          "made exact by the next writer", "[state][query_counts]") {
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path());
  StateDb::open(path, StateDb::Mode::create);
  CHECK(query_counts_through_id(path) == 0);
  std::mt19937_64 rng(GENERATE(21, 22));
  const int hours = 30;
  auto times = log_random_queries(path, rng, 5'000, hours);
  REQUIRE(query_counts_through_id(path) == max_id(path));  // stop() flushed

  std::string copy = dir.path() + "/copy.sqlite";
  {
    QueryLog log(path, unflushed_writer());
    log.start();
    auto more = record_random_queries(log, rng, 4'000, hours);
    times.insert(times.end(), more.begin(), more.end());
    wait_written(log, 4'000);
    // The tail: rows above N, counted only in the writer's memory (the first pass's
    // catch-up may have counted a few).
    std::int64_t through = query_counts_through_id(path);
    REQUIRE(through < max_id(path));
    CHECK(max_id(path) - through > 3'000);
    CHECK(query_counts_disagreement(path, false) == 0);
    CHECK(query_counts_disagreement(path) > 0);
    {
      StateDb db = StateDb::open(path, StateDb::Mode::read_only);
      for (std::int64_t since_us : random_period_starts(rng, times, hours, 40))
        check_top_equals_rows(db, since_us, since_us % 2 ? 10 : 1000);
    }
    // The file as a kill -9 would leave it now: the committed rows, not the counts in memory.
    sql_exec(path, "VACUUM INTO '" + copy + "'");
    log.stop();
  }
  CHECK(query_counts_disagreement(path) == 0);
  CHECK(query_counts_through_id(path) == max_id(path));

  REQUIRE(query_counts_through_id(copy) < max_id(copy));
  CHECK(query_counts_disagreement(copy, false) == 0);
  {
    StateDb db = StateDb::open(copy, StateDb::Mode::read_only);
    for (std::int64_t since_us : random_period_starts(rng, times, hours, 10)) check_top_equals_rows(db, since_us, 50);
  }
  // The next writer counts the rows its predecessor had only in memory, then its own.
  StateDb::open(copy, StateDb::Mode::create);
  {
    QueryLog log(copy, unflushed_writer());
    log.start();
    record_random_queries(log, rng, 500, hours);
    log.stop();
  }
  CHECK(query_counts_disagreement(copy) == 0);
  CHECK(query_counts_through_id(copy) == max_id(copy));
  CHECK(sql_int(copy, "SELECT sum(queries) FROM query_counts") == 9'500);
}

TEST_CASE("query counts: a flush at the row bound, and a writer that never started, count every row",
          "[state][query_counts]") {
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path());
  StateDb::open(path, StateDb::Mode::create);
  std::mt19937_64 rng(31);
  {
    QueryLogOptions options = unflushed_writer();
    options.counts_flush_rows = 250;  // many flushes while it writes
    QueryLog log(path, options);
    log.start();
    record_random_queries(log, rng, 3'000, 10);
    wait_written(log, 3'000);
    // Flushed well before stop(): most of the rows are counted already.
    CHECK(query_counts_through_id(path) > 1'500);
    CHECK(query_counts_disagreement(path, false) == 0);
    log.stop();
  }
  CHECK(query_counts_disagreement(path) == 0);
  {
    QueryLog log(path, unflushed_writer());  // stop() writes what was recorded, on its own thread
    record_random_queries(log, rng, 300, 10);
    log.stop();
  }
  CHECK(query_counts_disagreement(path) == 0);
  CHECK(sql_int(path, "SELECT sum(queries) FROM query_counts") == 3'300);
}

TEST_CASE("query counts: a flush at the key bound when every row is a new source, none when sources come back",
          "[state][query_counts]") {
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path());
  StateDb::open(path, StateDb::Mode::create);
  QueryLogOptions options = unflushed_writer();
  options.counts_flush_keys = 200;  // far below the row bound (200,000); the interval is 10 h
  QueryLog log(path, options);
  log.start();
  auto record_from = [&log](int source, int i) {
    QueryLogEntry e;
    e.time_us = kStartUs + i;  // all in one hour
    e.client = *IpAddress::parse("10.1." + std::to_string(source / 256) + "." + std::to_string(source % 256));
    e.query = "exemplo.pt";
    e.outcome = QueryOutcome::found;
    REQUIRE(log.record(std::move(e)));
  };
  for (int i = 0; i < 1'000; ++i) record_from(i, i);  // a million sources, scaled down
  wait_written(log, 1'000);
  // Flushed once 200 keys are held (checked after each batch of at most 97 rows): at most
  // 296 rows are not counted yet, and fewer than 200 keys are held now.
  CHECK(query_counts_through_id(path) > 1'000 - 297);
  CHECK(query_counts_disagreement(path, false) == 0);
  // 1,000 more rows from 10 of the latest sources: at most 10 more keys, so no flush.
  for (int i = 0; i < 1'000; ++i) record_from(990 + i % 10, 1'000 + i);
  wait_written(log, 2'000);
  CHECK(query_counts_through_id(path) <= 1'000);
  log.stop();
  CHECK(query_counts_through_id(path) == 2'000);
  CHECK(query_counts_disagreement(path) == 0);
  CHECK(sql_int(path, "SELECT sum(queries) FROM query_counts") == 2'000);
}

TEST_CASE("query counts: purges while the writer holds uncounted rows stay exact, also when they delete some of "
          "those rows or all of the log", "[state][query_counts]") {
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path());
  StateDb::open(path, StateDb::Mode::create);
  std::mt19937_64 rng(41);
  const int hours = 30;
  auto times = log_random_queries(path, rng, 4'000, hours);
  StateDb db = StateDb::open(path, StateDb::Mode::read_write);
  const std::string purged_above_key = "SELECT count(*) FROM meta WHERE key = 'query_counts_purged_above_through_id'";

  SECTION("the tail is newer than every cutoff (the daemon's case: retention of days, a flush a minute)") {
    QueryLog log(path, unflushed_writer());
    log.start();
    // The tail's times after the whole log: hours 40 to 50.
    std::vector<std::int64_t> tail;
    for (int i = 0; i < 1'500; ++i) {
      QueryLogEntry e;
      e.time_us = kStartUs + 40 * kHourUs + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(10 * kHourUs));
      e.client = *IpAddress::parse("10.1.0." + std::to_string(rng() % 50));
      e.query = "exemplo.pt";
      e.outcome = rng() % 3 ? QueryOutcome::found : QueryOutcome::no_match;
      times.push_back(e.time_us);
      REQUIRE(log.record(std::move(e)));
    }
    wait_written(log, 1'500);
    REQUIRE(query_counts_through_id(path) < max_id(path));
    for (int hour = 2; hour < hours + 2; hour += 5) {
      std::int64_t cutoff_us = kStartUs + hour * kHourUs + static_cast<std::int64_t>(rng() % kHourUs);
      whoisd::purge_some(db, cutoff_us / 1'000'000, 37, 5);
      INFO("cutoff " << hour << " h and a bit");
      REQUIRE(query_counts_disagreement(path, false) == 0);
      REQUIRE(query_counts_through_id(path) < max_id(path));
      for (std::int64_t since_us : random_period_starts(rng, times, hours + 20, 6)) check_top_equals_rows(db, since_us, 50);
    }
    CHECK(sql_int(path, purged_above_key) == 0);
    log.stop();
    CHECK(query_counts_disagreement(path) == 0);
  }

  SECTION("the tail is as old as the log: the purge deletes rows the writer counted in memory") {
    QueryLog log(path, unflushed_writer());
    log.start();
    auto more = record_random_queries(log, rng, 2'000, hours);
    times.insert(times.end(), more.begin(), more.end());
    wait_written(log, 2'000);
    for (int hour = 2; hour < hours + 2; hour += 5) {
      std::int64_t cutoff_us = kStartUs + hour * kHourUs + static_cast<std::int64_t>(rng() % kHourUs);
      whoisd::purge_some(db, cutoff_us / 1'000'000, 37, 5);
      INFO("cutoff " << hour << " h and a bit");
      REQUIRE(query_counts_disagreement(path, false) == 0);
      for (std::int64_t since_us : random_period_starts(rng, times, hours, 6)) check_top_equals_rows(db, since_us, 50);
    }
    CHECK(sql_int(path, purged_above_key) == 1);
    log.stop();  // its flush counts the rows above N from query_log, not from its memory
    CHECK(query_counts_disagreement(path) == 0);
    CHECK(sql_int(path, purged_above_key) == 0);
    CHECK(sql_int(path, "SELECT coalesce(sum(queries), 0) FROM query_counts") ==
          sql_int(path, "SELECT count(*) FROM query_log"));
  }

  SECTION("the purge deletes the whole log, tail included: the next rows may get the same ids again") {
    QueryLog log(path, unflushed_writer());
    log.start();
    record_random_queries(log, rng, 1'000, hours);
    wait_written(log, 1'000);
    whoisd::purge_all(db, (kStartUs + (hours + 2) * kHourUs) / 1'000'000, 100);
    REQUIRE(sql_int(path, "SELECT count(*) FROM query_log") == 0);
    CHECK(sql_int(path, "SELECT count(*) FROM query_counts") == 0);
    CHECK(query_counts_through_id(path) == 0);
    auto again = record_random_queries(log, rng, 700, hours);
    wait_written(log, 1'700);
    CHECK(query_counts_disagreement(path, false) == 0);
    for (std::int64_t since_us : random_period_starts(rng, again, hours, 10)) check_top_equals_rows(db, since_us, 50);
    log.stop();
    CHECK(query_counts_disagreement(path) == 0);
    CHECK(sql_int(path, "SELECT sum(queries) FROM query_counts") == 700);
  }
}

TEST_CASE("query counts: a flush that fails forgets the counts in memory; the next one counts the rows instead",
          "[state][query_counts]") {
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path());
  StateDb::open(path, StateDb::Mode::create);
  std::mt19937_64 rng(51);
  QueryLogOptions options = unflushed_writer();
  options.counts_flush_rows = 100;
  QueryLog log(path, options);
  log.start();
  record_random_queries(log, rng, 50, 5);
  wait_written(log, 50);
  // From now on every write to query_counts fails (the rows still go in).
  sql_exec(path, "CREATE TRIGGER refuse_counts BEFORE INSERT ON query_counts "
                 "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
  record_random_queries(log, rng, 1'000, 5);
  wait_written(log, 1'050);
  CHECK(query_counts_through_id(path) < 1'050);
  CHECK(query_counts_disagreement(path, false) == 0);
  sql_exec(path, "DROP TRIGGER refuse_counts");
  log.stop();
  CHECK(log.counters().written == 1'050);
  CHECK(query_counts_disagreement(path) == 0);
  CHECK(sql_int(path, "SELECT sum(queries) FROM query_counts") == 1'050);
}
