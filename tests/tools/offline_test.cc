// `causeway offline check|repair|compact` on the data dirs of real `causeway serve` nodes on
// 127.0.4.1..20 (docs/operations.md, "After a crash: the offline tool").
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "tests/tools/offline_support.h"

namespace causeway::tools::testing {
namespace {

using nlohmann::json;

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// A value LZ4 leaves as literals, so its bytes can be found in an SST.
std::string RandomValue(std::mt19937* rng, size_t n) {
  std::string v;
  for (size_t i = 0; i < n; ++i) v.push_back(static_cast<char>('a' + (*rng)() % 26));
  return v;
}

// Goal: a byte flipped inside one value on disk is reported by `check`, with exactly that key.
TEST(OfflineCheck, FlippedByteIsReportedWithItsKey) {
  TempDir dir;
  Nodes nodes(dir, {1}, {"--rf", "1", "--sync", "always"});
  ASSERT_TRUE(nodes.StartAll()) << nodes.Logs();
  std::mt19937 rng(7);
  std::string target_value;
  for (int i = 0; i < 200; ++i) {
    const std::string v = RandomValue(&rng, 200);
    if (i == 50) target_value = v;
    ASSERT_EQ(RunCli({"put", StrCat("k", i), v, "--endpoints", nodes.address(0)}).exit_code, 0);
  }
  ASSERT_EQ(nodes.proc(0).Signal(SIGTERM), 0);
  // Everything into SSTs (a flush and a full compaction), then the healthy dir checks clean.
  RunResult compact = RunCli({"offline", "compact", "--data-dir", nodes.data_dir(0)});
  ASSERT_EQ(compact.exit_code, 0) << compact.err;
  RunResult healthy = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  ASSERT_EQ(healthy.exit_code, 0) << healthy.out << healthy.err;
  EXPECT_EQ(LastJsonLine(healthy.out)["keys"], 200);

  bool flipped = false;
  for (const auto& e : std::filesystem::directory_iterator(nodes.data_dir(0))) {
    if (e.path().extension() != ".sst") continue;
    std::string bytes = ReadFile(e.path().string());
    const size_t at = bytes.find(target_value.substr(0, 40));
    if (at == std::string::npos) continue;
    bytes[at + 20] = static_cast<char>(bytes[at + 20] ^ 0x01);
    WriteFile(e.path().string(), bytes);
    flipped = true;
  }
  ASSERT_TRUE(flipped) << "the value was not found in any SST";
  RunResult r = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  json j = LastJsonLine(r.out);
  ASSERT_TRUE(j.is_object()) << r.out;
  std::set<std::string> keys;
  for (const json& c : j["corrupt"]) {
    if (c.contains("key") && !c["key"].get<std::string>().empty()) keys.insert(c["key"]);
  }
  EXPECT_EQ(keys, std::set<std::string>{"k50"}) << r.out;
}

// Goal: a dir a running node holds is refused by check, repair and compact (exit 3, "in use").
TEST(OfflineCheck, RunningNodesDirIsRefused) {
  TempDir dir;
  Nodes nodes(dir, {2}, {"--rf", "1"});
  ASSERT_TRUE(nodes.StartAll()) << nodes.Logs();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"offline", "check", "--data-dir", nodes.data_dir(0)},
        {"offline", "compact", "--data-dir", nodes.data_dir(0)},
        {"offline", "repair", "--rf", "1", "--data-dir", nodes.data_dir(0)}}) {
    RunResult r = RunCli(args);
    EXPECT_EQ(r.exit_code, 3) << args[1] << ": " << r.out << r.err;
    EXPECT_NE(r.err.find("in use by a running node"), std::string::npos) << r.err;
  }
  EXPECT_TRUE(WaitServing(nodes.address(0)));  // untouched
}

