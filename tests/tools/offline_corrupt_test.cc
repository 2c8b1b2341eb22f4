// `causeway offline repair` on corrupt records, and `offline hints export|import`, on the data
// dirs of real `causeway serve` nodes on 127.0.4.100..199 (docs/operations.md, "After a crash:
// the offline tool").
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <set>

#include "tests/tools/offline_support.h"

namespace causeway::tools::testing {
namespace {

using nlohmann::json;

constexpr int kKeys = 120;

// A value LZ4 leaves as literals, so its bytes can be found in an SST.
std::string RandomValue(std::mt19937* rng, size_t n) {
  std::string v;
  for (size_t i = 0; i < n; ++i) v.push_back(static_cast<char>('a' + (*rng)() % 26));
  return v;
}

// Flips one bit in the middle of `value` wherever it is stored in `dir`'s SST files; how many
// copies were flipped.
int FlipInSsts(const std::string& dir, const std::string& value) {
  int flipped = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".sst") continue;
    std::string bytes = ReadFile(e.path().string());
    const size_t at = bytes.find(value.substr(0, 40));
    if (at == std::string::npos) continue;
    bytes[at + 20] = static_cast<char>(bytes[at + 20] ^ 0x01);
    WriteFile(e.path().string(), bytes);
    ++flipped;
  }
  return flipped;
}

std::vector<std::string> RepairArgs(const Nodes& nodes, size_t n, bool dry_run) {
  std::vector<std::string> args = {"offline", "repair", "--json", "--rf", "3"};
  for (size_t i = 0; i < n; ++i) {
    args.push_back("--data-dir");
    args.push_back(nodes.data_dir(i));
  }
  if (dry_run) args.push_back("--dry-run");
  return args;
}

// Three replicas written by a real cluster (kKeys keys "ck<i>" at W=all), then, with `divergent`
// > 0, the third node killed and that many keys "dv<i>" written at W=2 (the divergent-dirs
// fixture of OfflineRepair.DivergentReplicasReconcile); the first `compact_dirs` dirs' data fully
// in SSTs. Returns the ck values.
std::vector<std::string> WriteAndStop(Nodes& nodes, int compact_dirs, int divergent = 0) {
  std::mt19937 rng(11);
  std::vector<std::string> values;
  for (int i = 0; i < kKeys; ++i) {
    values.push_back(RandomValue(&rng, 200));
    RunResult put = RunCli(
        {"put", StrCat("ck", i), values.back(), "--w", "all", "--endpoints", nodes.endpoints()});
    EXPECT_EQ(put.exit_code, 0) << put.err;
  }
  size_t live = 3;
  if (divergent > 0) {
    EXPECT_EQ(nodes.proc(2).Signal(SIGKILL), 128 + SIGKILL);
    live = 2;
    for (int i = 0; i < divergent; ++i) {
      RunResult put = RunCli({"put", StrCat("dv", i), StrCat("x", i), "--w", "2", "--endpoints",
                              nodes.address(0) + "," + nodes.address(1)});
      EXPECT_EQ(put.exit_code, 0) << put.err;
    }
  }
  for (size_t i = 0; i < live; ++i) EXPECT_EQ(nodes.proc(i).Signal(SIGTERM), 0);
  for (int i = 0; i < compact_dirs; ++i) {
    RunResult c = RunCli({"offline", "compact", "--data-dir", nodes.data_dir(i)});
    EXPECT_EQ(c.exit_code, 0) << c.err;
  }
  return values;
}

std::set<std::string> CorruptKeys(const json& summary, const std::string& status) {
  std::set<std::string> keys;
  for (const json& c : summary["corrupt"]) {
    if (c.contains("key") && c["status"] == status && !c["key"].get<std::string>().empty()) {
      keys.insert(c["key"].get<std::string>());
    }
  }
  return keys;
}

