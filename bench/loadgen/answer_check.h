// What a whois answer is, judged the way client programs judge it: by its first line
// that is not a `%` comment (FORMAT.md), and whether it arrived whole.
#pragma once

#include <string_view>

namespace whoisd::bench {

enum class AnswerKind { found, not_found, invalid, limit, too_many_connections, other };

const char* to_string(AnswerKind kind);

// The kind named by the first non-comment line: `Domain: ` (found), `... - no match`,
// `Invalid query:`, `Query limit exceeded` (both limit answers), `Too many connections from`.
AnswerKind classify_answer(std::string_view answer);

// An answer is complete when it is not empty, ends in CRLF and has no bare LF; the
// caller separately requires that it ended by the server closing the connection.
bool answer_is_complete(std::string_view answer);

}  // namespace whoisd::bench
