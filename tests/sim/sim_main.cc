// sim_test's main: GoogleTest by default; with --seed/--seeds it is the runner behind
// `tests/sim/run` (no gtest, one line per seed, full details for each failure).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "seeds.h"

namespace {

struct RunnerArgs {
  bool runner = false;
  uint64_t first_seed = 1000000;  // beyond CI's seeds, so `--seeds N` explores new ground
  uint64_t seeds = 1;
  int nodes = 0;  // 0: the seed decides (3..7)
  bool quiet = false;
  bool join = false;  // measure the join time instead (nodes default 100)
  causeway::sim::SeedKind kind = causeway::sim::SeedKind::kMixed;
};

bool ParseRunnerArgs(int argc, char** argv, RunnerArgs* args) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--seed" && has_value) {
      args->first_seed = std::stoull(argv[++i]);
      args->seeds = 1;
    } else if (a == "--seeds" && has_value) {
      args->seeds = std::stoull(argv[++i]);
    } else if (a == "--first-seed" && has_value) {
      args->first_seed = std::stoull(argv[++i]);
    } else if (a == "--nodes" && has_value) {
      args->nodes = std::stoi(argv[++i]);
    } else if (a == "--join") {
      args->join = true;
      if (has_value && argv[i + 1][0] != '-') args->first_seed = std::stoull(argv[++i]);
    } else if (a == "--kind" && has_value) {
      const std::string kind = argv[++i];
      if (kind != "repair" && kind != "mixed" && kind != "membership") {
        std::fprintf(stderr, "--kind is mixed, repair or membership, not %s\n", kind.c_str());
        std::exit(2);
      }
      args->kind = kind == "repair"       ? causeway::sim::SeedKind::kRepair
                   : kind == "membership" ? causeway::sim::SeedKind::kMembership
                                          : causeway::sim::SeedKind::kMixed;
    } else if (a == "--quiet") {
      args->quiet = true;
    } else {
      continue;
    }
    args->runner = true;
  }
  return args->runner;
}

int MeasureJoins(const RunnerArgs& args) {
  const int nodes = args.nodes > 0 ? args.nodes : 100;
  int failed = 0;
  for (uint64_t s = args.first_seed; s < args.first_seed + args.seeds; ++s) {
    auto ms = causeway::sim::MeasureJoinMs(s, nodes, 60000);
    if (ms) {
      std::printf("join seed %llu nodes %d: %.2f simulated seconds\n",
                  static_cast<unsigned long long>(s), nodes, static_cast<double>(*ms) / 1000.0);
    } else {
      ++failed;
      std::printf("join seed %llu nodes %d: not known to all within 60 s\n",
                  static_cast<unsigned long long>(s), nodes);
    }
  }
  return failed == 0 ? 0 : 1;
}

int RunSeeds(const RunnerArgs& args) {
  if (args.join) return MeasureJoins(args);
  uint64_t failed = 0;
  for (uint64_t s = args.first_seed; s < args.first_seed + args.seeds; ++s) {
    auto out = causeway::sim::RunSeed(causeway::sim::SimOptions::FromSeed(s, args.nodes, args.kind),
                                      !args.quiet);
    if (!out.ok) {
      ++failed;
      std::printf("%s\n", out.failure_text.c_str());
    }
  }
  std::printf("%llu of %llu seeds failed\n", static_cast<unsigned long long>(failed),
              static_cast<unsigned long long>(args.seeds));
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  RunnerArgs args;
  if (ParseRunnerArgs(argc, argv, &args)) return RunSeeds(args);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
