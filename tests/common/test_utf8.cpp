#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "common/utf8.h"

using whoisd::decode_utf8;
using whoisd::is_valid_utf8;

namespace {

struct Decoded {
  std::size_t length;
  char32_t cp;
};

Decoded decode(std::string_view s) {
  char32_t cp = 0xDEAD;
  const std::size_t length = decode_utf8(s, cp);
  return {length, cp};
}

}  // namespace

TEST_CASE("decode_utf8 takes each well-formed sequence at its bounds") {
  struct Case {
    std::string_view bytes;
    std::size_t length;
    char32_t cp;
  };
  const Case cases[] = {
      {std::string_view("\0", 1), 1, 0x00},
      {"\x7F", 1, 0x7F},
      {"\xC2\x80", 2, 0x80},
      {"\xC3\xA7", 2, 0xE7},  // ç
      {"\xDF\xBF", 2, 0x7FF},
      {"\xE0\xA0\x80", 3, 0x800},
      {"\xED\x9F\xBF", 3, 0xD7FF},
      {"\xEE\x80\x80", 3, 0xE000},
      {"\xEF\xBF\xBD", 3, 0xFFFD},
      {"\xF0\x90\x80\x80", 4, 0x10000},
      {"\xF4\x8F\xBF\xBF", 4, 0x10FFFF},
  };
  for (const auto& c : cases) {
    INFO("bytes of length " << c.bytes.size() << ", expected U+" << std::hex << static_cast<unsigned>(c.cp));
    const Decoded d = decode(c.bytes);
    CHECK(d.length == c.length);
    CHECK(d.cp == c.cp);
  }
  // Only the sequence at the start is taken.
  CHECK(decode("\xC3\xA7ores").length == 2);
}

TEST_CASE("decode_utf8 refuses what is not well-formed, and leaves the code point alone") {
  const std::string_view refused[] = {
      "",
      "\x80",              // a continuation byte first
      "\xBF",
      "\xC0\x80",          // overlong two-byte forms (C0, C1 never lead)
      "\xC1\xBF",
      "\xC3",              // cut short
      "\xC3(",             // not followed by a continuation byte
      "\xE0\x9F\xBF",      // overlong three-byte form
      "\xED\xA0\x80",      // a UTF-16 surrogate (U+D800)
      "\xED\xBF\xBF",      // U+DFFF
      "\xE2\x82",          // cut short
      "\xE2(\xAC",
      "\xF0\x8F\xBF\xBF",  // overlong four-byte form
      "\xF4\x90\x80\x80",  // beyond U+10FFFF
      "\xF5\x80\x80\x80",  // F5-FF never lead
      "\xF8\x88\x80\x80\x80",
      "\xFF",
      "\xF0\x9F\x98",      // cut short
  };
  for (const auto bytes : refused) {
    INFO("refused sequence of " << bytes.size() << " bytes, first " << (bytes.empty() ? -1 : static_cast<unsigned char>(bytes[0])));
    const Decoded d = decode(bytes);
    CHECK(d.length == 0);
    CHECK(d.cp == 0xDEAD);
  }
}

TEST_CASE("is_valid_utf8 is decode_utf8 at every step") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("a\xC3\xA7ores.pt"));
  CHECK(is_valid_utf8("\xF0\x9F\x98\x80 \xE2\x80\xAE"));  // well-formed, whatever it shows
  CHECK_FALSE(is_valid_utf8("a\xE7ores.pt"));              // Latin-1
  CHECK_FALSE(is_valid_utf8("abc\xC3"));                   // cut at the end
  CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));
  static_assert(whoisd::is_valid_utf8("\xC3\xA7"), "usable at compile time");
}
