// ProblemList (problem_list.h): what build and check list of the problems they find.
#include <catch2/catch.hpp>

#include <string>

#include "snapshot/problem_list.h"

using whoisd::ProblemList;

TEST_CASE("a problem list counts every problem and lists the first few, then how many more") {
  ProblemList none(3);
  CHECK(none.empty());
  CHECK(none.count() == 0);
  CHECK(none.lines("  ") == "");

  ProblemList some(3);
  some.add("domain 'a.pt': first");
  some.add("domain 'b.pt': second");
  CHECK_FALSE(some.empty());
  CHECK(some.count() == 2);
  CHECK(some.lines("  ") == "  domain 'a.pt': first\n  domain 'b.pt': second");

  ProblemList many(3);
  for (int i = 1; i <= 25; ++i) many.add("problem " + std::to_string(i));
  CHECK(many.count() == 25);
  REQUIRE(many.listed().size() == 3);
  CHECK(many.listed().back() == "problem 3");
  CHECK(many.lines("> ") == "> problem 1\n> problem 2\n> problem 3\n> ... and 22 more");

  ProblemList unlisted(0);
  unlisted.add("x");
  CHECK(unlisted.lines("  ") == "  ... and 1 more");
}

TEST_CASE("a problem is one line: control characters from the file are shown as \\xNN, the rest as it is") {
  ProblemList list;
  list.add("'forged.pt\r\n  domain 'other.pt': fine': in domains, missing from published_domains");
  list.add("'açores.pt': already \\xc2\\xa0 escaped\t");
  // What reorders or breaks a line in a terminal without being a C0 control: a
  // right-to-left override, a line separator, NEL, and bytes that are not UTF-8.
  list.add("'\xE2\x80\xAEtp.evil' \xE2\x80\xA8 \xC2\x85 \xFF");
  CHECK(list.lines("  ") ==
        "  'forged.pt\\x0d\\x0a  domain 'other.pt': fine': in domains, missing from published_domains\n"
        "  'açores.pt': already \\xc2\\xa0 escaped\\x09\n"
        "  '\\xe2\\x80\\xaetp.evil' \\xe2\\x80\\xa8 \\xc2\\x85 \\xff");
}
