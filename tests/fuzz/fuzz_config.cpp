// The configuration parser on arbitrary text: it either returns a Config or throws
// ConfigError (never anything else, never a crash), and a listen address it prints
// parses back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/config.h"
#include "server/listen_address.h"
#include "server/query_line.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    whoisd::Config c = whoisd::parse_config(text, "fuzz.conf");
    for (const auto& a : c.server.listen) {
      auto again = whoisd::ListenAddress::parse(a.to_string());
      if (!again || !(*again == a)) std::abort();
    }
  } catch (const whoisd::ConfigError&) {
  }
  if (auto a = whoisd::ListenAddress::parse(text)) {
    auto again = whoisd::ListenAddress::parse(a->to_string());
    if (!again || !(*again == *a)) std::abort();
  }
  auto frame = whoisd::frame_query_line(text);
  if (frame.line.size() > 1024 || frame.line.find('\n') != std::string_view::npos) std::abort();
  return 0;
}
