// The seeds CI runs, and running one seed with a printable verdict (shared by the gtest cases and
// the `tests/sim/run` runner mode of the sim_test binary).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "sim.h"

namespace causeway::sim {

// 200 seeds of 3-7 nodes in kCiBatches gtest cases (so ctest -j2 runs them in parallel), 40
// seeds of the repair kind (SeedKind::kRepair) in kCiRepairBatches more, plus kCiLargeSeeds seeds
// of 100 nodes. Fixed, so a CI failure replays anywhere.
inline constexpr uint64_t kCiFirstSeed = 1;
inline constexpr int kCiBatches = 10;
inline constexpr uint64_t kCiSeedsPerBatch = 20;
inline constexpr uint64_t kCiRepairFirstSeed = 300001;
inline constexpr int kCiRepairBatches = 2;
// Seeds of the membership kind (SeedKind::kMembership): nodes join mid-run and bootstrap.
inline constexpr uint64_t kCiMembershipFirstSeed = 400001;
inline constexpr int kCiMembershipBatches = 1;
inline constexpr uint64_t kCiLargeFirstSeed = 100001;
inline constexpr int kCiLargeSeeds = 4;
inline constexpr uint64_t kJoinSeed = 424242;
inline constexpr uint64_t kJoinBoundMs = 10000;  // the 100th node is known to all within this

struct SeedOutcome {
  bool ok = true;
  SimReport report;
  std::string failure_text;  // seed, options, replay command, violations, last trace lines
};

// Runs one seed; verbose prints a one-line summary either way.
SeedOutcome RunSeed(const SimOptions& options, bool verbose);

// Starts nodes-1 nodes, waits until they all know each other, adds one more and returns the
// simulated milliseconds until every node knows it (up, alive, with its tokens); nullopt if that
// took longer than bound_ms (or the first nodes never converged).
std::optional<uint64_t> MeasureJoinMs(uint64_t seed, int nodes, uint64_t bound_ms);

}  // namespace causeway::sim
