// The problems one pass over a whole file finds (the domains `whoisd-snapshot build`
// refuses, the mismatches `whoisd-snapshot check` finds): every one counted, the first
// few kept in words, so that an operator fixes a file in one pass and a file wrong in a
// million rows does not flood the terminal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace whoisd {

// How many problems build and check list before they only count the rest.
inline constexpr std::size_t kProblemsListed = 20;

class ProblemList {
 public:
  explicit ProblemList(std::size_t max_listed = kProblemsListed) : max_listed_(max_listed) {}

  // Counts a problem; keeps its words while fewer than max_listed are kept.
  void add(std::string problem);

  bool empty() const { return count_ == 0; }
  std::int64_t count() const { return count_; }
  // The first max_listed problems, in the order they were added.
  const std::vector<std::string>& listed() const { return listed_; }

  // The listed problems one a line, each after `indent`, then "... and N more" when some
  // were only counted; joined by "\n", no newline at the end. A control character in a
  // problem (its names come from the file) is shown as \xNN, so that none can end a
  // line early or write one that seems to be another problem.
  std::string lines(std::string_view indent) const;

 private:
  std::size_t max_listed_;
  std::int64_t count_ = 0;
  std::vector<std::string> listed_;
};

}  // namespace whoisd