// Goal: a byte flipped inside one record of one replica's SST is reported (dir, key) and repaired
// from the other replicas, while the dirs also diverge (the third missed writes): the dir then
// checks healthy, a second dry run finds nothing divergent or corrupt, and a node started on the
// dir serves the key and the dir compacts.
TEST(OfflineRepairCorrupt, CorruptRecordIsRepairedFromTheOtherReplicas) {
  TempDir dir;
  Nodes nodes(dir, {100, 101, 102}, {"--rf", "3", "--sync", "always"});
  ASSERT_TRUE(nodes.StartAll()) << nodes.Logs();
  constexpr int kDivergent = 20;
  const std::vector<std::string> values = WriteAndStop(nodes, 1, kDivergent);
  ASSERT_EQ(FlipInSsts(nodes.data_dir(0), values[50]), 1);
  RunResult damaged = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  ASSERT_EQ(damaged.exit_code, 4) << damaged.out << damaged.err;

  RunResult dry = RunCli(RepairArgs(nodes, 3, true));
  ASSERT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  json jd = LastJsonLine(dry.out);
  EXPECT_EQ(jd["corrupt_found"], 1) << dry.out;
  EXPECT_EQ(jd["corrupt_repairable"], 1) << dry.out;
  EXPECT_EQ(jd["corrupt_repaired"], 0) << dry.out;
  EXPECT_GE(jd["keys_divergent"].get<int>(), kDivergent) << dry.out;
  EXPECT_EQ(RunCli({"offline", "check", "--data-dir", nodes.data_dir(0)}).exit_code, 4)
      << "a dry run wrote";

  RunResult fix = RunCli(RepairArgs(nodes, 3, false));
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  json jf = LastJsonLine(fix.out);
  EXPECT_EQ(jf["corrupt_found"], 1) << fix.out;
  EXPECT_EQ(jf["corrupt_repaired"], 1) << fix.out;
  EXPECT_EQ(jf["unrepairable"], 0) << fix.out;
  EXPECT_GE(jf["keys_written"].get<int>(), kDivergent) << fix.out;
  EXPECT_EQ(CorruptKeys(jf, "repaired"), std::set<std::string>{"ck50"}) << fix.out;
  EXPECT_EQ(jf["corrupt"][0]["dir"], nodes.data_dir(0)) << fix.out;

  RunResult healthy = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  ASSERT_EQ(healthy.exit_code, 0) << healthy.out << healthy.err;
  EXPECT_EQ(LastJsonLine(healthy.out)["keys"], kKeys + kDivergent) << healthy.out;
  RunResult again = RunCli(RepairArgs(nodes, 3, true));
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  json ja = LastJsonLine(again.out);
  EXPECT_EQ(ja["keys_divergent"], 0) << again.out;
  EXPECT_EQ(ja["corrupt_found"], 0) << again.out;
  EXPECT_EQ(ja["keys_scanned"], kKeys + kDivergent) << again.out;

  // A node started on the repaired dir serves the key: every replica answers with the same
  // version of it, the repaired one included.
  for (size_t i = 0; i < 3; ++i) nodes.Start(i);
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(WaitMembersUp(nodes.address(i), 3)) << nodes.Logs();
  RunResult ex = RunCli({"explain", "ck50", "--json", "--endpoints", nodes.address(0)});
  ASSERT_EQ(ex.exit_code, 0) << ex.out << ex.err;
  json je = LastJsonLine(ex.out);
  ASSERT_EQ(je["replicas"].size(), 3u) << ex.out;
  std::set<std::string> hashes;
  for (const json& r : je["replicas"]) {
    EXPECT_EQ(r["state"], "value") << ex.out;
    EXPECT_EQ(r["value_bytes"], 200) << ex.out;
    hashes.insert(r.value("value_xxh64", ""));
  }
  EXPECT_EQ(hashes.size(), 1u) << ex.out;
  std::string first;
  EXPECT_EQ(CountMismatches(
                nodes.address(0), kKeys, [](uint64_t i) { return StrCat("ck", i); },
                [&](uint64_t i) { return values[i]; }, &first),
            0u)
      << first;
  for (size_t i = 0; i < 3; ++i) ASSERT_EQ(nodes.proc(i).Signal(SIGTERM), 0);
  // Nothing damaged is left for a compaction to trip on.
  RunResult compact = RunCli({"offline", "compact", "--data-dir", nodes.data_dir(0)});
  EXPECT_EQ(compact.exit_code, 0) << compact.out << compact.err;
  EXPECT_EQ(RunCli({"offline", "check", "--data-dir", nodes.data_dir(0)}).exit_code, 0);
}

