#include "render/utc_time_text.h"

#include <algorithm>

namespace whoisd {
namespace {

// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
constexpr std::int64_t kEarliest = -62'167'219'200;
constexpr std::int64_t kLatest = 253'402'300'799;

struct CivilTime {
  std::int64_t year;
  unsigned month, day, hour, minute, second;
};

// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
// civil_from_days), exact for every day in the clamped range.
CivilTime to_civil(std::int64_t unix_seconds) {
  const std::int64_t t = std::clamp(unix_seconds, kEarliest, kLatest);
  std::int64_t days = t / 86'400;
  std::int64_t rest = t % 86'400;
  if (rest < 0) {
    rest += 86'400;
    --days;
  }
  const std::int64_t z = days + 719'468;
  const std::int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
  const auto doe = static_cast<unsigned>(z - era * 146'097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
  const auto secs = static_cast<unsigned>(rest);
  return {year, month, day, secs / 3600, secs / 60 % 60, secs % 60};
}

void append2(std::string& out, unsigned v) {
  out.push_back(static_cast<char>('0' + v / 10));
  out.push_back(static_cast<char>('0' + v % 10));
}

void append4(std::string& out, std::int64_t year) {
  const auto v = static_cast<unsigned>(year);  // 0..9999 after clamping
  append2(out, v / 100);
  append2(out, v % 100);
}

}  // namespace

void append_registry_time(std::string& out, std::int64_t unix_seconds) {
  const CivilTime c = to_civil(unix_seconds);
  append2(out, c.day);
  out.push_back('/');
  append2(out, c.month);
  out.push_back('/');
  append4(out, c.year);
  out.push_back(' ');
  append2(out, c.hour);
  out.push_back(':');
  append2(out, c.minute);
  out.push_back(':');
  append2(out, c.second);
}

void append_iso_time(std::string& out, std::int64_t unix_seconds) {
  const CivilTime c = to_civil(unix_seconds);
  append4(out, c.year);
  out.push_back('-');
  append2(out, c.month);
  out.push_back('-');
  append2(out, c.day);
  out.push_back('T');
  append2(out, c.hour);
  out.push_back(':');
  append2(out, c.minute);
  out.push_back(':');
  append2(out, c.second);
  out.push_back('Z');
}

}  // namespace whoisd
