#include "snapshot/problem_list.h"

#include <cstdio>

namespace whoisd {

namespace {

// Control characters as \xNN; everything else as it is (the problems quote values
// escaped already, and UTF-8 names stay readable).
void append_on_one_line(std::string& out, std::string_view text) {
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += ch;
    }
  }
}

}  // namespace

void ProblemList::add(std::string problem) {
  ++count_;
  if (listed_.size() < max_listed_) listed_.push_back(std::move(problem));
}

std::string ProblemList::lines(std::string_view indent) const {
  std::string out;
  for (const std::string& problem : listed_) {
    if (!out.empty()) out += '\n';
    out += indent;
    append_on_one_line(out, problem);
  }
  const std::int64_t unlisted = count_ - static_cast<std::int64_t>(listed_.size());
  if (unlisted > 0) {
    if (!out.empty()) out += '\n';
    out += std::string(indent) + "... and " + std::to_string(unlisted) + " more";
  }
  return out;
}

}  // namespace whoisd