// Goal: a key whose every copy is damaged is reported unrepairable in each dir (non-zero exit,
// the key named) and nothing is guessed: the dirs are left as they were.
TEST(OfflineRepairCorrupt, KeyDamagedInEveryCopyIsUnrepairable) {
  TempDir dir;
  Nodes nodes(dir, {103, 104, 105}, {"--rf", "3", "--sync", "always"});
  ASSERT_TRUE(nodes.StartAll()) << nodes.Logs();
  const std::vector<std::string> values = WriteAndStop(nodes, 3);
  for (size_t i = 0; i < 3; ++i) ASSERT_EQ(FlipInSsts(nodes.data_dir(i), values[70]), 1);
  RunResult r = RunCli(RepairArgs(nodes, 3, false));
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  json j = LastJsonLine(r.out);
  ASSERT_TRUE(j.is_object()) << r.out << r.err;
  EXPECT_EQ(j["corrupt_found"], 3) << r.out;
  EXPECT_EQ(j["unrepairable"], 3) << r.out;
  EXPECT_EQ(j["corrupt_repaired"], 0) << r.out;
  EXPECT_EQ(CorruptKeys(j, "unrepairable"), std::set<std::string>{"ck70"}) << r.out;
  EXPECT_NE(r.err.find("ck70"), std::string::npos) << r.err;
  for (size_t i = 0; i < 3; ++i) {
    RunResult c = RunCli({"offline", "check", "--data-dir", nodes.data_dir(i)});
    EXPECT_EQ(c.exit_code, 4) << nodes.name(i) << " was changed: " << c.out;
  }
}

// Goal: a flipped byte in a record's *key* (which no record checksum covers) is caught by the
// key's token, reported as a damaged key, and repaired: the rebuild leaves the garbled record out
// and the reconciliation writes the true key back from the other replicas.
TEST(OfflineRepairCorrupt, DamagedKeyBytesAreRepairedByReconciliation) {
  TempDir dir;
  Nodes nodes(dir, {109, 112, 113}, {"--rf", "3", "--sync", "always"});
  ASSERT_TRUE(nodes.StartAll()) << nodes.Logs();
  WriteAndStop(nodes, 1);
  int flipped = 0;
  for (const auto& e : std::filesystem::directory_iterator(nodes.data_dir(0))) {
    if (e.path().extension() != ".sst") continue;
    std::string bytes = ReadFile(e.path().string());
    const size_t at = bytes.find("ck50");
    if (at == std::string::npos || bytes.find("ck50", at + 1) != std::string::npos) continue;
    bytes[at + 3] = static_cast<char>(bytes[at + 3] ^ 0x40);  // "ck5p"
    WriteFile(e.path().string(), bytes);
    ++flipped;
  }
  ASSERT_EQ(flipped, 1);
  RunResult c = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  EXPECT_EQ(c.exit_code, 4) << c.out << c.err;
  bool reported = false;
  for (const json& d : LastJsonLine(c.out).value("corrupt", json::array())) {
    reported = reported || (d.value("key_damaged", false) && d.value("key", "") == "ck5p");
  }
  EXPECT_TRUE(reported) << c.out;

  RunResult fix = RunCli(RepairArgs(nodes, 3, false));
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  const json jf = LastJsonLine(fix.out);
  EXPECT_EQ(jf["corrupt_found"], 1) << fix.out;
  EXPECT_EQ(jf["corrupt_repaired"], 1) << fix.out;
  EXPECT_EQ(jf["keys_written"], 1) << "ck50 was not written back: " << fix.out;
  RunResult healthy = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  ASSERT_EQ(healthy.exit_code, 0) << healthy.out << healthy.err;
  EXPECT_EQ(LastJsonLine(healthy.out)["keys"], kKeys) << healthy.out;
  RunResult again = RunCli(RepairArgs(nodes, 3, true));
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(LastJsonLine(again.out)["keys_divergent"], 0) << again.out;
}

