// The query-log writer's in-memory counts (state/query_count_table.h): random rows from
// IPv4 and IPv6 sources over a few hours give the same counts as a std::map counted
// here, in query_counts' key order, through the index's growth, after clear() (the
// memory reused, not grown) and when rows are added after a sort.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "common/address.h"
#include "policy/source_key.h"
#include "state/query_count_table.h"
#include "state/query_counts.h"

using whoisd::IpAddress;
using whoisd::QueryCountTable;
using whoisd::QueryOutcome;
using whoisd::SourceKey;

namespace {

constexpr std::int64_t kHourUs = 3'600'000'000;
constexpr std::int64_t kStartUs = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z

struct Expected {
  std::int64_t queries = 0, first_us = 0, last_us = 0;
};
// (hour, source text, outcome word): query_counts' primary key, in SQLite's order.
using ExpectedCounts = std::map<std::tuple<std::int64_t, std::string, std::string>, Expected>;

SourceKey random_source(std::mt19937_64& rng, std::size_t distinct) {
  std::uint64_t n = rng() % distinct;
  if (n % 4 == 0) {  // a quarter IPv6, grouped by /64 (the low bits must not matter)
    std::array<std::uint8_t, 16> bytes{0x20, 0x01, 0x0d, 0xb8};
    for (int i = 0; i < 4; ++i) bytes[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
    bytes[15] = static_cast<std::uint8_t>(rng());
    return whoisd::source_key(IpAddress::v6(bytes), 64);
  }
  return whoisd::source_key(IpAddress::v4(static_cast<std::uint32_t>(0x0a000000u + n)), 64);
}

void add_random_rows(QueryCountTable& table, ExpectedCounts& expected, std::mt19937_64& rng, int rows,
                     std::size_t distinct) {
  for (int i = 0; i < rows; ++i) {
    std::int64_t time_us = kStartUs + static_cast<std::int64_t>(rng() % (3 * kHourUs));
    SourceKey source = random_source(rng, distinct);
    auto outcome = static_cast<QueryOutcome>(rng() % 9);
    std::string text = to_string(source);
    table.add(time_us, source, text, outcome);
    Expected& e = expected[{whoisd::query_count_hour(time_us), text, std::string(to_string(outcome))}];
    e.first_us = e.queries == 0 ? time_us : std::min(e.first_us, time_us);
    e.last_us = e.queries == 0 ? time_us : std::max(e.last_us, time_us);
    ++e.queries;
  }
}

void check_equal(QueryCountTable& table, const ExpectedCounts& expected) {
  table.sort_in_table_order();
  REQUIRE(table.size() == expected.size());
  std::size_t i = 0;
  for (const auto& [key, counts] : expected) {
    QueryCountTable::Row row = table.row(i++);
    INFO("row " << i - 1 << ": " << std::get<1>(key));
    CHECK(row.hour == std::get<0>(key));
    CHECK(row.source == std::get<1>(key));
    CHECK(to_string(row.outcome) == std::get<2>(key));
    CHECK(row.queries == counts.queries);
    CHECK(row.first_us == counts.first_us);
    CHECK(row.last_us == counts.last_us);
  }
}

}  // namespace

TEST_CASE("query count table: the counts of random rows, in query_counts' order", "[state][query_counts]") {
  std::mt19937_64 rng(GENERATE(1u, 2u, 3u));
  QueryCountTable table;
  ExpectedCounts expected;
  SECTION("many keys seen about once (the index grows many times)") {
    add_random_rows(table, expected, rng, 60'000, 1'000'000);
    check_equal(table, expected);
  }
  SECTION("few keys seen often") {
    add_random_rows(table, expected, rng, 60'000, 50);
    check_equal(table, expected);
  }
}

TEST_CASE("query count table: clear() forgets the keys and keeps the memory", "[state][query_counts]") {
  std::mt19937_64 rng(7);
  QueryCountTable table;
  ExpectedCounts expected;
  add_random_rows(table, expected, rng, 20'000, 100'000);
  check_equal(table, expected);
  const std::size_t allocated = table.allocated_bytes();
  CHECK(allocated > 0);
  for (int flush = 0; flush < 3; ++flush) {
    table.clear();
    CHECK(table.empty());
    expected.clear();
    add_random_rows(table, expected, rng, 15'000, 100'000);  // fewer keys: the same memory holds them
    check_equal(table, expected);
    CHECK(table.allocated_bytes() == allocated);
  }
}

TEST_CASE("query count table: rows added after a sort are counted with the earlier ones", "[state][query_counts]") {
  std::mt19937_64 rng(11);
  QueryCountTable table;
  ExpectedCounts expected;
  add_random_rows(table, expected, rng, 5'000, 2'000);
  check_equal(table, expected);
  add_random_rows(table, expected, rng, 5'000, 2'000);
  check_equal(table, expected);
}
