// The benchmark's workload pieces (tools/internal/bench_workload.h) without any I/O: the YCSB
// mixes, the zipfian and scrambled zipfian key choice, and the open-loop schedule that measures
// latency from the intended send time.
#include "tools/internal/bench_workload.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

namespace causeway::tools {
namespace {

using Clock = OpenLoopSchedule::Clock;

TEST(BenchWorkload, YcsbMixesPickTheirOperations) {
  // Goal: each named workload sends its documented mix, and an unknown one is refused.
  struct Case {
    const char* name;
    double read, update, rmw;
  };
  for (const Case& c : {Case{"a", 0.5, 0.5, 0}, Case{"b", 0.95, 0.05, 0}, Case{"c", 1, 0, 0},
                        Case{"f", 0.5, 0, 0.5}, Case{"w", 0, 1, 0}}) {
    SCOPED_TRACE(c.name);
    Result<WorkloadMix> mix = ParseWorkload(c.name);
    ASSERT_TRUE(mix.ok());
    std::mt19937_64 rng(1);
    std::uniform_real_distribution<double> coin(0, 1);
    std::map<BenchOp, int> seen;
    constexpr int kDraws = 100000;
    for (int i = 0; i < kDraws; ++i) ++seen[mix->Pick(coin(rng))];
    EXPECT_NEAR(seen[BenchOp::kRead] / double{kDraws}, c.read, 0.01);
    EXPECT_NEAR(seen[BenchOp::kUpdate] / double{kDraws}, c.update, 0.01);
    EXPECT_NEAR(seen[BenchOp::kReadModifyWrite] / double{kDraws}, c.rmw, 0.01);
  }
  EXPECT_EQ(ParseWorkload("e").status().code(), ErrorCode::kInvalidArgument);
}

TEST(BenchWorkload, ZipfianFollowsItsLaw) {
  // Goal: YCSB's zipfian (theta 0.99) gives rank k about 1/(k+1)^theta / zeta(n) of the draws,
  // stays in range, and is heavily skewed (the top 1% of ranks take most of the draws).
  constexpr uint64_t kItems = 1000;
  ZipfianGenerator zipf(kItems, ZipfianGenerator::kYcsbTheta);
  std::mt19937_64 rng(7);
  std::vector<uint64_t> counts(kItems);
  constexpr int kDraws = 400000;
  for (int i = 0; i < kDraws; ++i) {
    const uint64_t v = zipf.Next(rng);
    ASSERT_LT(v, kItems);
    ++counts[v];
  }
  // Gray's method is exact for ranks 0 and 1 (drawn separately) and a continuous approximation
  // beyond them (as in YCSB): within 10% and 25%.
  for (uint64_t k : {0, 1, 2, 9, 99}) {
    const double expected = 1.0 / std::pow(double(k + 1), 0.99) / zipf.zetan();
    const double tolerance = k < 2 ? 0.1 : 0.25;
    EXPECT_NEAR(counts[k] / double{kDraws}, expected, expected * tolerance) << "rank " << k;
  }
  EXPECT_GT(counts[0], counts[1]);
  EXPECT_GT(counts[1], counts[10]);
  uint64_t top = 0;
  for (uint64_t k = 0; k < kItems / 100; ++k) top += counts[k];
  EXPECT_GT(top / double{kDraws}, 0.35);  // uniform would give 1%
}

TEST(BenchWorkload, ScrambledZipfianSpreadsTheHotKeys) {
  // Goal: the scrambled zipfian keeps the skew but the hottest keys are not the first ones, and
  // every draw is in range; uniform is flat.
  constexpr uint64_t kItems = 10000;
  KeyChooser zipf(KeyDistribution::kZipfian, kItems, ZipfianGenerator::kYcsbTheta);
  KeyChooser uniform(KeyDistribution::kUniform, kItems, ZipfianGenerator::kYcsbTheta);
  std::mt19937_64 rng(3);
  std::vector<uint64_t> z(kItems), u(kItems);
  constexpr int kDraws = 300000;
  for (int i = 0; i < kDraws; ++i) {
    const uint64_t a = zipf.Next(rng), b = uniform.Next(rng);
    ASSERT_LT(a, kItems);
    ASSERT_LT(b, kItems);
    ++z[a], ++u[b];
  }
  const auto hottest = static_cast<uint64_t>(std::max_element(z.begin(), z.end()) - z.begin());
  EXPECT_EQ(hottest, Fnv1a64(0) % kItems);  // rank 0, hashed
  EXPECT_NE(hottest, 0u);
  std::vector<uint64_t> sorted = z;
  std::sort(sorted.rbegin(), sorted.rend());
  uint64_t top = 0;
  for (uint64_t k = 0; k < kItems / 100; ++k) top += sorted[k];
  EXPECT_GT(top / double{kDraws}, 0.3);
  EXPECT_LT(*std::max_element(u.begin(), u.end()), uint64_t{3} * kDraws / kItems);
  EXPECT_EQ(ParseKeyDistribution("latest").status().code(), ErrorCode::kInvalidArgument);
}

TEST(BenchWorkload, OpenLoopScheduleIsFixedAndChargesLateness) {
  // Goal: operation i is due at start + i / rate whatever happened before; DueBy counts exactly
  // the operations whose time has come; latency runs from the intended time, so an operation
  // sent late because of a stall is charged for the stall (no coordinated omission).
  const Clock::time_point start = Clock::now();
  OpenLoopSchedule s(1000, start);  // one per millisecond
  EXPECT_EQ(s.Intended(0), start);
  EXPECT_EQ(s.Intended(5) - start, std::chrono::milliseconds(5));
  EXPECT_EQ(s.DueBy(start - std::chrono::microseconds(1)), 0u);
  EXPECT_EQ(s.DueBy(start), 1u);
  EXPECT_EQ(s.DueBy(start + std::chrono::microseconds(999)), 1u);
  EXPECT_EQ(s.DueBy(start + std::chrono::milliseconds(1)), 2u);
  EXPECT_EQ(s.DueBy(start + std::chrono::milliseconds(100)), 101u);
  // A 50 ms stall: operation 10 (due at 10 ms) answered at 60 ms costs 50 ms, not its service
  // time; operation 59 (due at 59 ms) answered at 60 ms costs 1 ms.
  const Clock::time_point after_stall = start + std::chrono::milliseconds(60);
  EXPECT_EQ(s.LatencyUs(10, after_stall), 50000u);
  EXPECT_EQ(s.LatencyUs(59, after_stall), 1000u);
  EXPECT_EQ(s.LatencyUs(70, after_stall), 0u);
  // Non-integral intervals do not drift: 3 per millisecond, 3000 due after one second.
  OpenLoopSchedule fast(3000, start);
  EXPECT_EQ(fast.DueBy(start + std::chrono::seconds(1)), 3001u);
  for (uint64_t i = 1; i < 10000; i += 333) {
    EXPECT_LE(fast.Intended(i - 1), fast.Intended(i));
    EXPECT_EQ(fast.DueBy(fast.Intended(i)), i + 1);
  }
}

}  // namespace
}  // namespace causeway::tools
