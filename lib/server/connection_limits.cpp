#include "server/connection_limits.h"

#include <cstring>
#include <random>

namespace whoisd {

IpAddress connection_source(const IpAddress& client, int ipv6_prefix) {
  return client.is_v4() ? client : client.masked(ipv6_prefix);
}

std::string connection_source_text(const IpAddress& client, int ipv6_prefix) {
  if (client.is_v4()) return client.to_string();
  return client.masked(ipv6_prefix).to_string() + "/" + std::to_string(ipv6_prefix);
}

ConnectionLimits::ConnectionLimits() {
  std::random_device random;
  hash_.seed = (std::uint64_t{random()} << 32) ^ random();
  for (Shard& s : shards_) s.open = OpenMap(0, hash_);
}

std::size_t ConnectionSourceHash::operator()(const IpAddress& a) const noexcept {
  // The two halves folded with the seed, then splitmix64's finaliser: a few
  // multiplications instead of one per byte.
  std::uint64_t high = 0, low = 0;
  std::memcpy(&high, a.bytes().data(), 8);
  std::memcpy(&low, a.bytes().data() + 8, 8);
  std::uint64_t h = seed ^ high ^ ((low + seed) * 0x9E3779B97F4A7C15ULL);
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
  return static_cast<std::size_t>(h ^ (h >> 31));
}

// The shard from the hash's upper half; the map's buckets use the whole of it.
ConnectionLimits::Shard& ConnectionLimits::shard(const IpAddress& source) {
  return shards_[(hash_(source) >> 32) % kShards];
}
const ConnectionLimits::Shard& ConnectionLimits::shard(const IpAddress& source) const {
  return shards_[(hash_(source) >> 32) % kShards];
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
  auto it = s.open.find(source);
  if (it != s.open.end()) {
    if (it->second >= max_per_source) return false;
    ++it->second;
    return true;
  }
  if (max_per_source == 0) return false;
  if (s.spare.empty()) {
    s.open.emplace(source, 1);
  } else {
    s.spare.key() = source;
    s.spare.mapped() = 1;
    s.open.insert(std::move(s.spare));  // the key is new: the node is taken, spare left empty
  }
  return true;
}

void ConnectionLimits::release_source(const IpAddress& source) {
  Shard& s = shard(source);
  std::lock_guard lock(s.mutex);
  auto it = s.open.find(source);
  if (it == s.open.end()) return;
  if (--it->second != 0) return;
  if (s.spare.empty())
    s.spare = s.open.extract(it);
  else
    s.open.erase(it);
}

std::uint32_t ConnectionLimits::open_for(const IpAddress& source) const {
  const Shard& s = shard(source);
  std::lock_guard lock(s.mutex);
  auto it = s.open.find(source);
  return it == s.open.end() ? 0 : it->second;
}

}  // namespace whoisd
