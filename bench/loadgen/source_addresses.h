// Client source addresses spread over 127.0.0.0/8, so that one machine looks like many
// whois clients to the daemon's per-source limiter. Linux answers on every 127/8
// address without configuration. Source n is base + (n mod count).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

namespace whoisd::bench {

class SourceAddresses {
 public:
  // count 0: do not bind; the kernel picks 127.0.0.1. Throws std::invalid_argument when
  // base..base+count-1 leaves 127.0.0.1..127.255.255.254 (naming the value).
  SourceAddresses(const std::string& base, std::uint32_t count);
  bool enabled() const { return count_ > 0; }
  std::uint32_t count() const { return count_; }
  sockaddr_in address(std::uint64_t sequence) const;  // port 0
  std::string describe() const;

 private:
  std::uint32_t base_ = 0;  // host order
  std::uint32_t count_ = 0;
};

}  // namespace whoisd::bench
