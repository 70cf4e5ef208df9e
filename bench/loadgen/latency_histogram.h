// Answer times, kept as counts in logarithmic buckets (64 linear steps per power of
// two, so any percentile is within 1.6 % of the true value) instead of one sample per
// query: a run of tens of millions of queries costs 30 KB, and histograms of several
// worker threads add up exactly.
#pragma once

#include <array>
#include <cstdint>

namespace whoisd::bench {

class LatencyHistogram {
 public:
  void record(std::uint64_t nanoseconds);
  void merge(const LatencyHistogram& other);

  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // The smallest bucket bound at or below which `fraction` (0..1) of the values lie; 0 when empty.
  std::uint64_t percentile(double fraction) const;

 private:
  static constexpr int kSubBucketBits = 6;
  static constexpr std::size_t kLinear = std::size_t{2} << kSubBucketBits;             // 0..127 exact
  static constexpr std::size_t kBuckets = kLinear + (64 - kSubBucketBits - 1) * (kLinear / 2);
  static std::size_t index_of(std::uint64_t value);
  static std::uint64_t upper_bound_of(std::size_t index);

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
  std::uint64_t max_ = 0;
};

}  // namespace whoisd::bench
