// The address of a test's client, from its text. A text that does not parse is a
// mistake in the test: it is named, not dereferenced as an empty optional.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/address.h"

namespace whoisd::test {

inline IpAddress ip(std::string_view text) {
  std::optional<IpAddress> address = IpAddress::parse(text);
  if (!address) throw std::invalid_argument("test address '" + std::string(text) + "' does not parse");
  return *address;
}

}  // namespace whoisd::test
