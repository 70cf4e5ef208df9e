#include "render/answer_value.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/unicode_classes.h"
#include "common/utf8.h"

namespace whoisd {
namespace {

// Whether all 8 bytes of `w` are printable ASCII (0x20-0x7E), tested on the word at
// once: a byte below 0x20 borrows into its high bit when 0x20 is taken from it (and
// had that bit clear), a byte of 0x7F or more has its high bit set once 1 is added (or
// had it already). Borrows and carries can mark more bytes than the one that caused
// them, never fewer, so the answer for the word as a whole is exact.
bool all_printable_ascii(std::uint64_t w) {
  constexpr std::uint64_t kOnes = 0x0101010101010101u;
  constexpr std::uint64_t kHighBits = 0x8080808080808080u;
  const std::uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighBits;
  const std::uint64_t del_or_above = ((w + kOnes) | w) & kHighBits;
  return (below_space | del_or_above) == 0;
}

// Length of the space at the start of `s` (well-formed UTF-8, as append_answer_value
// writes it): 1 for ' ', 2-3 for is_unicode_space; 0 when it starts with no space.
std::size_t space_length(std::string_view s) {
  if (s.empty()) return 0;
  if (s[0] == ' ') return 1;
  if (static_cast<unsigned char>(s[0]) < 0xC2) return 0;  // ASCII, or not a lead byte
  char32_t cp = 0;
  const std::size_t length = decode_utf8(s, cp);
  return length > 0 && is_unicode_space(cp) ? length : 0;
}

// "no match", in any case, within a value of a found answer: Perl's Net::Whois::Raw
// searches the whole answer from the .pt server for those words and reports the domain
// as not registered when it meets them (in a name, an address, a status). The space
// between them becomes U+00A0, which looks the same and breaks the match. `from`: where
// the value starts in `out`.
void break_no_match(std::string& out, std::size_t from) {
  const auto lower = [&](std::size_t i) {
    const char c = out[i];
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  for (std::size_t space = out.find(' ', from); space != std::string::npos; space = out.find(' ', space + 1)) {
    if (space < from + 2 || space + 6 > out.size()) continue;
    if (lower(space - 2) != 'n' || lower(space - 1) != 'o' || lower(space + 1) != 'm' || lower(space + 2) != 'a' ||
        lower(space + 3) != 't' || lower(space + 4) != 'c' || lower(space + 5) != 'h')
      continue;
    out.replace(space, 1, "\xC2\xA0");
  }
}

}  // namespace

void append_answer_value(std::string& out, std::string_view raw, std::size_t max_code_points) {
  std::size_t kept = 0;
  std::size_t i = 0;
  while (i < raw.size()) {
    if (kept == max_code_points) {
      out.append(kTruncationMarker);
      return;
    }
    const auto b = static_cast<unsigned char>(raw[i]);
    if (b >= 0x20 && b < 0x7F) {  // the common case: printable ASCII, copied in runs
      std::size_t j = i + 1;
      const std::size_t limit = std::min(raw.size(), i + (max_code_points - kept));
      for (std::uint64_t w; j + 8 <= limit; j += 8) {  // 8 bytes a step while all are printable
        std::memcpy(&w, raw.data() + j, 8);
        if (!all_printable_ascii(w)) break;
      }
      while (j < limit) {
        const auto c = static_cast<unsigned char>(raw[j]);
        if (c < 0x20 || c >= 0x7F) break;
        ++j;
      }
      out.append(raw.data() + i, j - i);
      kept += j - i;
      i = j;
      continue;
    }
    ++kept;
    if (b < 0x80) {  // C0 control or DEL
      if (b == '\t' || b == '\r' || b == '\n') {
        out.push_back(' ');
      } else {
        out.append(kReplacementCharacter);
      }
      ++i;
      continue;
    }
    char32_t cp = 0;
    const std::size_t len = decode_utf8(raw.substr(i), cp);
    if (len == 0) {  // one replacement per offending byte, then resynchronise
      out.append(kReplacementCharacter);
      ++i;
      continue;
    }
    if (is_hidden_or_line_breaking(cp)) {
      out.append(kReplacementCharacter);
    } else {
      out.append(raw.data() + i, len);
    }
    i += len;
  }
}

void append_published_value(std::string& out, std::string_view raw, std::size_t max_code_points) {
  const std::size_t start = out.size();
  append_answer_value(out, raw, max_code_points);
  if (out.size() - start >= 8) break_no_match(out, start);
}


void append_answer_word(std::string& out, std::string_view raw, std::size_t max_code_points) {
  const std::size_t start = out.size();
  append_answer_value(out, raw, max_code_points);
  // The truncation marker starts with a space: keep it as it is, it is ours.
  std::size_t end = out.size();
  if (end - start >= kTruncationMarker.size() &&
      std::string_view(out).substr(end - kTruncationMarker.size()) == kTruncationMarker) {
    end -= kTruncationMarker.size();
  }
  std::size_t first = start;
  std::size_t first_length = 0;
  while (first < end && (first_length = space_length(std::string_view(out).substr(first, end - first))) == 0) ++first;
  if (first == end) return;  // the usual case: one word already
  std::string tail;
  tail.reserve((out.size() - first) * 3);
  for (std::size_t i = first; i < end;) {
    const std::size_t length = space_length(std::string_view(out).substr(i, end - i));
    if (length > 0) {
      tail.append(kReplacementCharacter);
      i += length;
    } else {
      tail.push_back(out[i]);
      ++i;
    }
  }
  tail.append(out, end, std::string::npos);
  out.resize(first);
  out.append(tail);
}

}  // namespace whoisd
