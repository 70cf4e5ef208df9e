#include "latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace whoisd::bench {

std::size_t LatencyHistogram::index_of(std::uint64_t value) {
  if (value < kLinear) return static_cast<std::size_t>(value);
  const int msb = 63 - std::countl_zero(value);  // >= kSubBucketBits + 1
  const int shift = msb - kSubBucketBits;
  const std::uint64_t sub = (value >> shift) - (kLinear / 2);  // 0..63
  return kLinear + static_cast<std::size_t>(shift - 1) * (kLinear / 2) + static_cast<std::size_t>(sub);
}

std::uint64_t LatencyHistogram::upper_bound_of(std::size_t index) {
  if (index < kLinear) return index;
  const std::size_t k = index - kLinear;
  const int shift = static_cast<int>(k / (kLinear / 2)) + 1;
  const std::uint64_t sub = k % (kLinear / 2) + kLinear / 2;
  return ((sub + 1) << shift) - 1;
}

void LatencyHistogram::record(std::uint64_t nanoseconds) {
  ++counts_[index_of(nanoseconds)];
  ++count_;
  sum_ += nanoseconds;
  min_ = std::min(min_, nanoseconds);
  max_ = std::max(max_, nanoseconds);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

std::uint64_t LatencyHistogram::percentile(double fraction) const {
  if (count_ == 0) return 0;
  const auto wanted = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(std::clamp(fraction, 0.0, 1.0) * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= wanted) return std::min(upper_bound_of(i), max_);
  }
  return max_;
}

}  // namespace whoisd::bench
