// Skewed clocks as users meet them (issue 8): five real `causeway serve` processes, rf=3, one
// whose wall clock is S ahead and one S behind (libfaketime preloaded: FAKETIME="+Ss", the
// monotonic clock left alone), under a concurrent W=2 write load through every node in random
// order. Then both clocks are fixed (SIGTERM, restart without faketime). Checked: every write
// acknowledged, none lost (each key's final R=all version is at least its newest acknowledged
// one, and never a write reported failed with a definite error), the skewed nodes fenced
// themselves (status and log say so), and the fixed nodes take writes again within 10 s.
// S is 2 s, 60 s and 300 s. Skips with a message where libfaketime is missing.
//
// Addresses: 127.0.0.140..154 (five a run), ports free at the time.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/strings.h"
#include "tests/tools/harness.h"
#include "tools/internal/process.h"

namespace causeway::cluster_proc {
namespace {

using nlohmann::json;
using tools::MonotonicMs;
using tools::testing::ReadFile;
using tools::testing::RunCli;
using tools::testing::RunResult;
using tools::testing::ServeProcess;
using tools::testing::TempDir;

constexpr const char* kFaketimeLib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
constexpr int kNodes = 5;
constexpr int kWriters = 3;
constexpr uint64_t kLoadMs = 6000;
constexpr uint64_t kFormMs = 30000;
constexpr uint64_t kBackWithinMs = 10000;  // the bound for a fixed node
constexpr uint64_t kCliTimeoutMs = 20000;
constexpr int kExitOk = 0;
constexpr int kExitNotFound = 1;
constexpr int kExitUsage = 2;
constexpr int kExitError = 4;

json Parse(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? json() : j;
}

struct Node {
  std::string name, address, log;
  std::vector<std::string> flags;
  ServeProcess process;
};

struct Write {
  std::string key, value;
  int exit_code = -1;
  uint64_t timestamp = 0;
};

class ClockSkew : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (::access(kFaketimeLib, R_OK) != 0) {
      GTEST_SKIP() << "libfaketime is missing (" << kFaketimeLib
                   << "); tools/setup-deps.sh installs it";
    }
  }

  // n1..n5 on 127.0.0.<first_host + i>; n4 runs `skew_s` ahead and n5 behind when `skew_s` > 0.
  void Start(Node& n, int skew_s) {
    std::map<std::string, std::string> env;
    if (skew_s != 0) {
      env = {{"LD_PRELOAD", kFaketimeLib},
             {"FAKETIME", StrCat(skew_s > 0 ? "+" : "", skew_s, "s")},
             {"FAKETIME_DONT_FAKE_MONOTONIC", "1"}};
    }
    n.process.Start(n.flags, n.log, env);
  }

  void StartCluster(int first_host, int skew_s) {
    std::string seed;
    for (int i = 0; i < kNodes; ++i) {
      auto n = std::make_unique<Node>();
      n->name = StrCat("n", i + 1);
      n->address = tools::testing::FreeAddress(first_host + i);
      if (seed.empty()) seed = n->address;
      n->log = dir_.path() + "/" + n->name + ".log";
      n->flags = {
          "--node-id", n->name, "--listen", n->address, "--data-dir", dir_.path() + "/" + n->name,
          "--seeds",   seed,    "--rf",     "3",        "--sync",     "always"};
      nodes_.push_back(std::move(n));
    }
    for (int i = 0; i < kNodes; ++i) Start(*nodes_[i], SkewOf(i, skew_s));
    for (auto& n : nodes_) {
      ASSERT_TRUE(tools::testing::WaitServing(n->address, kFormMs)) << n->name;
      ASSERT_TRUE(tools::testing::WaitMembersUp(n->address, kNodes, kFormMs)) << n->name;
    }
  }
  static int SkewOf(int index, int skew_s) {
    return index == 3 ? skew_s : index == 4 ? -skew_s : 0;
  }

  std::string AllEndpoints(std::mt19937* rng) const {
    std::vector<std::string> order;
    for (const auto& n : nodes_) order.push_back(n->address);
    std::shuffle(order.begin(), order.end(), *rng);
    std::string out;
    for (const auto& a : order) out += (out.empty() ? "" : ",") + a;
    return out;
  }

  json Status(const Node& n) const {
    RunResult r = RunCli({"status", "--json", "--timeout-ms", "1000", "--endpoints", n.address}, {},
                         "", kCliTimeoutMs);
    json status = Parse(r.out);
    if (!status.is_object()) return json();
    for (const auto& row : status["nodes"]) {
      if (row.value("name", "") == n.name) return row;
    }
    return json();
  }

