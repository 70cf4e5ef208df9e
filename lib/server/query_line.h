// Framing of the one query line a client sends (RFC 3912): the bytes up to LF, with
// an optional CR before it, at most kMaxQueryLineBytes of them. Kept apart from the
// socket code so that the rule is stated once, tested and fuzzed on its own.
#pragma once

#include <string_view>

namespace whoisd {

struct QueryLineFrame {
  enum class Status {
    need_more,  // no LF yet, and not too long yet
    complete,   // `line` is the query, without CR LF
    too_long,   // more than kMaxQueryLineBytes before the LF (or no LF in sight)
  };
  Status status = Status::need_more;
  std::string_view line;  // complete: the query; too_long: its first kMaxQueryLineBytes bytes
};

// Frames the start of `input` (everything received after any PROXY header).
// `at_eof`: the client half-closed; a line without its LF is then complete as it is.
QueryLineFrame frame_query_line(std::string_view input, bool at_eof = false);

}  // namespace whoisd
