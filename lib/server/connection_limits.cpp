#include "server/connection_limits.h"

#include <cstring>

namespace whoisd {

IpAddress connection_source(const IpAddress& client, int ipv6_prefix) {
  return client.is_v4() ? client : client.masked(ipv6_prefix);
}

std::string connection_source_text(const IpAddress& client, int ipv6_prefix) {
  if (client.is_v4()) return client.to_string();
  return client.masked(ipv6_prefix).to_string() + "/" + std::to_string(ipv6_prefix);
}

std::size_t ConnectionLimits::Hash::operator()(const IpAddress& a) const noexcept {
  // FNV-1a over the 16 bytes: cheap, and the keys are addresses, not attacker-chosen
  // strings of any length; a /64 holder still gets only its one key.
  std::uint64_t h = 1469598103934665603ULL;
  for (auto b : a.bytes()) {
    h ^= b;
    h *= 1099511628211ULL;
  }
  return static_cast<std::size_t>(h);
}

ConnectionLimits::Shard& ConnectionLimits::shard(const IpAddress& source) { return shards_[Hash{}(source) % kShards]; }
const ConnectionLimits::Shard& ConnectionLimits::shard(const IpAddress& source) const {
  return shards_[Hash{}(source) % kShards];
}

bool ConnectionLimits::acquire_total(std::uint32_t max_total) {
  std::uint32_t now = total_.load(std::memory_order_relaxed);
  do {
    if (now >= max_total) return false;
  } while (!total_.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
  return true;
}

void ConnectionLimits::release_total() { total_.fetch_sub(1, std::memory_order_relaxed); }

bool ConnectionLimits::acquire_source(const IpAddress& source, std::uint32_t max_per_source) {
  Shard& s = shard(source);
  std::lock_guard lock(s.mutex);
  auto& count = s.open[source];
  if (count >= max_per_source) {
    if (count == 0) s.open.erase(source);
    return false;
  }
  ++count;
  return true;
}

void ConnectionLimits::release_source(const IpAddress& source) {
  Shard& s = shard(source);
  std::lock_guard lock(s.mutex);
  auto it = s.open.find(source);
  if (it == s.open.end()) return;
  if (--it->second == 0) s.open.erase(it);
}

std::uint32_t ConnectionLimits::open_for(const IpAddress& source) const {
  const Shard& s = shard(source);
  std::lock_guard lock(s.mutex);
  auto it = s.open.find(source);
  return it == s.open.end() ? 0 : it->second;
}

}  // namespace whoisd
