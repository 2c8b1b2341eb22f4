#include "tools/internal/bench_workload.h"

#include <cmath>

#include "base/assert.h"

namespace causeway::tools {

std::string_view BenchOpName(BenchOp op) {
  switch (op) {
    case BenchOp::kRead:
      return "read";
    case BenchOp::kUpdate:
      return "update";
    case BenchOp::kReadModifyWrite:
      return "read_modify_write";
  }
  return "unknown";
}

BenchOp WorkloadMix::Pick(double coin) const {
  if (coin < read) return BenchOp::kRead;
  if (coin < read + update) return BenchOp::kUpdate;
  return read_modify_write > 0 ? BenchOp::kReadModifyWrite : BenchOp::kUpdate;
}

Result<WorkloadMix> ParseWorkload(std::string_view name) {
  if (name == "a" || name == "A") return WorkloadMix{"a", 0.5, 0.5, 0};
  if (name == "b" || name == "B") return WorkloadMix{"b", 0.95, 0.05, 0};
  if (name == "c" || name == "C") return WorkloadMix{"c", 1.0, 0, 0};
  if (name == "f" || name == "F") return WorkloadMix{"f", 0.5, 0, 0.5};
  if (name == "w" || name == "W") return WorkloadMix{"w", 0, 1.0, 0};
  return Status::InvalidArgument("unknown workload '" + std::string(name) + "' (a, b, c, f, w)");
}

WorkloadMix ReadRatioMix(double read_ratio) {
  return WorkloadMix{"custom", read_ratio, 1.0 - read_ratio, 0};
}

namespace {
double Zeta(uint64_t n, double theta) {
  double sum = 0;
  for (uint64_t i = 1; i <= n; ++i) sum += 1.0 / std::pow(static_cast<double>(i), theta);
  return sum;
}
}  // namespace

ZipfianGenerator::ZipfianGenerator(uint64_t items, double theta)
    : items_(items),
      theta_(theta),
      alpha_(1.0 / (1.0 - theta)),
      zetan_(Zeta(items, theta)),
      eta_(0),
      half_pow_theta_(1.0 + std::pow(0.5, theta)) {
  CW_ASSERT(items >= 1 && theta > 0 && theta < 1, "zipfian needs items >= 1, 0 < theta < 1");
  const double zeta2 = Zeta(2, theta);
  eta_ = items_ < 2 ? 0
                    : (1.0 - std::pow(2.0 / static_cast<double>(items_), 1.0 - theta_)) /
                          (1.0 - zeta2 / zetan_);
}

uint64_t ZipfianGenerator::Next(std::mt19937_64& rng) {
  const double u = unit_(rng);
  const double uz = u * zetan_;
  if (uz < 1.0 || items_ == 1) return 0;
  if (uz < half_pow_theta_) return 1;
  const auto v =
      static_cast<uint64_t>(static_cast<double>(items_) * std::pow(eta_ * u - eta_ + 1.0, alpha_));
  return v < items_ ? v : items_ - 1;
}

uint64_t Fnv1a64(uint64_t value) {
  constexpr uint64_t kOffset = 0xCBF29CE484222325ull;
  constexpr uint64_t kPrime = 1099511628211ull;
  uint64_t hash = kOffset;
  for (int i = 0; i < 8; ++i) {
    hash ^= value & 0xff;
    hash *= kPrime;
    value >>= 8;
  }
  return hash;
}

uint64_t ScrambledZipfian::Next(std::mt19937_64& rng) {
  return Fnv1a64(zipf_.Next(rng)) % zipf_.items();
}

Result<KeyDistribution> ParseKeyDistribution(std::string_view name) {
  if (name == "uniform") return KeyDistribution::kUniform;
  if (name == "zipfian") return KeyDistribution::kZipfian;
  return Status::InvalidArgument("unknown key distribution '" + std::string(name) +
                                 "' (uniform, zipfian)");
}

std::string_view KeyDistributionName(KeyDistribution d) {
  return d == KeyDistribution::kZipfian ? "zipfian" : "uniform";
}

// The zipfian tables are built even for uniform (cheap next to a run, and it keeps the type
// simple) only over 1 item then.
KeyChooser::KeyChooser(KeyDistribution d, uint64_t items, double theta)
    : d_(d), items_(items), zipf_(d == KeyDistribution::kZipfian ? items : 1, theta) {}

uint64_t KeyChooser::Next(std::mt19937_64& rng) {
  if (d_ == KeyDistribution::kZipfian) return zipf_.Next(rng);
  return rng() % items_;
}

OpenLoopSchedule::OpenLoopSchedule(double ops_per_s, Clock::time_point start)
    : interval_ns_(1e9 / ops_per_s), start_(start) {
  CW_ASSERT(ops_per_s > 0, "open loop needs a positive rate");
}

OpenLoopSchedule::Clock::time_point OpenLoopSchedule::Intended(uint64_t index) const {
  return start_ +
         std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(index) * interval_ns_));
}

uint64_t OpenLoopSchedule::DueBy(Clock::time_point now) const {
  if (now < start_) return 0;
  const auto ns = static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now - start_).count());
  auto due = static_cast<uint64_t>(ns / interval_ns_) + 1;
  // Rounding: never count an operation whose intended time is still ahead.
  while (due > 0 && Intended(due - 1) > now) --due;
  while (Intended(due) <= now) ++due;
  return due;
}

uint64_t OpenLoopSchedule::LatencyUs(uint64_t index, Clock::time_point done) const {
  const Clock::time_point intended = Intended(index);
  if (done <= intended) return 0;
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(done - intended).count());
}

}  // namespace causeway::tools
