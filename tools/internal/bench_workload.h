// What `causeway bench` sends and when: YCSB's core workloads, key choice (uniform, or YCSB's
// scrambled zipfian), and the open-loop send schedule. No I/O: unit-tested in
// tests/tools/bench_workload_test.cc.
//
// Workloads (YCSB core workloads; "W" is ours):
//   A  50% read, 50% update          B  95% read, 5% update        C  100% read
//   F  50% read, 50% read-modify-write (read the key, then write it; timed as one operation)
//   W  100% update
// Not thread-safe: each bench thread owns its own generators.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "base/status.h"

namespace causeway::tools {

enum class BenchOp { kRead, kUpdate, kReadModifyWrite };
inline constexpr int kBenchOpCount = 3;
std::string_view BenchOpName(BenchOp op);

// Fractions of each operation; they sum to 1.
struct WorkloadMix {
  std::string name;  // "a", "b", "c", "f", "w", or "custom"
  double read = 0.5, update = 0.5, read_modify_write = 0;
  BenchOp Pick(double coin) const;  // coin uniform in [0, 1)
};
Result<WorkloadMix> ParseWorkload(std::string_view name);
// The old --read-ratio mix: reads and updates only.
WorkloadMix ReadRatioMix(double read_ratio);

// YCSB's ZipfianGenerator (Gray et al., "Quickly generating billion-record synthetic
// databases"): item i in [0, n) with probability proportional to 1 / (i + 1)^theta. zeta(n) is
// computed once, in O(n).
class ZipfianGenerator {
 public:
  static constexpr double kYcsbTheta = 0.99;
  ZipfianGenerator(uint64_t items, double theta);
  uint64_t Next(std::mt19937_64& rng);
  uint64_t items() const { return items_; }
  double zetan() const { return zetan_; }

 private:
  uint64_t items_;
  double theta_, alpha_, zetan_, eta_, half_pow_theta_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
};

// YCSB's ScrambledZipfianGenerator: a zipfian rank, hashed (FNV-1a 64) onto [0, n), so the
// popular keys are spread over the key space instead of being its first keys. YCSB draws the
// rank over 10^10 items (its precomputed zeta); we draw it over n, so no two ranks beyond n
// exist, but hashing n ranks onto n keys merges some (as YCSB's modulo does).
class ScrambledZipfian {
 public:
  ScrambledZipfian(uint64_t items, double theta) : zipf_(items, theta) {}
  uint64_t Next(std::mt19937_64& rng);

 private:
  ZipfianGenerator zipf_;
};
uint64_t Fnv1a64(uint64_t value);

enum class KeyDistribution { kUniform, kZipfian };
Result<KeyDistribution> ParseKeyDistribution(std::string_view name);
std::string_view KeyDistributionName(KeyDistribution d);

// Chooses key indexes in [0, items).
class KeyChooser {
 public:
  KeyChooser(KeyDistribution d, uint64_t items, double theta);
  uint64_t Next(std::mt19937_64& rng);

 private:
  KeyDistribution d_;
  uint64_t items_;
  ScrambledZipfian zipf_;
};

// Open loop: operation i is due at start + i / rate, whether or not earlier ones have finished.
// Latency is measured from that intended time, so a stall delays (and is charged to) every
// operation due during it, instead of silently pausing the load (coordinated omission).
class OpenLoopSchedule {
 public:
  using Clock = std::chrono::steady_clock;
  OpenLoopSchedule(double ops_per_s, Clock::time_point start);
  Clock::time_point Intended(uint64_t index) const;
  // How many operations are due at `now` (indexes 0 .. result-1).
  uint64_t DueBy(Clock::time_point now) const;
  // Microseconds from operation `index`'s intended send time to `done` (0 if before it).
  uint64_t LatencyUs(uint64_t index, Clock::time_point done) const;

 private:
  double interval_ns_;
  Clock::time_point start_;
};

}  // namespace causeway::tools
