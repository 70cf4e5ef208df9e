// The two ways answers write a moment (Unix seconds, UTC), without gmtime() and
// its locale and time-zone machinery: found answers use the registry's
// "DD/MM/YYYY HH:MM:SS"; limit answers use ISO 8601 "YYYY-MM-DDTHH:MM:SSZ".
#pragma once

#include <cstdint>
#include <string>

namespace whoisd {

// Moments outside years 0000-9999 are written as the nearest end of that range.
void append_registry_time(std::string& out, std::int64_t unix_seconds);  // 14/01/1997 00:00:00
void append_iso_time(std::string& out, std::int64_t unix_seconds);       // 1997-01-14T00:00:00Z

}  // namespace whoisd
