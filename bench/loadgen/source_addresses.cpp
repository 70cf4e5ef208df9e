#include "source_addresses.h"

#include <arpa/inet.h>

#include <stdexcept>

#include "common/address.h"

namespace whoisd::bench {

SourceAddresses::SourceAddresses(const std::string& base, std::uint32_t count) : count_(count) {
  if (count == 0) return;
  const auto parsed = IpAddress::parse(base);
  if (!parsed || !parsed->is_v4()) throw std::invalid_argument("--source-base '" + base + "' is not an IPv4 address");
  base_ = parsed->v4_host_order();
  constexpr std::uint32_t first = 0x7f000001, last = 0x7ffffffe;  // 127.0.0.1 .. 127.255.255.254
  if (base_ < first || base_ > last || count - 1 > last - base_)
    throw std::invalid_argument("--source-base " + base + " with --sources " + std::to_string(count) +
                                " leaves 127.0.0.1-127.255.255.254");
}

sockaddr_in SourceAddresses::address(std::uint64_t sequence) const {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = 0;
  sa.sin_addr.s_addr = htonl(base_ + static_cast<std::uint32_t>(sequence % count_));
  return sa;
}

std::string SourceAddresses::describe() const {
  if (count_ == 0) return "127.0.0.1 (unbound)";
  return IpAddress::v4(base_).to_string() + " - " + IpAddress::v4(base_ + count_ - 1).to_string() + " (" +
         std::to_string(count_) + " sources)";
}

}  // namespace whoisd::bench
