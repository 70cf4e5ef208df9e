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

// Two and four digits, written into a buffer: a timestamp is then one append (the
// renderer writes two in every found answer).
char* put2(char* at, unsigned v) {
  at[0] = static_cast<char>('0' + v / 10);
  at[1] = static_cast<char>('0' + v % 10);
  return at + 2;
}

char* put4(char* at, std::int64_t year) {
  const auto v = static_cast<unsigned>(year);  // 0..9999 after clamping
  return put2(put2(at, v / 100), v % 100);
}

// HH:MM:SS, the time of day both forms end with.
char* put_time_of_day(char* at, const CivilTime& c) {
  at = put2(at, c.hour);
  *at++ = ':';
  at = put2(at, c.minute);
  *at++ = ':';
  return put2(at, c.second);
}

}  // namespace

void append_registry_time(std::string& out, std::int64_t unix_seconds) {
  const CivilTime c = to_civil(unix_seconds);
  char text[19];  // DD/MM/YYYY HH:MM:SS
  char* at = put2(text, c.day);
  *at++ = '/';
  at = put2(at, c.month);
  *at++ = '/';
  at = put4(at, c.year);
  *at++ = ' ';
  at = put_time_of_day(at, c);
  out.append(text, static_cast<std::size_t>(at - text));
}

void append_iso_time(std::string& out, std::int64_t unix_seconds) {
  const CivilTime c = to_civil(unix_seconds);
  char text[20];  // YYYY-MM-DDTHH:MM:SSZ
  char* at = put4(text, c.year);
  *at++ = '-';
  at = put2(at, c.month);
  *at++ = '-';
  at = put2(at, c.day);
  *at++ = 'T';
  at = put_time_of_day(at, c);
  *at++ = 'Z';
  out.append(text, static_cast<std::size_t>(at - text));
}

}  // namespace whoisd
