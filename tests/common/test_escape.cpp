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
