// The query log: what a row holds, and the writer under a burst — every entry is
// written or counted as dropped, and record() never waits for the disk.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "common/escape.h"
#include "state/query_log.h"
#include "state/state_db.h"
#include "state_test_util.h"
#include "support/temp_dir.h"

using whoisd::IpAddress;
using whoisd::QueryLog;
using whoisd::QueryLogEntry;
using whoisd::QueryOutcome;
using whoisd::StateDb;
using whoisd::test::sql_int;
using whoisd::test::sql_text;
using whoisd::test::TempDir;
using whoisd::test::new_state;

namespace {

QueryLogEntry entry(const char* client, std::string query, QueryOutcome outcome, std::int64_t time_us = 1'000'000) {
  QueryLogEntry e;
  e.time_us = time_us;
  e.client = *IpAddress::parse(client);
  e.query = std::move(query);
  e.outcome = outcome;
  e.answer_us = 42;
  return e;
}

}  // namespace

TEST_CASE("outcome words round-trip", "[state][query_log]") {
  for (int i = 0; i <= static_cast<int>(QueryOutcome::error); ++i) {
    auto o = static_cast<QueryOutcome>(i);
    CHECK(whoisd::parse_query_outcome(whoisd::to_string(o)) == o);
  }
  CHECK(whoisd::to_string(QueryOutcome::no_match) == "no_match");
  CHECK_FALSE(whoisd::parse_query_outcome("nope"));
}

