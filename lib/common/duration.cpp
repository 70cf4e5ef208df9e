#include "common/duration.h"

#include <cstdint>
#include <limits>

namespace whoisd {
namespace {
struct Unit {
  std::string_view name;
  std::int64_t ms;
};
// Longest names first, so that "ms" is not read as "m" followed by "s".
constexpr Unit kUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}, {"w", 604'800'000}};
}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<std::chrono::milliseconds> {
    if (error) *error = "'" + std::string(text.substr(0, 64)) + "' is not a duration: " + why;
    return std::nullopt;
  };
  if (text.empty()) return fail("it is empty (write e.g. 10s, 24h, 30d)");
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    std::int64_t value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (value > (std::numeric_limits<std::int64_t>::max() - 9) / 10) return fail("the number is too large");
      value = value * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start) return fail("expected a number at '" + std::string(text.substr(start, 16)) + "'");
    const Unit* unit = nullptr;
    for (const auto& u : kUnits)
      if (text.substr(i, u.name.size()) == u.name && !(u.name == "m" && text.substr(i, 2) == "ms")) {
        unit = &u;
        break;
      }
    if (!unit) return fail("a number needs a unit: ms, s, m, h, d or w");
    i += unit->name.size();
    if (value > std::numeric_limits<std::int64_t>::max() / unit->ms - total / unit->ms)
      return fail("it is too long");
    total += value * unit->ms;
  }
  return std::chrono::milliseconds(total);
}

std::string format_duration(std::chrono::milliseconds d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out += '-';
    ms = -ms;
  }
  for (auto it = std::rbegin(kUnits); it != std::rend(kUnits); ++it) {
    if (it->name == "w") continue;  // days read better than weeks in logs
    if (ms >= it->ms) {
      out += std::to_string(ms / it->ms);
      out += it->name;
      ms %= it->ms;
    }
  }
  return out;
}

}  // namespace whoisd
