#include "seeds.h"

#include <chrono>
#include <cstdio>
#include <sstream>

namespace causeway::sim {

namespace {
constexpr size_t kViolationsShownMax = 20;
constexpr uint64_t kJoinConvergeMsMax = 120000;  // the first nodes find each other
constexpr uint64_t kJoinCheckMs = 50;            // resolution of the join-time figure
}  // namespace

SeedOutcome RunSeed(const SimOptions& options, bool verbose) {
  const auto t0 = std::chrono::steady_clock::now();
  SeedOutcome out;
  out.report = Simulator(options).Run();
  out.ok = out.report.ok();
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (verbose || !out.ok) {
    std::printf("%s seed %llu (%s): %s wall=%.2fs\n", out.ok ? "PASS" : "FAIL",
                static_cast<unsigned long long>(options.seed), options.Describe().c_str(),
                out.report.Summary().c_str(), wall_s);
    std::fflush(stdout);
  }
  if (out.ok) return out;
  std::ostringstream text;
  text << "seed " << options.seed << " failed (" << options.Describe() << ")\n"
       << "replay: " << options.replay << "\n"
       << out.report.violations.size() << " violation(s):\n";
  for (size_t i = 0; i < out.report.violations.size() && i < kViolationsShownMax; ++i) {
    text << "  " << out.report.violations[i] << "\n";
  }
  text << "last events:\n";
  for (const auto& line : out.report.trace_tail) text << "  " << line;
  out.failure_text = text.str();
  return out;
}

std::optional<uint64_t> MeasureJoinMs(uint64_t seed, int nodes, uint64_t bound_ms) {
  SimOptions o = SimOptions::FromSeed(seed, nodes - 1);
  o.drop_probability = 0;  // the figure is for a healthy network (delays and reordering only)
  o.duplicate_probability = 0;
  Simulator sim(o);
  for (int i = 0; i < nodes - 1; ++i) sim.AddNode();
  if (!sim.RunUntil([&] { return sim.AllKnow(sim.AllIds()); }, kJoinConvergeMsMax, kJoinCheckMs)) {
    return std::nullopt;
  }
  const uint64_t start = sim.now_ms();
  sim.AddNode();
  const NodeId joiner = sim.node_id(nodes - 1);
  if (!sim.RunUntil([&] { return sim.AllKnow({joiner}); }, bound_ms, kJoinCheckMs)) {
    return std::nullopt;
  }
  return sim.now_ms() - start;
}

}  // namespace causeway::sim
