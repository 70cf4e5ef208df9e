#include <catch2/catch.hpp>

#include "common/duration.h"

using namespace std::chrono_literals;
using whoisd::format_duration;
using whoisd::parse_duration;

TEST_CASE("durations parse with their units") {
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("10s") == 10s);
  CHECK(parse_duration("15m") == 15min);
  CHECK(parse_duration("24h") == 24h);
  CHECK(parse_duration("30d") == 720h);
  CHECK(parse_duration("2w") == 336h);
  CHECK(parse_duration("1h30m") == 90min);
  CHECK(parse_duration("0s") == 0ms);
}

TEST_CASE("bad durations are refused with a reason") {
  std::string error;
  for (const char* bad : {"", "30", "h", "10x", "-5s", "1.5h", "10 s", "99999999999999999999d"}) {
    error.clear();
    CHECK_FALSE(parse_duration(bad, &error));
    CHECK(error.find("is not a duration") != std::string::npos);
  }
}

TEST_CASE("durations format in their largest units") {
  CHECK(format_duration(86'400'000ms) == "1d");
  CHECK(format_duration(90s) == "1m30s");
  CHECK(format_duration(1500ms) == "1s500ms");
  CHECK(format_duration(0ms) == "0s");
}
