#include "answer_check.h"

namespace whoisd::bench {

const char* to_string(AnswerKind kind) {
  switch (kind) {
    case AnswerKind::found: return "found";
    case AnswerKind::not_found: return "no-match";
    case AnswerKind::invalid: return "invalid";
    case AnswerKind::limit: return "limit";
    case AnswerKind::too_many_connections: return "too-many-connections";
    case AnswerKind::other: return "other";
  }
  return "other";
}

AnswerKind classify_answer(std::string_view answer) {
  while (!answer.empty()) {
    const auto end = answer.find('\n');
    std::string_view line = answer.substr(0, end);
    answer = end == std::string_view::npos ? std::string_view{} : answer.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '%') continue;  // header, footer, "% Answer for ..."
    if (line.starts_with("Domain: ")) return AnswerKind::found;
    if (line.ends_with(" - no match")) return AnswerKind::not_found;
    if (line.starts_with("Invalid query:")) return AnswerKind::invalid;
    if (line.starts_with("Query limit exceeded")) return AnswerKind::limit;
    if (line.starts_with("Too many connections from")) return AnswerKind::too_many_connections;
    return AnswerKind::other;
  }
  return AnswerKind::other;
}

bool answer_is_complete(std::string_view answer) {
  if (answer.size() < 2 || !answer.ends_with("\r\n")) return false;
  for (std::size_t i = answer.find('\n'); i != std::string_view::npos; i = answer.find('\n', i + 1))
    if (i == 0 || answer[i - 1] != '\r') return false;
  return true;
}

}  // namespace whoisd::bench
