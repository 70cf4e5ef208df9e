// Classes of Unicode code points that whoisd treats apart wherever text from a client
// or a file is read or shown, in one place, so that a query, a log line and an answer
// agree on them.
#pragma once

namespace whoisd {

// Space separators beyond ASCII (category Zs, U+0020 aside): a client that puts one
// between two words typed two criteria; a parser splitting on Unicode white space ends
// a word there.
constexpr bool is_unicode_space(char32_t cp) {
  return cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// C1 controls (U+0080-U+009F; U+0085 NEL ends a line for some readers).
constexpr bool is_c1_control(char32_t cp) { return cp >= 0x80 && cp <= 0x9F; }

// Well-formed code points that must not be shown as they are: the C1 controls, the line
// and paragraph separators (U+2028/U+2029: they end a line for some readers), the
// bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E/U+200F,
// U+202A-U+202E, U+2066-U+2069: they reorder what follows, so a reader sees another
// text than the one stored), the byte-order mark U+FEFF and the noncharacters
// U+FFFE/U+FFFF.
constexpr bool is_hidden_or_line_breaking(char32_t cp) {
  return is_c1_control(cp) || cp == 0x2028 || cp == 0x2029 || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF || cp == 0xFFFE ||
         cp == 0xFFFF;
}

}  // namespace whoisd