  // W=2 puts from kWriters threads for kLoadMs, each through all nodes in a random order.
  std::vector<Write> Load(const std::vector<std::string>& keys) {
    std::vector<Write> history;
    std::mutex mu;
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        std::mt19937 rng(static_cast<uint32_t>(w + 1));
        const uint64_t end = MonotonicMs() + kLoadMs;
        for (int i = 0; MonotonicMs() < end; ++i) {
          Write write{keys[rng() % keys.size()], StrCat("w", w, "-", i)};
          RunResult r = RunCli({"put", write.key, write.value, "--json", "--w", "2", "--endpoints",
                                AllEndpoints(&rng)},
                               {}, "", kCliTimeoutMs);
          write.exit_code = r.exit_code;
          if (r.exit_code == kExitOk) write.timestamp = Parse(r.out).value("timestamp", 0ull);
          std::lock_guard<std::mutex> lock(mu);
          history.push_back(std::move(write));
        }
      });
    }
    for (auto& t : writers) t.join();
    return history;
  }

  void TearDown() override {
    for (auto& n : nodes_) {
      if (n->process.running()) n->process.Signal(SIGKILL, 10000);
    }
    if (!HasFailure()) return;
    for (auto& n : nodes_) {
      std::string log = ReadFile(n->log);
      std::cerr << "---- tail of " << n->name << " log ----\n"
                << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
    }
  }

  TempDir dir_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

// Goal: with one clock S ahead and one S behind, no acknowledged write is lost or outranked by a
// failed one, the skewed nodes fence themselves visibly, and once fixed they serve within 10 s.
TEST_P(ClockSkew, NothingLostFencedNodesBackWhenFixed) {
  const int skew_s = GetParam();
  const int first_host = skew_s == 2 ? 140 : skew_s == 60 ? 145 : 150;
  StartCluster(first_host, skew_s);
  if (HasFatalFailure()) return;
  const std::vector<std::string> keys = {"sk0", "sk1", "sk2", "sk3", "sk4", "sk5"};
  std::vector<Write> history = Load(keys);

  // The skewed nodes say so: status shows the fence and the offset, the log says it once.
  for (int i = 3; i < kNodes; ++i) {
    json row = Status(*nodes_[i]);
    ASSERT_TRUE(row.contains("clock")) << row.dump();
    EXPECT_EQ(row["clock"].value("state", ""), "fenced") << row.dump();
    const int64_t off = -row["clock"].value("median_peer_offset_ms", int64_t{0});
    const int64_t want = static_cast<int64_t>(SkewOf(i, skew_s)) * 1000;
    EXPECT_NEAR(static_cast<double>(off), static_cast<double>(want), 1000.0) << row.dump();
    EXPECT_NE(ReadFile(nodes_[i]->log).find("event=clock_fenced"), std::string::npos);
  }
  EXPECT_EQ(Status(*nodes_[0])["clock"].value("state", ""), "trusted");

  // Fix the clocks: stop the skewed nodes, start them without faketime.
  for (int i = 3; i < kNodes; ++i) ASSERT_EQ(nodes_[i]->process.Signal(SIGTERM), 0);
  const uint64_t fixed_at = MonotonicMs();
  for (int i = 3; i < kNodes; ++i) Start(*nodes_[i], 0);
  for (int i = 3; i < kNodes; ++i) {
    bool back = false;
    while (!back && MonotonicMs() < fixed_at + kBackWithinMs) {
      back = RunCli({"put", "probe", "x", "--w", "1", "--attempt-timeout-ms", "1000", "--endpoints",
                     nodes_[i]->address},
                    {}, "", kCliTimeoutMs)
                 .exit_code == kExitOk;
      if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(back) << nodes_[i]->name << " took writes again only after more than "
                      << kBackWithinMs << " ms";
  }
  const uint64_t back_ms = MonotonicMs() - fixed_at;

  size_t acked = 0;
  std::map<std::string, uint64_t> newest;  // key -> newest acknowledged timestamp
  std::set<std::string> definitely_failed;
  for (const Write& w : history) {
    if (w.exit_code == kExitOk) {
      ++acked;
      newest[w.key] = std::max(newest[w.key], w.timestamp);
    } else if (w.exit_code == kExitNotFound || w.exit_code == kExitUsage ||
               w.exit_code == kExitError) {
      definitely_failed.insert(w.value);
    }
  }
  ASSERT_GT(acked, 0u);
  // Every write goes through all five nodes in turn and three have good clocks; a key whose
  // replicas include both skewed nodes has one good replica only until the fenced node's ceiling
  // follows its peers' timestamps (its first replica writes are refused), so a few may fail.
  EXPECT_GE(acked * 100, history.size() * 95)
      << acked << " of " << history.size() << " writes acknowledged with three clocks right";
  std::string all;
  for (const auto& n : nodes_) all += (all.empty() ? "" : ",") + n->address;
  for (const auto& [key, ts] : newest) {
    RunResult r =
        RunCli({"get", key, "--json", "--r", "all", "--endpoints", all}, {}, "", kCliTimeoutMs);
    ASSERT_EQ(r.exit_code, kExitOk) << key << ": " << r.out << r.err;
    json got = Parse(r.out);
    EXPECT_GE(got.value("timestamp", 0ull), ts)
        << key << ": the final version is older than an acknowledged write: " << r.out;
    EXPECT_EQ(definitely_failed.count(got.value("value", "")), 0u)
        << key << ": the final version is a write that was reported as failed: " << r.out;
  }
  std::cout << "skew " << skew_s << " s: " << acked << " of " << history.size()
            << " writes acknowledged, 0 lost; fixed nodes took writes again within " << back_ms
            << " ms of their restart\n";
}

INSTANTIATE_TEST_SUITE_P(Seconds, ClockSkew, ::testing::Values(2, 60, 300),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return StrCat("Skew", p.param, "s");
                         });

}  // namespace
}  // namespace causeway::cluster_proc
