#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "render/utc_time_text.h"

namespace {

std::string registry(std::int64_t t) {
  std::string s;
  whoisd::append_registry_time(s, t);
  return s;
}

std::string iso(std::int64_t t) {
  std::string s;
  whoisd::append_iso_time(s, t);
  return s;
}

}  // namespace

TEST_CASE("registry time is DD/MM/YYYY HH:MM:SS in UTC", "[render][time]") {
  CHECK(registry(0) == "01/01/1970 00:00:00");
  CHECK(registry(853'200'000) == "14/01/1997 00:00:00");
  CHECK(registry(1'816'127'982) == "20/07/2027 23:59:42");
  CHECK(registry(951'782'400) == "29/02/2000 00:00:00");   // leap day of a year divisible by 400
  CHECK(registry(4'107'542'399) == "28/02/2100 23:59:59");  // 2100 is not a leap year...
  CHECK(registry(4'107'542'400) == "01/03/2100 00:00:00");  // ...so March follows February 28
  CHECK(registry(1'767'225'599) == "31/12/2025 23:59:59");
}

TEST_CASE("moments before 1970 are written as dates, not wrapped", "[render][time]") {
  CHECK(registry(-1) == "31/12/1969 23:59:59");
  CHECK(registry(-86'400) == "31/12/1969 00:00:00");
  CHECK(registry(-2'208'988'800) == "01/01/1900 00:00:00");
}

TEST_CASE("moments beyond years 0000-9999 are clamped to the range", "[render][time]") {
  CHECK(registry(INT64_MAX) == "31/12/9999 23:59:59");
  CHECK(registry(INT64_MIN) == "01/01/0000 00:00:00");
  CHECK(iso(INT64_MAX) == "9999-12-31T23:59:59Z");
}

TEST_CASE("ISO time is YYYY-MM-DDTHH:MM:SSZ", "[render][time]") {
  CHECK(iso(0) == "1970-01-01T00:00:00Z");
  CHECK(iso(1'767'225'600) == "2026-01-01T00:00:00Z");
  CHECK(iso(1'767'312'000 + 3'661) == "2026-01-02T01:01:01Z");
}

TEST_CASE("time text is appended, not assigned", "[render][time]") {
  std::string s = "at ";
  whoisd::append_iso_time(s, 0);
  CHECK(s == "at 1970-01-01T00:00:00Z");
}
