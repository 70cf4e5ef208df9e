// Durations as operators write them in the configuration and on the command line:
// a whole number followed by a unit — "500ms", "10s", "15m", "24h", "30d", "2w" —
// or several of them run together ("1h30m"). A bare number is refused, so that
// nobody has to guess whether "30" meant seconds or days.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace whoisd {

// nullopt with `error` set (naming the text and what was wrong) when not a duration.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, std::string* error = nullptr);

// The exact form in the largest units: 86400000 ms -> "1d", 90000 ms -> "1m30s".
std::string format_duration(std::chrono::milliseconds d);

}  // namespace whoisd
