// Fuzz target for the renderer (issue 6): arbitrary bytes become the values of a
// published record (split on 0xFF 0xFE) and the arguments of every fixed answer;
// the answers must keep their shape whatever the values hold: every line ends in
// CRLF with no other CR or LF, the found answer has exactly its expected number of
// lines, each line is well-formed UTF-8 without controls, and every fixed answer
// stays under five lines.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "render/answer_renderer.h"
#include "render/answer_value.h"

namespace {

std::size_t check_lines(const std::string& answer) {
  std::size_t lines = 0;
  std::size_t at = 0;
  while (at < answer.size()) {
    const std::size_t end = answer.find("\r\n", at);
    if (end == std::string::npos) std::abort();  // unterminated last line
    const std::string_view line(answer.data() + at, end - at);
    if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos) std::abort();
    // Cleaning a line again changes nothing only if it holds no control and no invalid UTF-8.
    if (whoisd::answer_value(line, line.size() + 1) != line) std::abort();
    ++lines;
    at = end + 2;
  }
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  std::size_t at = 0;
  while (parts.size() < 24) {
    const std::size_t sep = input.find("\xFF\xFE", at);
    parts.emplace_back(input.substr(at, sep == std::string_view::npos ? std::string_view::npos : sep - at));
    if (sep == std::string_view::npos) break;
    at = sep + 2;
  }
  parts.resize(24);
  std::size_t i = 0;
  auto next = [&]() -> const std::string& { return parts[i++]; };

  whoisd::PublishedDomain d;
  d.u_label = next();
  d.a_label = next();
  d.status = next();
  d.created = static_cast<std::int64_t>(std::hash<std::string>{}(parts[0]));
  d.expires = -static_cast<std::int64_t>(size) * 1'000'003;
  d.registrant = {size % 2 == 0, next(), next(), next(), next(), next(), next(), next()};
  d.admin = {size % 3 != 0, next(), next()};
  d.tech = {size % 5 != 0, next(), next()};
  d.name_servers = {{next(), {next(), next()}, {next()}}, {next(), {}, {}}};
  d.ds_records = {{static_cast<std::uint32_t>(size), 13, 2, next()}};
  const std::string& extra = next();

  const whoisd::AnswerRenderer renderer(whoisd::AnswerTexts{{extra}, {parts[1], parts[2]}});
  // header, "% Answer for", the fields, two name servers, one DS record, two footer lines
  const std::size_t expected = 2 + (d.u_label.empty() || d.u_label == d.a_label ? 15 : 16) + 2 + 1 + 2;
  if (check_lines(renderer.found(d, true)) != expected) std::abort();

  for (const std::string& fixed :
       {renderer.no_match(parts[0]), renderer.invalid(parts[1]), renderer.help(),
        renderer.limit_crossed(parts[2], static_cast<std::uint32_t>(size), d.created, 7),
        renderer.suspended(parts[3], d.expires, 1), renderer.too_many_connections(parts[4])}) {
    if (check_lines(fixed) >= 5) std::abort();
  }
  return 0;
}
