// Turning hostile bytes (a client's query, a value from a file) into text that is
// safe to put in a log line, a database row or an answer: printable ASCII stays,
// valid UTF-8 beyond ASCII stays when allowed, everything else becomes \xHH.
#pragma once

#include <string>
#include <string_view>

namespace whoisd {

// Printable ASCII (0x20-0x7e) except backslash is kept; '\\' becomes "\\\\";
// every other byte, control characters and all non-ASCII included, becomes \xHH.
// At most `max_bytes` of input are escaped; longer input ends in "...".
std::string escape_bytes(std::string_view raw, std::size_t max_bytes = 4096);

// As escape_bytes, but well-formed UTF-8 sequences of printable characters are kept
// as they are (for logs a person reads, where "açores.pt" should stay readable).
std::string escape_keep_utf8(std::string_view raw, std::size_t max_bytes = 4096);
// The same into `out`, replacing what it held (its capacity reused: for hot loops).
void escape_keep_utf8(std::string_view raw, std::size_t max_bytes, std::string& out);

// Length of the printable character at the start of `s`: 1 for printable ASCII
// (0x20-0x7e), 2-4 for a well-formed UTF-8 sequence of a code point that is not a
// control character nor is_hidden_or_line_breaking (unicode_classes.h: U+2028/U+2029,
// the bidirectional marks and overrides, the BOM...); 0 when it is neither (or `s` is
// empty).
std::size_t printable_utf8_length(std::string_view s);

}  // namespace whoisd
