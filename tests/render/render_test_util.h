// Small helpers shared by the renderer's tests.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

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

// Why a found answer (rendered with no header or footer) departs from FORMAT.md's
// layout, or "" when it keeps it: every line ends in CRLF and holds no other CR or
// LF; the labels come in FORMAT.md's order, each exactly once (Domain ACE at most
// once), then any number of Name Server lines and then of DS Record lines; dates
// are DD/MM/YYYY HH:MM:SS; a Name Server line has its "| IPv4: ... and IPv6: " form.
inline std::string found_layout_violation(std::string_view answer) {
  std::vector<std::string_view> lines;
  std::size_t at = 0;
  while (at < answer.size()) {
    const std::size_t end = answer.find("\r\n", at);
    if (end == std::string_view::npos) return "the last line does not end in CRLF";
    const std::string_view line = answer.substr(at, end - at);
    if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos) {
      return "a bare CR or LF inside line " + std::to_string(lines.size() + 1);
    }
    lines.push_back(line);
    at = end + 2;
  }
  auto starts = [](std::string_view line, std::string_view prefix) { return line.substr(0, prefix.size()) == prefix; };
  auto is_date = [](std::string_view v) {
    if (v.size() != 19) return false;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const char c = v[i];
      const bool ok = (i == 2 || i == 5) ? c == '/' : i == 10 ? c == ' ' : (i == 13 || i == 16) ? c == ':' : (c >= '0' && c <= '9');
      if (!ok) return false;
    }
    return true;
  };
  std::size_t i = 0;
  if (i < lines.size() && starts(lines[i], "% Answer for the registered domain ")) ++i;
  if (i >= lines.size() || !starts(lines[i], "Domain: ")) return "line " + std::to_string(i + 1) + " is not 'Domain: '";
  ++i;
  if (i < lines.size() && starts(lines[i], "Domain ACE: ")) ++i;
  static const std::array<std::string_view, 14> kOrder = {
      "Domain Status: ", "Creation Date: ", "Expiration Date: ", "Owner Name: ", "Owner Address: ",
      "Owner Locality: ", "Owner ZipCode: ", "Owner Locality ZipCode: ", "Owner Country Code: ", "Owner Email: ",
      "Admin Name: ", "Admin Email: ", "Tech Name: ", "Tech Email: "};
  for (const std::string_view label : kOrder) {
    if (i >= lines.size() || !starts(lines[i], label)) {
      return "line " + std::to_string(i + 1) + " should start with '" + std::string(label) + "'";
    }
    if ((label == "Creation Date: " || label == "Expiration Date: ") && !is_date(lines[i].substr(label.size()))) {
      return "line " + std::to_string(i + 1) + " has no DD/MM/YYYY HH:MM:SS date";
    }
    ++i;
  }
  while (i < lines.size() && starts(lines[i], "Name Server: ")) {
    const std::string_view line = lines[i];
    const std::size_t bar = line.find(" | IPv4: ");
    if (bar == std::string_view::npos || line.find(" and IPv6: ", bar) == std::string_view::npos) {
      return "line " + std::to_string(i + 1) + " is not 'Name Server: host | IPv4: ... and IPv6: ...'";
    }
    if (line.substr(13, bar - 13).find(' ') != std::string_view::npos) {
      return "line " + std::to_string(i + 1) + ": the host is not one word";
    }
    ++i;
  }
  while (i < lines.size() && starts(lines[i], "DS Record: ")) ++i;
  if (i != lines.size()) return "line " + std::to_string(i + 1) + " is not expected after the fields";
  return "";
}

}  // namespace whoisd::test
