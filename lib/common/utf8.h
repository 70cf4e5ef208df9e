// Decoding UTF-8 from hostile bytes (a query, a value from a file), strictly, in one
// place: the query parser, the escaping of logs and the answers must agree on what is
// well-formed, or a sequence one of them accepts reaches another raw.
#pragma once

#include <cstddef>
#include <string_view>

namespace whoisd {

// Length (1-4) of the well-formed UTF-8 sequence at the start of `s`, and the code
// point it encodes into `cp`; 0 (and `cp` untouched) when `s` is empty or starts with
// no such sequence: a continuation byte, C0/C1 (overlong two-byte leads), F5-FF, a
// sequence cut short, an overlong three- or four-byte form, a UTF-16 surrogate or a
// value beyond U+10FFFF (RFC 3629; Table 3-7 of the Unicode standard, which bounds the
// second byte after E0, ED, F0 and F4). ASCII is a sequence of one byte, controls
// included: what to show is the caller's choice.
constexpr std::size_t decode_utf8(std::string_view s, char32_t& cp) {
  if (s.empty()) return 0;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) {
    cp = lead;
    return 1;
  }
  std::size_t length = 0;
  char32_t value = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range allowed for the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    value = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    value = lead & 0x0Fu;
    if (lead == 0xE0) low = 0xA0;   // below: overlong
    if (lead == 0xED) high = 0x9F;  // above: a surrogate
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    value = lead & 0x07u;
    if (lead == 0xF0) low = 0x90;   // below: overlong
    if (lead == 0xF4) high = 0x8F;  // above: beyond U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    value = (value << 6) | (byte(i) & 0x3Fu);
  }
  cp = value;
  return length;
}

// Whether all of `s` is well-formed UTF-8 (decode_utf8 at every step).
constexpr bool is_valid_utf8(std::string_view s) {
  char32_t cp = 0;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t length = decode_utf8(s.substr(i), cp);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

}  // namespace whoisd
