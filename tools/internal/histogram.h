// LatencyHistogram: log-linear buckets over microseconds (HdrHistogram's layout, which Debian
// does not package). Values below 32 us get one bucket each; above, every power of two is split
// into 16 linear sub-buckets, so a reported percentile is at most ~6% above the true value.
//
// Not thread-safe: each bench thread fills its own and the results are merged.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace causeway::tools {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 4;  // 16 sub-buckets per power of two
  static constexpr int kBuckets = 64 << kSubBucketBits;

  void Record(uint64_t micros) {
    ++counts_[Index(micros)];
    ++count_;
    max_ = std::max(max_, micros);
  }
  void Merge(const LatencyHistogram& other) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }

  // The smallest bucket upper bound at or below which `quantile` (0..1] of the values lie
  // (conservative: never below the true percentile). 0 when empty.
  uint64_t Percentile(double quantile) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<uint64_t>(quantile * static_cast<double>(count_) + 0.999999);
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(UpperBound(i), max_);
    }
    return max_;
  }

  static int Index(uint64_t v) {
    constexpr uint64_t kLinear = uint64_t{2} << kSubBucketBits;  // 32
    if (v < kLinear) return static_cast<int>(v);
    int msb = 63 - std::countl_zero(v);
    int shift = msb - kSubBucketBits;  // v >> shift is in [16, 32)
    return (shift + 1) * (1 << kSubBucketBits) +
           static_cast<int>((v >> shift) - (uint64_t{1} << kSubBucketBits));
  }
  // The largest value that maps to bucket `index`.
  static uint64_t UpperBound(int index) {
    constexpr int kSub = 1 << kSubBucketBits;
    if (index < 2 * kSub) return static_cast<uint64_t>(index);
    int shift = index / kSub - 1;
    uint64_t lower = static_cast<uint64_t>(index % kSub + kSub) << shift;
    return lower + (uint64_t{1} << shift) - 1;
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

}  // namespace causeway::tools
