#include "common/escape.h"

#include "common/unicode_classes.h"
#include "common/utf8.h"

namespace whoisd {
namespace {

void append_hex(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

// Length of a well-formed UTF-8 sequence of a printable code point beyond ASCII (not a
// control, not is_hidden_or_line_breaking) at the start of `s`, or 0 when it is not one.
std::size_t utf8_sequence(std::string_view s) {
  char32_t cp = 0;
  const std::size_t length = decode_utf8(s, cp);
  return length >= 2 && !is_hidden_or_line_breaking(cp) ? length : 0;
}

// Into `out` (cleared first, its capacity kept).
void escape_into(std::string& out, std::string_view raw, std::size_t max_bytes, bool keep_utf8) {
  out.clear();
  bool cut = raw.size() > max_bytes;
  if (cut) raw = raw.substr(0, max_bytes);
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size();) {
    auto c = static_cast<unsigned char>(raw[i]);
    if (c == '\\') {
      out += "\\\\";
      ++i;
    } else if (c >= 0x20 && c < 0x7f) {  // the common case: a run of printable ASCII, copied at once
      std::size_t end = i + 1;
      while (end < raw.size() && raw[end] >= 0x20 && raw[end] < 0x7f && raw[end] != '\\') ++end;
      out.append(raw.data() + i, end - i);
      i = end;
    } else if (std::size_t n = keep_utf8 ? utf8_sequence(raw.substr(i)) : 0) {
      out.append(raw.substr(i, n));
      i += n;
    } else {
      append_hex(out, c);
      ++i;
    }
  }
  if (cut) out += "...";
}

std::string escape(std::string_view raw, std::size_t max_bytes, bool keep_utf8) {
  std::string out;
  escape_into(out, raw, max_bytes, keep_utf8);
  return out;
}

}  // namespace

std::size_t printable_utf8_length(std::string_view s) {
  if (s.empty()) return 0;
  const auto c = static_cast<unsigned char>(s[0]);
  if (c < 0x80) return c >= 0x20 && c < 0x7f ? 1 : 0;
  return utf8_sequence(s);
}

std::string escape_bytes(std::string_view raw, std::size_t max_bytes) { return escape(raw, max_bytes, false); }
std::string escape_keep_utf8(std::string_view raw, std::size_t max_bytes) { return escape(raw, max_bytes, true); }
void escape_keep_utf8(std::string_view raw, std::size_t max_bytes, std::string& out) {
  escape_into(out, raw, max_bytes, true);
}

}  // namespace whoisd
