// Small helpers shared by the renderer's tests.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace whoisd::test {

// Expected answers are written with "\n" for readability; answers end lines in CRLF.
inline std::string crlf(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

inline std::size_t count_lines(std::string_view answer) {
  return static_cast<std::size_t>(std::count(answer.begin(), answer.end(), '\n'));
}

// Why a fixed answer breaks FORMAT.md's rules for answers programs judge by
// words and size, or "" when it keeps them: fewer than five lines, every line
// ending in CRLF, none of the words parsers read as "not registered".
inline std::string fixed_answer_rule_violation(std::string_view answer) {
  if (answer.empty()) return "empty answer";
  if (count_lines(answer) >= 5) return "five lines or more";
  if (answer.size() < 2 || answer.substr(answer.size() - 2) != "\r\n") return "does not end in CRLF";
  for (std::size_t i = 0; i < answer.size(); ++i) {
    if (answer[i] == '\n' && (i == 0 || answer[i - 1] != '\r')) return "bare LF";
    if (answer[i] == '\r' && (i + 1 == answer.size() || answer[i + 1] != '\n')) return "bare CR";
  }
  std::string lower(answer);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  for (const std::string_view word : std::array<std::string_view, 3>{"error", "not found", "restricted"}) {
    if (lower.find(word) != std::string::npos) return "holds the word '" + std::string(word) + "'";
  }
  return "";
}

}  // namespace whoisd::test