// Goal: a block that cannot be parsed at all (its compression type byte damaged: its keys are
// unknown) is reported by file; `repair` rebuilds the dir without the token span it covered and
// the reconciliation restores those keys from the other replicas.
TEST(OfflineRepairCorrupt, UnreadableBlockIsDroppedAndRestored) {
  TempDir dir;
  Nodes nodes(dir, {114, 115, 116}, {"--rf", "3", "--sync", "always"});
  ASSERT_TRUE(nodes.StartAll()) << nodes.Logs();
  const std::vector<std::string> values = WriteAndStop(nodes, 1);
  ASSERT_EQ(FlipInSsts(nodes.data_dir(0), values[50]), 1);
  // The check names the damaged block: "... in <dir>/NNNNNN.sst offset X size Y".
  RunResult c1 = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  std::string file;
  uint64_t offset = 0, size = 0;
  for (const json& d : LastJsonLine(c1.out).value("corrupt", json::array())) {
    const std::string reason = d.value("reason", "");
    const size_t in = reason.find(" in /"), off = reason.find(" offset "),
                 sz = reason.find(" size ");
    if (in == std::string::npos || off == std::string::npos || sz == std::string::npos) continue;
    file = reason.substr(in + 4, off - in - 4);
    offset = std::stoull(reason.substr(off + 8));
    size = std::stoull(reason.substr(sz + 6));
  }
  ASSERT_FALSE(file.empty()) << c1.out;
  std::string bytes = ReadFile(file);
  ASSERT_LT(offset + size, bytes.size());
  // The block trailer's compression type: a raw block (0) relabelled LZ4 (4) fails to
  // decompress. (An unknown type would trip an assertion in Debian's RocksDB build.)
  ASSERT_EQ(bytes[offset + size], 0) << "the block is compressed";
  bytes[offset + size] = 4;
  WriteFile(file, bytes);
  RunResult c2 = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  EXPECT_EQ(c2.exit_code, 4) << c2.out << c2.err;
  EXPECT_NE(c2.out.find("unreadable"), std::string::npos) << c2.out;

  RunResult fix = RunCli(RepairArgs(nodes, 3, false));
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  const json jf = LastJsonLine(fix.out);
  EXPECT_GE(jf["corrupt_found"].get<int>(), 1) << fix.out;
  EXPECT_EQ(jf["corrupt_repaired"], jf["corrupt_found"]) << fix.out;
  EXPECT_GE(jf["keys_written"].get<int>(), 1) << "the block's keys were not restored: " << fix.out;
  RunResult healthy = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  ASSERT_EQ(healthy.exit_code, 0) << healthy.out << healthy.err;
  EXPECT_EQ(LastJsonLine(healthy.out)["keys"], kKeys) << healthy.out;
  RunResult again = RunCli(RepairArgs(nodes, 3, true));
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(LastJsonLine(again.out)["keys_divergent"], 0) << again.out;
}

// Goal: a damaged WAL record is reported by `check` with its WAL file and the keys of the whole
// records around it, and `repair` rebuilds the dir without it, the reconciliation restoring the
// writes it lost from the other replicas: the dir then checks healthy and matches them.
TEST(OfflineRepairCorrupt, DamagedWalRecordIsNamedAndRepaired) {
  TempDir dir;
  Nodes nodes(dir, {106, 107, 108}, {"--rf", "3", "--sync", "always"});
  ASSERT_TRUE(nodes.StartAll()) << nodes.Logs();
  std::mt19937 rng(13);
  std::vector<std::string> values;
  for (int i = 0; i < kKeys; ++i) {
    values.push_back(RandomValue(&rng, 200));
    RunResult put = RunCli(
        {"put", StrCat("wk", i), values.back(), "--w", "all", "--endpoints", nodes.endpoints()});
    ASSERT_EQ(put.exit_code, 0) << put.err;
  }
  ASSERT_EQ(nodes.proc(0).Signal(SIGKILL), 128 + SIGKILL);  // its writes stay in its WAL
  for (size_t i = 1; i < 3; ++i) ASSERT_EQ(nodes.proc(i).Signal(SIGTERM), 0);
  int flipped = 0;
  for (const auto& e : std::filesystem::directory_iterator(nodes.data_dir(0))) {
    if (e.path().extension() != ".log") continue;
    std::string bytes = ReadFile(e.path().string());
    const size_t at = bytes.find(values[60].substr(0, 40));
    if (at == std::string::npos) continue;
    bytes[at + 20] = static_cast<char>(bytes[at + 20] ^ 0x01);
    WriteFile(e.path().string(), bytes);
    ++flipped;
  }
  ASSERT_EQ(flipped, 1) << "the value was not found in one WAL file";
  RunResult c = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  EXPECT_EQ(c.exit_code, 4) << c.out << c.err;
  const json jc = LastJsonLine(c.out);
  ASSERT_TRUE(jc.is_object()) << c.out << c.err;
  bool named = false;
  for (const json& d : jc["corrupt"]) {
    if (d["where"].get<std::string>().rfind("WAL ", 0) != 0 || !d.contains("nearby_keys")) continue;
    // The whole record before the damaged one (wk60's) is wk59's; the skip drops the rest of the
    // 32 KiB log block, so the first whole one after may be any later key's.
    for (const json& k : d["nearby_keys"]) named = named || k == "'wk59'";
  }
  EXPECT_TRUE(named) << "the WAL damage is not named by the records around it: " << c.out;

  RunResult fix = RunCli(RepairArgs(nodes, 3, false));
  ASSERT_EQ(fix.exit_code, 0) << fix.out << fix.err;
  const json jf = LastJsonLine(fix.out);
  EXPECT_GE(jf["corrupt_found"].get<int>(), 1) << fix.out;
  EXPECT_EQ(jf["corrupt_repaired"], jf["corrupt_found"]) << fix.out;
  EXPECT_GE(jf["keys_written"].get<int>(), 1) << "the lost writes were not restored: " << fix.out;
  RunResult healthy = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  ASSERT_EQ(healthy.exit_code, 0) << healthy.out << healthy.err;
  EXPECT_EQ(LastJsonLine(healthy.out)["keys"], kKeys) << healthy.out;
  RunResult again = RunCli(RepairArgs(nodes, 3, true));
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(LastJsonLine(again.out)["keys_divergent"], 0) << again.out;
}

