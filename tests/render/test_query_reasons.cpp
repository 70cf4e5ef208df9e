// The invalid-query reasons the query parser really produces go through the
// renderer unchanged (none holds a word client libraries read as "not
// registered", none is empty), and their answers keep the fixed-answer rules.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "query/query_parser.h"
#include "render/answer_renderer.h"
#include "render_test_util.h"

TEST_CASE("every invalid-query reason of the parser is rendered as it is", "[render][fixed][query]") {
  const whoisd::QueryParser parser;
  const whoisd::AnswerRenderer renderer(whoisd::AnswerTexts{{"% header"}, {"% footer"}});
  const std::string long_label(64, 'a');
  const std::string long_line(2000, 'b');
  const char* const queries[] = {
      "",          " ",           "a b",         "-T dn example.pt", "user@example.pt", "192.0.2.1",
      "2001:db8::1", "example.com", "pt",        "com.pt",           "a..pt",           "xn--zz.pt",
      "ex_ample.pt", "-a.pt",       "ab--cd.pt", "exa\x01mple.pt",   "+351213456789",   "TIT-000123",
      "ñ.pt",        "example.pt.", "www.example.pt",
  };
  std::set<std::string> reasons;
  auto check = [&](const std::string& query) {
    const whoisd::ParsedQuery q = parser.parse(query);
    if (q.kind != whoisd::ParsedQuery::Kind::invalid) return;
    reasons.insert(q.reason);
    const std::string answer = renderer.invalid(q.reason);
    INFO("query '" << query << "' reason '" << q.reason << "'");
    CHECK(answer == "Invalid query: " + q.reason + "\r\n% footer\r\n");
    CHECK(whoisd::test::fixed_answer_rule_violation(answer).empty());
  };
  for (const char* query : queries) check(query);
  check(long_label + ".pt");
  check(long_line);
  CHECK(reasons.size() >= 8);  // the sample reaches many different reasons
}
