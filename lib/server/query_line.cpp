#include "server/query_line.h"

#include "query/query_parser.h"

namespace whoisd {

QueryLineFrame frame_query_line(std::string_view input, bool at_eof) {
  using Status = QueryLineFrame::Status;
  std::size_t lf = input.find('\n');
  std::size_t end = lf;
  if (lf == std::string_view::npos) {
    if (at_eof) {
      end = input.size();
    } else {
      if (input.size() < kMaxQueryLineBytes + 1) return {Status::need_more, {}};
      // A maximal line whose CR has come and whose LF has not.
      if (input.size() == kMaxQueryLineBytes + 1 && input.back() == '\r') return {Status::need_more, {}};
      return {Status::too_long, input.substr(0, kMaxQueryLineBytes)};
    }
  }
  std::size_t content = (end > 0 && input[end - 1] == '\r') ? end - 1 : end;
  if (content > kMaxQueryLineBytes) return {Status::too_long, input.substr(0, kMaxQueryLineBytes)};
  return {Status::complete, input.substr(0, content)};
}

}  // namespace whoisd
