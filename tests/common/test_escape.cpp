#include <catch2/catch.hpp>

#include "common/escape.h"
#include "common/log.h"

using whoisd::escape_bytes;
using whoisd::escape_keep_utf8;

TEST_CASE("escape_bytes leaves printable ASCII and escapes the rest") {
  CHECK(escape_bytes("example.pt") == "example.pt");
  CHECK(escape_bytes(std::string_view("a\0b", 3)) == "a\\x00b");
  CHECK(escape_bytes("x\r\ny") == "x\\x0d\\x0ay");
  CHECK(escape_bytes("back\\slash") == "back\\\\slash");
  CHECK(escape_bytes("a\xc3\xa7") == "a\\xc3\\xa7");
}

TEST_CASE("escape_keep_utf8 keeps well-formed printable UTF-8 only") {
  CHECK(escape_keep_utf8("a\xc3\xa7ores.pt") == "a\xc3\xa7ores.pt");
  CHECK(escape_keep_utf8("\xe7ores") == "\\xe7ores");             // Latin-1 byte
  CHECK(escape_keep_utf8("\xc0\xaf") == "\\xc0\\xaf");            // overlong
  CHECK(escape_keep_utf8("\xc2\x85") == "\\xc2\\x85");            // C1 control (NEL)
  CHECK(escape_keep_utf8("\xe2\x80\xa8") == "\\xe2\\x80\\xa8");   // line separator
  CHECK(escape_keep_utf8("\xed\xa0\x80") == "\\xed\\xa0\\x80");   // surrogate
  // F5-FF never lead a sequence (they were taken for three-byte leads, kept raw).
  CHECK(escape_keep_utf8("zz\xf8\x80\x80.pt") == "zz\\xf8\\x80\\x80.pt");
  CHECK(escape_keep_utf8("\xff\xbf\xbf") == "\\xff\\xbf\\xbf");
  CHECK(escape_keep_utf8("\xf5\x80\x80\x80") == "\\xf5\\x80\\x80\\x80");
  CHECK(escape_keep_utf8("\xf4\x8f\xbf\xbd") == "\xf4\x8f\xbf\xbd");  // U+10FFFD, the last valid plane
  CHECK(escape_keep_utf8("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // beyond U+10FFFF
  // Marks and overrides that reorder or hide what an operator reads, the BOM, U+FFFF.
  CHECK(escape_keep_utf8("zz\xe2\x80\xae.pt") == "zz\\xe2\\x80\\xae.pt");  // U+202E RIGHT-TO-LEFT OVERRIDE
  CHECK(escape_keep_utf8("\xe2\x81\xa6") == "\\xe2\\x81\\xa6");            // U+2066 LEFT-TO-RIGHT ISOLATE
  CHECK(escape_keep_utf8("\xe2\x80\x8f") == "\\xe2\\x80\\x8f");            // U+200F RIGHT-TO-LEFT MARK
  CHECK(escape_keep_utf8("\xd8\x9c") == "\\xd8\\x9c");                        // U+061C ARABIC LETTER MARK
  CHECK(escape_keep_utf8("\xef\xbb\xbf") == "\\xef\\xbb\\xbf");            // U+FEFF
  CHECK(escape_keep_utf8("\xef\xbf\xbf") == "\\xef\\xbf\\xbf");            // U+FFFF
  CHECK(escape_keep_utf8("\xe2\x80\x8d") == "\xe2\x80\x8d");                // U+200D ZWJ: emoji need it
  CHECK(whoisd::printable_utf8_length("\xf8\x80\x80") == 0);
  CHECK(whoisd::printable_utf8_length("\xe2\x80\xae") == 0);
}

TEST_CASE("escaping is bounded") {
  std::string big(10000, 'a');
  auto out = escape_bytes(big, 100);
  CHECK(out.size() == 103);
  CHECK(out.substr(100) == "...");
}

TEST_CASE("escape_keep_utf8 into a buffer replaces what it held, and runs stop where they must") {
  std::string out(300, 'z');  // a longer earlier value: nothing of it may remain
  escape_keep_utf8("ab\\cd\x7f" "ef a\xc3\xa7o", 4096, out);
  CHECK(out == "ab\\\\cd\\x7fef a\xc3\xa7o");
  CHECK(out == escape_keep_utf8("ab\\cd\x7f" "ef a\xc3\xa7o"));
  escape_keep_utf8("", 4096, out);
  CHECK(out.empty());
  escape_keep_utf8(std::string(50, 'q'), 10, out);
  CHECK(out == std::string(10, 'q') + "...");
}

TEST_CASE("ISO 8601 UTC") {
  CHECK(whoisd::log::iso8601_utc(0) == "1970-01-01T00:00:00Z");
  CHECK(whoisd::log::iso8601_utc(1795424400) == "2026-11-23T09:00:00Z");
}