TEST_CASE("a logged query keeps time, source, client, proxy, escaped text, outcome and answer time",
          "[state][query_log]") {
  TempDir dir;
  std::string path = new_state(dir);
  {
    QueryLog log(path, {.ipv6_prefix = 64});
    log.start();
    QueryLogEntry proxied = entry("2001:db8:1:2:aaaa::7", std::string("a\x01\xff\\b.pt\r"), QueryOutcome::invalid,
                                  1'767'225'600'123'456);
    proxied.proxy_peer = *IpAddress::parse("127.0.0.1");
    proxied.answer_us = 1234;
    CHECK(log.record(std::move(proxied)));
    CHECK(log.record(entry("::ffff:192.0.2.9", "açores.pt", QueryOutcome::found, 1'767'225'601'000'000)));
    log.stop();
    auto c = log.counters();
    CHECK(c.written == 2);
    CHECK(c.dropped == 0);
    CHECK(c.backlog == 0);
  }
  CHECK(sql_int(path, "SELECT time_us FROM query_log WHERE outcome = 'invalid'") == 1'767'225'600'123'456);
  CHECK(sql_text(path, "SELECT source FROM query_log WHERE outcome = 'invalid'") == "2001:db8:1:2::/64");
  CHECK(sql_text(path, "SELECT client FROM query_log WHERE outcome = 'invalid'") == "2001:db8:1:2:aaaa::7");
  CHECK(sql_text(path, "SELECT proxy_peer FROM query_log WHERE outcome = 'invalid'") == "127.0.0.1");
  CHECK(sql_text(path, "SELECT query FROM query_log WHERE outcome = 'invalid'") == "a\\x01\\xff\\\\b.pt\\x0d");
  CHECK(sql_int(path, "SELECT answer_us FROM query_log WHERE outcome = 'invalid'") == 1234);
  // An IPv4-mapped client is its IPv4 address; no proxy is NULL; readable UTF-8 stays.
  CHECK(sql_text(path, "SELECT source FROM query_log WHERE outcome = 'found'") == "192.0.2.9");
  CHECK(sql_text(path, "SELECT client FROM query_log WHERE outcome = 'found'") == "192.0.2.9");
  CHECK(sql_text(path, "SELECT proxy_peer FROM query_log WHERE outcome = 'found'") == "<null>");
  CHECK(sql_text(path, "SELECT query FROM query_log WHERE outcome = 'found'") == "açores.pt");
}

TEST_CASE("rows inserted 32 to a statement hold what rows inserted one by one hold", "[state][query_log]") {
  // The writer inserts a batch 32 rows to a statement and its last rows one by one, with
  // the texts of a statement's rows in buffers reused from statement to statement: every
  // row must still hold its own entry's values (a long query before a short one, a
  // proxied row before a direct one), in order, with consecutive ids, and the counts
  // flushed at stop must equal a count of the rows.
  const std::size_t batch = GENERATE(std::size_t{4096}, std::size_t{40}, std::size_t{1});
  CAPTURE(batch);
  constexpr int kRows = 75;  // with a batch of 4096: two statements of 32, then 11 of one
  TempDir dir;
  std::string path = new_state(dir);
  std::vector<QueryLogEntry> sent;
  for (int i = 0; i < kRows; ++i) {
    const std::string client = i % 5 == 0 ? "2001:db8:" + std::to_string(i) + "::1" : "192.0.2." + std::to_string(i);
    std::string query = i % 7 == 0 ? std::string(300 + i, 'x') + "\x01\\.pt" : "d" + std::to_string(i) + ".pt";
    if (i % 4 == 1) query += "\xff\r";
    QueryLogEntry e = entry(client.c_str(), query, static_cast<QueryOutcome>(i % 9), 1'767'225'600'000'000 + i * 1'000);
    e.answer_us = static_cast<std::uint32_t>(i * 3);
    if (i % 3 == 0) e.proxy_peer = *IpAddress::parse("10.0.0." + std::to_string(i));
    sent.push_back(e);
  }
  {
    QueryLog log(path, {.batch = batch});
    for (const QueryLogEntry& e : sent) REQUIRE(log.record(e));
    log.stop();  // never started: stop() writes what was recorded, in batches
    CHECK(log.counters().written == kRows);
  }
  CHECK(sql_int(path, "SELECT count(*) FROM query_log") == kRows);
  CHECK(sql_int(path, "SELECT min(id) FROM query_log") == 1);
  CHECK(sql_int(path, "SELECT max(id) FROM query_log") == kRows);
  for (int i = 0; i < kRows; ++i) {
    const QueryLogEntry& e = sent[static_cast<std::size_t>(i)];
    const std::string row = " FROM query_log WHERE id = " + std::to_string(i + 1);
    CAPTURE(i);
    CHECK(sql_int(path, "SELECT time_us" + row) == e.time_us);
    CHECK(sql_text(path, "SELECT client" + row) == e.client.to_string());
    CHECK(sql_text(path, "SELECT proxy_peer" + row) == (e.proxy_peer ? e.proxy_peer->to_string() : "<null>"));
    CHECK(sql_text(path, "SELECT query" + row) == whoisd::escape_keep_utf8(e.query, 2048));
    CHECK(sql_text(path, "SELECT outcome" + row) == whoisd::to_string(e.outcome));
    CHECK(sql_int(path, "SELECT answer_us" + row) == e.answer_us);
  }
  CHECK(sql_text(path, "SELECT source FROM query_log WHERE id = 6") == "2001:db8:5::/64");
  CHECK(sql_text(path, "SELECT value FROM meta WHERE key = 'query_counts_through_id'") == std::to_string(kRows));
  CHECK(whoisd::test::query_counts_disagreement(path) == 0);
  CHECK(sql_int(path, "SELECT sum(queries) FROM query_counts") == kRows);
}

TEST_CASE("a full backlog drops and counts; what was accepted is written at stop", "[state][query_log]") {
  TempDir dir;
  std::string path = new_state(dir);
  QueryLog log(path, {.capacity = 100, .batch = 10});
  // Not started: nothing drains the backlog, as when the disk is stuck.
  int accepted = 0;
  for (int i = 0; i < 150; ++i) accepted += log.record(entry("192.0.2.1", "x.pt", QueryOutcome::no_match)) ? 1 : 0;
  CHECK(accepted == 100);
  auto c = log.counters();
  CHECK(c.recorded == 100);
  CHECK(c.dropped == 50);
  CHECK(c.backlog == 100);
  log.stop();
  c = log.counters();
  CHECK(c.written == 100);
  CHECK(c.backlog == 0);
  CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 100);
  // After stop, record() refuses (and counts) rather than queueing forever.
  CHECK_FALSE(log.record(entry("192.0.2.1", "x.pt", QueryOutcome::no_match)));
  CHECK(log.counters().dropped == 51);
}

TEST_CASE("a burst of 200,000 queries from 4 threads: every one written or counted as dropped",
          "[state][query_log][burst]") {
  TempDir dir;
  std::string path = new_state(dir);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50'000;
  QueryLog log(path, {.capacity = 100'000, .batch = 4096});
  log.start();
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> refused{0};
  std::atomic<int> threads_accepted{0};  // threads with at least one entry accepted
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      bool any = false;
      for (int i = 0; i < kPerThread; ++i) {
        QueryLogEntry e = entry("198.51.100.1", "dominio-" + std::to_string(i) + ".pt", QueryOutcome::no_match,
                                1'767'225'600'000'000 + i);
        e.client = IpAddress::v4(0xc6336400u + static_cast<std::uint32_t>(t));  // 198.51.100.t
        if (log.record(std::move(e)))
          any = true;
        else
          refused.fetch_add(1);
      }
      if (any) threads_accepted.fetch_add(1);
    });
  for (auto& th : threads) th.join();
  auto during = log.counters();
  CHECK(during.recorded + during.dropped == kThreads * kPerThread);
  CHECK(during.dropped == refused.load());
  CHECK(during.backlog <= 100'000);
  log.stop();
  auto c = log.counters();
  CHECK(c.written + c.dropped == kThreads * kPerThread);
  CHECK(c.backlog == 0);
  CHECK(c.write_errors == 0);
  CHECK(sql_int(path, "SELECT count(*) FROM query_log") == static_cast<std::int64_t>(c.written));
  // One source per thread whose entries got in (a thread that started late may have met
  // a full backlog for all of its 50,000).
  CHECK(threads_accepted.load() >= 1);
  CHECK(sql_int(path, "SELECT count(DISTINCT source) FROM query_log") == threads_accepted.load());
}

TEST_CASE("stop() while 3 threads record: every accepted entry is written, in the order of the query times",
          "[state][query_log][burst]") {
  TempDir dir;
  std::string path = new_state(dir);
  constexpr int kThreads = 3;
  QueryLog log(path, {.capacity = 100'000, .batch = 512, .max_delay = std::chrono::milliseconds(5)});
  log.start();
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> accepted{0};
  std::array<std::atomic<std::uint64_t>, kThreads> accepted_by{};  // each thread's accepted entries
  std::atomic<bool> stopping{false};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      // Until stop() refuses: the last accepted entries race with the writer's last pass.
      for (std::int64_t i = 0;; ++i) {
        QueryLogEntry e = entry("198.51.100.1", "x.pt", QueryOutcome::found, 1'767'225'600'000'000 + i);
        e.client = IpAddress::v4(0xc6336400u + static_cast<std::uint32_t>(t));  // 198.51.100.t
        if (log.record(std::move(e))) {
          accepted.fetch_add(1);
          accepted_by[static_cast<std::size_t>(t)].fetch_add(1);
        } else if (stopping.load()) {
          break;  // refused once stop() was called (before it, only for a full backlog)
        }
      }
    });
  // Stop once the writer is busy and every thread is recording (on a loaded machine a
  // thread may start after the others have written 20,000 entries).
  auto every_thread_recording = [&] {
    return std::all_of(accepted_by.begin(), accepted_by.end(), [](const auto& n) { return n.load() > 0; });
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((log.counters().written < 20'000 || !every_thread_recording()) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  stopping.store(true);
  log.stop();
  for (auto& th : threads) th.join();
  auto c = log.counters();
  CHECK(c.recorded == accepted.load());
  CHECK(c.written == c.recorded);
  CHECK(c.backlog == 0);
  CHECK(sql_int(path, "SELECT count(*) FROM query_log") == static_cast<std::int64_t>(accepted.load()));
  CHECK(sql_int(path, "SELECT count(DISTINCT client) FROM query_log") == kThreads);
  // Each thread's entries in its order: along the row ids, each client's times only grow.
  CHECK(sql_int(path,
                "SELECT count(*) FROM (SELECT time_us, lag(time_us) OVER (PARTITION BY client ORDER BY id) AS prev "
                "FROM query_log) WHERE prev >= time_us") == 0);
}

TEST_CASE("entries recorded by several threads are written in the order the queries arrived",
          "[state][query_log]") {
  TempDir dir;
  std::string path = new_state(dir);
  QueryLog log(path);
  // Not started: both threads' entries wait in their own lanes for the one pass at stop().
  auto record_every_other = [&](int first) {
    for (int i = first; i < 2000; i += 2) log.record(entry("192.0.2.1", "x.pt", QueryOutcome::found, 1'000'000 + i));
  };
  std::thread odd(record_every_other, 1);
  odd.join();  // all of one thread first, then all of the other
  std::thread even(record_every_other, 0);
  even.join();
  log.stop();
  CHECK(log.counters().written == 2000);
  CHECK(sql_int(path,
                "SELECT count(*) FROM (SELECT time_us, lag(time_us) OVER (ORDER BY id) AS prev FROM query_log) "
                "WHERE prev >= time_us") == 0);
}

TEST_CASE("the query log needs an existing state database", "[state][query_log]") {
  TempDir dir;
  CHECK_THROWS_WITH(QueryLog(whoisd::state_db_path(dir.path())), Catch::Contains("does not exist"));
}

TEST_CASE("drops are logged: once when they start, with their number when they end", "[state][query_log]") {
  TempDir dir;
  std::string path = new_state(dir);
  std::string captured = dir.file("stderr.log");
  std::fflush(stderr);
  int saved = dup(2);
  int file = open(captured.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(file >= 0);
  dup2(file, 2);
  close(file);
  {
    QueryLog log(path, {.capacity = 10, .batch = 4096, .max_delay = std::chrono::milliseconds(50)});
    log.start();
    for (int i = 0; i < 100; ++i) log.record(entry("192.0.2.1", "x.pt", QueryOutcome::found));
    log.stop();
    auto c = log.counters();
    CHECK(c.written + c.dropped == 100);
    CHECK(c.dropped >= 80);
  }
  dup2(saved, 2);
  close(saved);
  std::ifstream in(captured);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::Contains("event=query_log_dropping") && Catch::Contains("capacity=10"));
  CHECK_THAT(text, Catch::Contains("event=query_log_dropped") && Catch::Contains("entries="));
}

TEST_CASE("a failed batch is retried, and counted as lost only when it keeps failing", "[state][query_log]") {
  TempDir dir;
  std::string path = new_state(dir);
  // Test-only fault injection: inserts fail while meta holds 'fail'.
  whoisd::test::sql_exec(path,
                         "CREATE TRIGGER fail_inserts BEFORE INSERT ON query_log "
                         "WHEN EXISTS (SELECT 1 FROM meta WHERE key = 'fail') "
                         "BEGIN SELECT RAISE(ABORT, 'injected failure'); END; "
                         "INSERT INTO meta VALUES ('fail', '1')");
  SECTION("a passing fault: the retry writes the batch") {
    QueryLog log(path, {.max_delay = std::chrono::milliseconds(10)});
    for (int i = 0; i < 5; ++i) log.record(entry("192.0.2.1", "x.pt", QueryOutcome::found));
    log.start();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (log.counters().write_errors == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    whoisd::test::sql_exec(path, "DELETE FROM meta WHERE key = 'fail'");
    log.stop();
    auto c = log.counters();
    CHECK(c.write_errors >= 1);
    CHECK(c.written == 5);
    CHECK(c.dropped == 0);
    CHECK(sql_int(path, "SELECT count(*) FROM query_log") == 5);
  }
  SECTION("a lasting fault: the batch is lost and counted") {
    QueryLog log(path);
    for (int i = 0; i < 5; ++i) log.record(entry("192.0.2.1", "x.pt", QueryOutcome::found));
    log.stop();
    auto c = log.counters();
    CHECK(c.write_errors == 3);
    CHECK(c.written == 0);
    CHECK(c.dropped == 5);
    CHECK(c.backlog == 0);
  }
}