// Goal: three replicas made divergent by a real cluster (one killed during W=2 writes) reconcile
// offline to identical content: the second dry run finds 0 divergent, every dir holds every key.
TEST(OfflineRepair, DivergentReplicasReconcile) {
  TempDir dir;
  Nodes nodes(dir, {3, 4, 5}, {"--rf", "3", "--sync", "always"});
  ASSERT_TRUE(nodes.StartAll()) << nodes.Logs();
  ASSERT_EQ(nodes.proc(2).Signal(SIGKILL), 128 + SIGKILL);
  const std::string live = nodes.address(0) + "," + nodes.address(1);
  for (int i = 0; i < 60; ++i) {
    ASSERT_EQ(
        RunCli({"put", StrCat("dv", i), StrCat("x", i), "--w", "2", "--endpoints", live}).exit_code,
        0);
  }
  ASSERT_EQ(RunCli({"del", "dv0", "--w", "2", "--endpoints", live}).exit_code, 0);
  ASSERT_EQ(nodes.proc(0).Signal(SIGTERM), 0);
  ASSERT_EQ(nodes.proc(1).Signal(SIGTERM), 0);
  std::vector<std::string> args = {"offline", "repair", "--json", "--rf", "3"};
  for (size_t i = 0; i < 3; ++i) {
    args.push_back("--data-dir");
    args.push_back(nodes.data_dir(i));
  }
  std::vector<std::string> dry = args;
  dry.push_back("--dry-run");
  RunResult d1 = RunCli(dry);
  ASSERT_EQ(d1.exit_code, 0) << d1.err;
  json j1 = LastJsonLine(d1.out);
  EXPECT_GE(j1["keys_divergent"].get<int>(), 60) << d1.out;
  EXPECT_EQ(j1["keys_written"], 0);
  RunResult fix = RunCli(args);
  ASSERT_EQ(fix.exit_code, 0) << fix.err;
  EXPECT_GE(LastJsonLine(fix.out)["keys_written"].get<int>(), 60) << fix.out;
  RunResult d2 = RunCli(dry);
  ASSERT_EQ(d2.exit_code, 0) << d2.err;
  EXPECT_EQ(LastJsonLine(d2.out)["keys_divergent"], 0) << d2.out;
  // Identical content: the same key and tombstone counts in each dir (the dry run above compared
  // every key's version).
  json first_check;
  for (size_t i = 0; i < 3; ++i) {
    RunResult c = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(i)});
    ASSERT_EQ(c.exit_code, 0) << c.out << c.err << nodes.Logs();
    json jc = LastJsonLine(c.out);
    EXPECT_GE(jc["keys"].get<int>(), 60) << nodes.name(i);
    EXPECT_GE(jc["tombstones"].get<int>(), 1) << nodes.name(i);
    if (i == 0) first_check = jc;
    EXPECT_EQ(jc["keys"], first_check["keys"]) << nodes.name(i);
    EXPECT_EQ(jc["tombstones"], first_check["tombstones"]) << nodes.name(i);
  }
}

// Goal: `compact` purges the tombstones below the watermark it is given, and only those.
TEST(OfflineCompact, PurgesOnlyBelowTheWatermark) {
  TempDir dir;
  Nodes nodes(dir, {6}, {"--rf", "1", "--sync", "always"});
  ASSERT_TRUE(nodes.StartAll()) << nodes.Logs();
  for (const char* k : {"old", "new", "kept"}) {
    ASSERT_EQ(RunCli({"put", k, "v", "--endpoints", nodes.address(0)}).exit_code, 0);
  }
  ASSERT_EQ(RunCli({"del", "old", "--endpoints", nodes.address(0)}).exit_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const uint64_t watermark = NowMs();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(RunCli({"del", "new", "--endpoints", nodes.address(0)}).exit_code, 0);
  ASSERT_EQ(nodes.proc(0).Signal(SIGTERM), 0);
  RunResult before = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_EQ(LastJsonLine(before.out)["tombstones"], 2);
  RunResult c = RunCli({"offline", "compact", "--json", "--data-dir", nodes.data_dir(0),
                        "--watermark-ms", std::to_string(watermark)});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(LastJsonLine(c.out)["tombstones_purged"], 1) << c.out;
  RunResult after = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  json ja = LastJsonLine(after.out);
  EXPECT_EQ(ja["tombstones"], 1) << after.out;  // "new" stays deleted
  EXPECT_EQ(ja["keys"], 2) << after.out;        // "new" (tombstone) and "kept"
}

}  // namespace
}  // namespace causeway::tools::testing
