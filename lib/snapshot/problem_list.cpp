#include "snapshot/problem_list.h"

#include <cstdio>

#include "common/escape.h"

namespace whoisd {

namespace {

// What could end a line early, or change what a terminal shows (a control character,
// a line separator, a bidirectional override, bytes that are not UTF-8), as \xNN per
// byte; printable text as it is. (Not escape_keep_utf8: the problems quote values that
// are escaped already, whose backslashes must not double.)
void append_on_one_line(std::string& out, std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    if (const std::size_t n = printable_utf8_length(text.substr(i))) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    char escaped[8];
    std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(text[i]));
    out += escaped;
    ++i;
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
