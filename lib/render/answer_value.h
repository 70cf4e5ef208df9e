// Values from the snapshot are data, never layout: before a value goes into an
// answer, everything that could end a line, hide text or break a client's
// decoder is replaced, and the value is bounded in length. This is what keeps a
// record from adding a line, forging a label ("\r\nDomain: other.pt") or making
// an answer arbitrarily long.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace whoisd {

// Longest value an answer shows, in Unicode characters (code points). Longer
// values are cut there and end in kTruncationMarker.
inline constexpr std::size_t kMaxValueCodePoints = 255;
inline constexpr std::string_view kTruncationMarker = " [...]";
// What stands in for a byte or character that may not appear (U+FFFD).
inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// Appends `raw` to `out` with:
//  - TAB, CR and LF each replaced by one space (an address typed on several lines
//    stays readable on one);
//  - every other C0 control (NUL included), DEL, every is_hidden_or_line_breaking
//    code point (unicode_classes.h: the C1 controls, U+2028/U+2029, the bidirectional
//    marks, overrides and isolates, U+FEFF, U+FFFE/U+FFFF), and each byte that is not
//    part of well-formed UTF-8 (overlong forms, surrogates, > U+10FFFF, truncated
//    sequences) replaced by U+FFFD;
//  - at most max_code_points characters kept, followed by kTruncationMarker when
//    the value was longer.
void append_answer_value(std::string& out, std::string_view raw, std::size_t max_code_points = kMaxValueCodePoints);

// As append_answer_value, for a value from the snapshot in a found answer: "no match"
// in it, in any case, gets U+00A0 for its space (which reads the same). Perl's
// Net::Whois::Raw searches the whole answer from the .pt server for those words and
// takes a registered domain for a free one when a name, an address or a status holds
// them. (The renderer's own texts are refused instead when they hold them.)
void append_published_value(std::string& out, std::string_view raw, std::size_t max_code_points = kMaxValueCodePoints);

// As append_answer_value, for a value parsers read as one word (a name server's
// host, a glue address: clients take the first word after "Name Server:", and
// some collect every word that looks like a host name): spaces, the ones made
// from TAB/CR/LF included, become U+FFFD too, so the value stays one word and
// nothing in it is read as a separate host. White space beyond ASCII (U+00A0,
// U+2000-U+200A, U+3000, ...), which parsers that split on Unicode white space would
// end the word at, becomes U+FFFD as well.
void append_answer_word(std::string& out, std::string_view raw, std::size_t max_code_points = kMaxValueCodePoints);

inline std::string answer_value(std::string_view raw, std::size_t max_code_points = kMaxValueCodePoints) {
  std::string out;
  out.reserve(raw.size() + 8);
  append_answer_value(out, raw, max_code_points);
  return out;
}

inline std::string answer_word(std::string_view raw, std::size_t max_code_points = kMaxValueCodePoints) {
  std::string out;
  out.reserve(raw.size() + 8);
  append_answer_word(out, raw, max_code_points);
  return out;
}

}  // namespace whoisd
