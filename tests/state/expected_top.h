// whoisd-admin top's answer counted by brute force, one row at a time, and the check
// that top_sources() gives the same: shared by test_state_reports.cpp (rows written
// directly) and test_query_counts.cpp (rows written by the real writer).
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "state/state_reports.h"

namespace whoisd::test {

struct ExpectedTally {
  std::int64_t rows = 0, queries = 0, first_us = 0, last_us = 0;  // queries: the rows the limiter counted
  std::map<std::string, std::int64_t> outcomes;
};

// The outcomes of the queries the limiter counts (policy/limiter.h, "What counts";
// written out here rather than taken from query_log.h, to check it).
inline bool limiter_counts(const std::string& outcome) {
  return outcome == "found" || outcome == "no_match" || outcome == "invalid" || outcome == "help" ||
         outcome == "error";
}

using ExpectedTop = std::vector<std::pair<std::string, ExpectedTally>>;

// Counts the rows at or after since_us; top() gives the busiest `limit` sources: most
// queries the limiter counted first, then most rows, ties by source (the map's order,
// kept by the stable sort).
class ExpectedTopCounter {
 public:
  explicit ExpectedTopCounter(std::int64_t since_us) : since_us_(since_us) {}

  void add(std::int64_t time_us, const std::string& source, const std::string& outcome) {
    if (time_us < since_us_) return;
    ExpectedTally& t = by_source_[source];
    t.first_us = t.rows ? std::min(t.first_us, time_us) : time_us;
    t.last_us = t.rows ? std::max(t.last_us, time_us) : time_us;
    ++t.rows;
    if (limiter_counts(outcome)) ++t.queries;
    ++t.outcomes[outcome];
  }

  ExpectedTop top(std::size_t limit) const {
    ExpectedTop out(by_source_.begin(), by_source_.end());
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return a.second.queries != b.second.queries ? a.second.queries > b.second.queries : a.second.rows > b.second.rows;
    });
    if (out.size() > limit) out.resize(limit);
    return out;
  }

 private:
  std::int64_t since_us_;
  std::map<std::string, ExpectedTally> by_source_;
};

// top_sources()'s answer against the brute-force one: the same sources in the same
// order, each with the same counts, times and outcomes, its outcomes most frequent first.
inline void check_same_top(const std::vector<TopSource>& got, const ExpectedTop& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].source == want[i].first);
    CHECK(got[i].queries == want[i].second.queries);
    CHECK(got[i].not_counted == want[i].second.rows - want[i].second.queries);
    CHECK(got[i].first_us == want[i].second.first_us);
    CHECK(got[i].last_us == want[i].second.last_us);
    std::map<std::string, std::int64_t> outcomes(got[i].outcomes.begin(), got[i].outcomes.end());
    CHECK(outcomes == want[i].second.outcomes);
    for (std::size_t j = 1; j < got[i].outcomes.size(); ++j)
      CHECK(got[i].outcomes[j - 1].second >= got[i].outcomes[j].second);
  }
}

}  // namespace whoisd::test
