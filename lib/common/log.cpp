#include "common/log.h"

#include <atomic>
#include <chrono>
#include <ctime>

#include "common/escape.h"
#include "common/log_output.h"

namespace whoisd::log {
namespace {
std::atomic<Level> g_level{Level::info};

constexpr std::string_view level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=') return true;
  return false;
}
}  // namespace

void set_level(Level l) { g_level.store(l, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }

bool parse_level(std::string_view name, Level& out) {
  for (Level l : {Level::debug, Level::info, Level::warn, Level::error})
    if (name == level_name(l)) {
      out = l;
      return true;
    }
  return false;
}

std::string iso8601_utc(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Line::Line(Level l, std::string_view event) : enabled_(l >= level()) {
  if (!enabled_) return;
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  text_.reserve(160);
  text_ += "ts=";
  text_ += iso8601_utc(secs);
  text_ += " level=";
  text_ += level_name(l);
  text_ += " event=";
  text_ += escape_bytes(event, 64);
}

Line::~Line() {
  if (!enabled_) return;
  text_ += '\n';
  write_line(std::move(text_));
}

Line& Line::kv(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  std::string escaped = escape_keep_utf8(value, 1024);
  if (needs_quotes(escaped)) {
    std::string quoted = "\"";
    for (char c : escaped) {
      if (c == '"') quoted += '\\';
      quoted += c;
    }
    quoted += '"';
    escaped = std::move(quoted);
  }
  return raw(key, escaped);
}

Line& Line::raw(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  text_ += ' ';
  text_ += key;
  text_ += '=';
  text_ += value;
  return *this;
}

}  // namespace whoisd::log
