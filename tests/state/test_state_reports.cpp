// whoisd-admin top's counting (the rows of the period's first hour and query_counts
// for the whole hours after it), including rows written out of time order, against a
// count made here from the rows themselves. test_query_counts.cpp writes through the
// real writer; this one writes rows directly and counts them with the upgrade's
// rebuild_query_counts.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <tuple>

#include "state/query_counts.h"
#include "state/state_db.h"
#include "state/state_reports.h"
#include "expected_top.h"
#include "state_test_util.h"
#include "support/temp_dir.h"

using whoisd::StateDb;
using whoisd::TopSource;
using whoisd::test::TempDir;

namespace {

struct Row {
  std::int64_t time_us;
  std::string source, outcome;
};

}  // namespace

TEST_CASE("top sources: the same counts for short and long periods, rows out of time order included") {
  TempDir dir;
  std::string path = whoisd::state_db_path(dir.path());
  StateDb db = StateDb::open(path, StateDb::Mode::create);

  // 20,000 rows over ~2 days; sources of very different activity; one row in 50 is
  // written late (a time earlier than the rows before it), as two loops may do.
  std::mt19937_64 rng(7);
  const std::int64_t start_us = 1'767'225'600'000'000;
  // Counted by the limiter or not: top's QUERIES is the former whichever way a row is read.
  const char* kOutcomes[] = {"found", "no_match", "invalid", "suspended", "timeout", "too_many_connections"};
  std::vector<Row> rows;
  std::int64_t t = start_us;
  for (int i = 0; i < 20000; ++i) {
    t += static_cast<std::int64_t>(rng() % 17'000'000);
    std::int64_t when = (i % 50 == 49) ? t - static_cast<std::int64_t>(rng() % 3'600'000'000) : t;
    int s = static_cast<int>(rng() % 8 == 0 ? rng() % 5 : 5 + rng() % 400);
    rows.push_back({when, "10.0." + std::to_string(s / 256) + "." + std::to_string(s % 256), kOutcomes[rng() % 6]});
  }
  db.exec("BEGIN");
  for (const Row& r : rows)
    db.exec("INSERT INTO query_log (time_us, source, client, query, outcome, answer_us) VALUES (" +
            std::to_string(r.time_us) + ", '" + r.source + "', '" + r.source + "', 'exemplo.pt', '" + r.outcome +
            "', 100)");
  whoisd::rebuild_query_counts(db);
  db.exec("COMMIT");

  // From the whole log to the last minutes, and beyond the end; and periods starting
  // at a late row's time, so that rows written before it (lower ids) fall in the period too.
  const std::int64_t end_us = t;
  std::vector<std::int64_t> since_values;
  for (std::int64_t back_us : {end_us - start_us + 1, (end_us - start_us) / 2, (end_us - start_us) / 7,
                               (end_us - start_us) / 9, std::int64_t{3'600'000'000}, std::int64_t{300'000'000},
                               std::int64_t{0}, std::int64_t{-1}})
    since_values.push_back(end_us - back_us);
  for (std::size_t i = rows.size() - 1; i > rows.size() - 300; --i)
    if (i % 50 == 49) since_values.push_back(rows[i].time_us);
  for (std::int64_t since_us : since_values) {
    INFO("since " << since_us << " (" << (end_us - since_us) / 1'000'000 << " s before the last row)");
    auto got = whoisd::top_sources(db, since_us, 10);
    whoisd::test::ExpectedTopCounter want(since_us);
    for (const Row& r : rows) want.add(r.time_us, r.source, r.outcome);
    whoisd::test::check_same_top(got, want.top(10));
  }
}
