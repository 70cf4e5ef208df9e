// Open connections, in total and per source, shared by every event loop. A source
// is what the limiter calls one (an IPv4 address, an IPv6 prefix), so that one
// client cannot hold every slot by opening connections from many addresses of its
// own /64. Sharded so that loops rarely contend on one mutex.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/address.h"

namespace whoisd {

// The address that stands for `client` when counting: itself for IPv4, the prefix for IPv6.
IpAddress connection_source(const IpAddress& client, int ipv6_prefix);
// Its text for answers and logs: "192.0.2.1", "2001:db8:1:2::/64".
std::string connection_source_text(const IpAddress& client, int ipv6_prefix);

class ConnectionLimits {
 public:
  // Takes one slot of the total. false (nothing taken) when `max_total` are open.
  bool acquire_total(std::uint32_t max_total);
  void release_total();
  // Takes one slot of `source` (a connection_source()). false (nothing taken) when it holds `max_per_source`.
  bool acquire_source(const IpAddress& source, std::uint32_t max_per_source);
  void release_source(const IpAddress& source);

  std::uint32_t open_total() const { return total_.load(std::memory_order_relaxed); }
  std::uint32_t open_for(const IpAddress& source) const;

 private:
  struct Hash {
    std::size_t operator()(const IpAddress& a) const noexcept;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<IpAddress, std::uint32_t, Hash> open;
  };
  static constexpr std::size_t kShards = 16;
  Shard& shard(const IpAddress& source);
  const Shard& shard(const IpAddress& source) const;

  std::atomic<std::uint32_t> total_{0};
  std::array<Shard, kShards> shards_;
};

}  // namespace whoisd
