// The load generator's judgement: if it misjudges an answer or a percentile, every
// benchmark figure built on it is wrong, so its parts are checked like the daemon's.
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <set>
#include <stdexcept>

#include "answer_check.h"
#include "latency_histogram.h"
#include "query/query_parser.h"
#include "query_mix.h"
#include "source_addresses.h"

using namespace whoisd::bench;

TEST_CASE("answers are judged by their first line that is not a comment") {
  CHECK(classify_answer("Domain: exemplo.pt\r\nDomain Status: ACTIVE\r\n") == AnswerKind::found);
  CHECK(classify_answer("% Terms of use\r\n%\r\n% Answer for the registered domain exemplo.pt\r\nDomain: exemplo.pt\r\n") ==
        AnswerKind::found);
  CHECK(classify_answer("nada.pt - no match\r\n") == AnswerKind::not_found);
  CHECK(classify_answer("Invalid query: not a .pt domain\r\n") == AnswerKind::invalid);
  CHECK(classify_answer("Query limit exceeded: 192.0.2.1 made 1000 queries in 24 hours; suspended until "
                        "2026-11-24T10:00:00Z (suspension 1)\r\n") == AnswerKind::limit);
  CHECK(classify_answer("Query limit exceeded: 192.0.2.1 is suspended until 2026-11-24T10:00:00Z (suspension 2)\r\n") ==
        AnswerKind::limit);
  CHECK(classify_answer("Too many connections from 192.0.2.1\r\n") == AnswerKind::too_many_connections);
  CHECK(classify_answer("Domain Status: ACTIVE\r\nDomain: late.pt\r\n") == AnswerKind::other);
  CHECK(classify_answer("% only comments\r\n") == AnswerKind::other);
  CHECK(classify_answer("") == AnswerKind::other);
}

TEST_CASE("an answer is complete only with CRLF line ends throughout") {
  CHECK(answer_is_complete("Domain: a.pt\r\nDomain Status: ACTIVE\r\n"));
  CHECK_FALSE(answer_is_complete(""));
  CHECK_FALSE(answer_is_complete("Domain: a.pt\r\nDomain Status: ACT"));  // cut short
  CHECK_FALSE(answer_is_complete("Domain: a.pt\nDomain Status: ACTIVE\r\n"));  // a bare LF
  CHECK_FALSE(answer_is_complete("\n"));
}

TEST_CASE("percentiles are within 1.6 % of the exact value") {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 100000; ++v) h.record(v * 1000);  // 1 us .. 100 ms, uniform
  CHECK(h.count() == 100000);
  CHECK(h.min() == 1000);
  CHECK(h.max() == 100'000'000);
  for (double p : {0.5, 0.9, 0.99, 0.999}) {
    const double exact = p * 100000 * 1000;
    const double got = static_cast<double>(h.percentile(p));
    CHECK(got >= exact);
    CHECK(got <= exact * 1.016);
  }
  CHECK(h.percentile(1.0) == h.max());
  CHECK(h.mean() == Approx(50000.5 * 1000));
}

TEST_CASE("small values are exact and merged histograms add up") {
  LatencyHistogram a, b;
  for (int i = 0; i < 10; ++i) a.record(7);
  for (int i = 0; i < 30; ++i) b.record(100);
  a.merge(b);
  CHECK(a.count() == 40);
  CHECK(a.percentile(0.25) == 7);
  CHECK(a.percentile(0.26) == 100);
  CHECK(a.min() == 7);
  CHECK(LatencyHistogram{}.percentile(0.99) == 0);
}

TEST_CASE("the mix is parsed strictly") {
  const MixWeights w = parse_mix("70,20,10");
  CHECK(w.found == 70);
  CHECK(w.not_found == 20);
  CHECK(w.invalid == 10);
  CHECK_THROWS_AS(parse_mix("70,20"), std::invalid_argument);
  CHECK_THROWS_AS(parse_mix("70,20,10,1"), std::invalid_argument);
  CHECK_THROWS_AS(parse_mix("a,b,c"), std::invalid_argument);
  CHECK_THROWS_AS(parse_mix("0,0,0"), std::invalid_argument);
  CHECK_THROWS_AS(parse_mix("-1,2,3"), std::invalid_argument);
}

TEST_CASE("the query mix follows its weights and agrees with whoisd's parser") {
  const whoisd::QueryParser parser;
  // The 64-character label can never be queried: the parser calls it invalid.
  const QueryMix mix({"exemplo.pt", "xn--aores-yra.pt", "a123456789-b123456789-c123456789-d123456789-e123456789-f12345678.pt"},
                     parse_mix("50,30,20"), 7, &parser);
  CHECK(mix.found_count() == 2);
  CHECK(mix.dropped() == 1);
  int counts[3] = {0, 0, 0};
  std::set<std::string> found_lines;
  for (std::uint64_t n = 0; n < 20000; ++n) {
    const Query& q = mix.pick(n);
    REQUIRE(q.line.ends_with("\r\n"));
    const auto parsed = parser.parse(std::string_view(q.line).substr(0, q.line.size() - 2));
    switch (q.expected) {
      case AnswerKind::found:
        ++counts[0];
        found_lines.insert(q.line);
        break;
      case AnswerKind::not_found:
        ++counts[1];
        CHECK(parsed.kind == whoisd::ParsedQuery::Kind::lookup);
        break;
      case AnswerKind::invalid:
        ++counts[2];
        CHECK(parsed.kind == whoisd::ParsedQuery::Kind::invalid);
        break;
      default: FAIL("a query of another kind");
    }
  }
  CHECK(counts[0] == Approx(10000).epsilon(0.05));
  CHECK(counts[1] == Approx(6000).epsilon(0.05));
  CHECK(counts[2] == Approx(4000).epsilon(0.05));
  CHECK(found_lines == std::set<std::string>{"exemplo.pt\r\n", "xn--aores-yra.pt\r\n"});
  CHECK(&mix.pick(12345) == &mix.pick(12345));  // the n-th query depends only on n
  CHECK_THROWS_AS(QueryMix({}, parse_mix("1,0,0"), 1), std::invalid_argument);
}

TEST_CASE("sources take turns over a range inside 127.0.0.0/8") {
  const SourceAddresses s("127.1.0.0", 3);
  char text[INET_ADDRSTRLEN];
  auto at = [&](std::uint64_t n) {
    const sockaddr_in a = s.address(n);
    inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
    return std::string(text);
  };
  CHECK(at(0) == "127.1.0.0");
  CHECK(at(2) == "127.1.0.2");
  CHECK(at(3) == "127.1.0.0");
  CHECK(SourceAddresses("127.16.0.0", 1'000'000).count() == 1'000'000);
  CHECK_FALSE(SourceAddresses("127.1.0.0", 0).enabled());
  CHECK_THROWS_AS(SourceAddresses("10.0.0.1", 1), std::invalid_argument);
  CHECK_THROWS_AS(SourceAddresses("127.255.255.250", 10), std::invalid_argument);
  CHECK_THROWS_AS(SourceAddresses("::1", 1), std::invalid_argument);
  CHECK_THROWS_AS(SourceAddresses("not an address", 1), std::invalid_argument);
}