// Goal: the hints a dead coordinator kept for a down replica are salvaged into the live cluster:
// exported from its dir, imported through the live node, which then serves them alone.
TEST(OfflineHints, ExportedHintsReachTheirTargetThroughImport) {
  TempDir dir;
  Nodes nodes(dir, {110, 111}, {"--rf", "2", "--sync", "always"});
  ASSERT_TRUE(nodes.StartAll()) << nodes.Logs();
  ASSERT_EQ(nodes.proc(1).Signal(SIGKILL), 128 + SIGKILL);
  constexpr int kHints = 40;
  for (int i = 0; i < kHints; ++i) {
    RunResult put = RunCli(
        {"put", StrCat("hk", i), StrCat("hv", i), "--w", "1", "--endpoints", nodes.address(0)});
    ASSERT_EQ(put.exit_code, 0) << put.err;
  }
  ASSERT_EQ(nodes.proc(0).Signal(SIGTERM), 0);  // the coordinator dies with its hints
  RunResult check = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(0)});
  ASSERT_EQ(check.exit_code, 0) << check.out << check.err;
  uint64_t held = 0;
  const json jc = LastJsonLine(check.out);
  for (const json& h : jc["hints"]) held += h["hints"].get<uint64_t>();
  ASSERT_EQ(held, static_cast<uint64_t>(kHints)) << check.out;
  const std::string file = dir.path() + "/hints.jsonl";
  RunResult ex =
      RunCli({"offline", "hints", "export", "--data-dir", nodes.data_dir(0), "--out", file});
  ASSERT_EQ(ex.exit_code, 0) << ex.out << ex.err;
  EXPECT_NE(ex.out.find(StrCat("exported ", kHints, " hints")), std::string::npos) << ex.out;

  nodes.Start(1);
  ASSERT_TRUE(WaitServing(nodes.address(1))) << nodes.Logs();
  // What o111 itself holds of a key (`explain` asks every replica, even one catching up, as o111
  // is for up to 30 s with its only peer down).
  auto held_by_target = [&](int i) {
    RunResult ex = RunCli({"explain", StrCat("hk", i), "--json", "--endpoints", nodes.address(1)});
    EXPECT_EQ(ex.exit_code, 0) << ex.out << ex.err;
    const json j = LastJsonLine(ex.out);
    for (const json& r : j["replicas"]) {
      if (r["node"] == "o111") {
        return r["state"] == "value" ? r["value_bytes"].get<int>() : -1;
      }
    }
    return -2;
  };
  EXPECT_EQ(held_by_target(0), -1) << "the target held the write before the import";
  RunResult im = RunCli({"offline", "hints", "import", "--in", file, "--rf", "2", "--endpoints",
                         nodes.address(1), "--work-dir", dir.path()});
  // o110 is down: its share is reported as left to anti-entropy (exit 3); o111 ingests.
  EXPECT_EQ(im.exit_code, 3) << im.out << im.err;
  EXPECT_NE(im.out.find(StrCat("replica o111: ", kHints, " versions ingested")), std::string::npos)
      << im.out << im.err;
  for (int i = 0; i < kHints; ++i) {
    EXPECT_EQ(held_by_target(i), static_cast<int>(StrCat("hv", i).size())) << "hk" << i;
  }
  ASSERT_EQ(nodes.proc(1).Signal(SIGTERM), 0);
  RunResult after = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(1)});
  ASSERT_EQ(after.exit_code, 0) << after.out << after.err;
  EXPECT_EQ(LastJsonLine(after.out)["keys"], kHints) << after.out;
}

}  // namespace
}  // namespace causeway::tools::testing
