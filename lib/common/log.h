// Log lines on standard error (journald), one event a line, in a stable key=value form:
//   ts=2026-11-23T09:30:00Z level=info event=reload snapshot=/var/lib/whoisd/snapshot.db domains=1000000
// Keys are fixed words; values are quoted when they hold a space, a quote or '=', and
// escaped so that nothing a client sends can forge a line or a key.
// Lines leave whole, in order, through common/log_output.h (a thread of their own in the
// daemon, so that a slow reader never holds up the thread that logs).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace whoisd::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(Level level);
Level level();
// "debug", "info", "warn", "error"; false when `name` is none of them.
bool parse_level(std::string_view name, Level& out);

// A line being built; written when it goes out of scope.
//   log::Line(log::Level::info, "start").kv("listen", "127.0.0.1:4343").kv("loops", 2);
class Line {
 public:
  Line(Level level, std::string_view event);
  ~Line();
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;

  Line& kv(std::string_view key, std::string_view value);
  Line& kv(std::string_view key, const char* value) { return kv(key, std::string_view(value)); }
  Line& kv(std::string_view key, const std::string& value) { return kv(key, std::string_view(value)); }
  Line& kv(std::string_view key, bool value) { return kv(key, value ? std::string_view("true") : "false"); }
  template <typename Number, typename = std::enable_if_t<std::is_arithmetic_v<Number>>>
  Line& kv(std::string_view key, Number value) {
    return raw(key, std::to_string(value));
  }

 private:
  Line& raw(std::string_view key, std::string_view value);
  bool enabled_;
  std::string text_;
};

inline Line debug(std::string_view event) { return Line(Level::debug, event); }
inline Line info(std::string_view event) { return Line(Level::info, event); }
inline Line warn(std::string_view event) { return Line(Level::warn, event); }
inline Line error(std::string_view event) { return Line(Level::error, event); }

// Formats Unix seconds as ISO 8601 UTC: 2026-11-23T09:30:00Z.
std::string iso8601_utc(std::int64_t unix_seconds);

}  // namespace whoisd::log
