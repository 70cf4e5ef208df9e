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

// The hash of ConnectionLimits' maps, keyed with a per-process random seed: an IPv6
// client chooses its /64s (a /48 holds 65,536 of them), and must not be able to aim
// them at one bucket.
struct ConnectionSourceHash {
  std::uint64_t seed = 0;
  std::size_t operator()(const IpAddress& a) const noexcept;
};

class ConnectionLimits {
 public:
  ConnectionLimits();

  // Takes one slot of the total. false (nothing taken) when `max_total` are open.
  bool acquire_total(std::uint32_t max_total);
  void release_total();
  // Takes one slot of `source` (a connection_source()). false (nothing taken) when it holds `max_per_source`.
  bool acquire_source(const IpAddress& source, std::uint32_t max_per_source);
  void release_source(const IpAddress& source);

  std::uint32_t open_total() const { return total_.load(std::memory_order_relaxed); }
  std::uint32_t open_for(const IpAddress& source) const;

 private:
  using Hash = ConnectionSourceHash;
  using OpenMap = std::unordered_map<IpAddress, std::uint32_t, Hash>;
  struct Shard {
    mutable std::mutex mutex;
    OpenMap open;
    // The node of the last source whose count fell to 0, kept for the next new source:
    // a connection from a source with no other open then takes and gives back a slot
    // without allocating and freeing a node.
    OpenMap::node_type spare;
  };
  static constexpr std::size_t kShards = 16;
  Shard& shard(const IpAddress& source);
  const Shard& shard(const IpAddress& source) const;

  std::atomic<std::uint32_t> total_{0};
  Hash hash_;  // seeded in the constructor, which gives each shard's map a copy
  std::array<Shard, kShards> shards_;
};

}  // namespace whoisd
