// `causeway import` into real `causeway serve` nodes on 127.0.4.21..40 (docs/operations.md,
// "Bulk import").
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "tests/tools/offline_support.h"

namespace causeway::tools::testing {
namespace {

using nlohmann::json;

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string WriteRows(const TempDir& dir, const std::string& name, uint64_t n) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream out(path);
  out << "key,value\n";
  for (uint64_t i = 0; i < n; ++i) out << "r" << i << ",value-" << i << "\n";
  return path;
}

// Goal: 100k rows into 3 nodes rf=3 are readable at R=1 through every node; a write made after
// the rows' --as-of time survives the import, and a delete made after it stays deleted.
TEST(Import, HundredThousandRowsKeepNewerWritesAndDeletes) {
  TempDir dir;
  Nodes nodes(dir, {21, 22, 23}, {"--rf", "3"});
  ASSERT_TRUE(nodes.StartAll()) << nodes.Logs();
  constexpr uint64_t kRows = 100000;
  const std::string file = WriteRows(dir, "rows.csv", kRows);
  const uint64_t as_of = NowMs();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(RunCli({"put", "r7", "newer", "--w", "all", "--endpoints", nodes.address(0)}).exit_code,
            0);
  ASSERT_EQ(RunCli({"put", "r8", "x", "--w", "all", "--endpoints", nodes.address(0)}).exit_code, 0);
  ASSERT_EQ(RunCli({"del", "r8", "--w", "all", "--endpoints", nodes.address(0)}).exit_code, 0);
  RunResult imp = RunCli({"import", file, "--format", "csv", "--as-of", std::to_string(as_of),
                          "--json", "--endpoints", nodes.address(1)});
  ASSERT_EQ(imp.exit_code, 0) << imp.out << imp.err << nodes.Logs();
  json j = LastJsonLine(imp.out);
  EXPECT_EQ(j["rows"], kRows) << imp.out;
  EXPECT_EQ(j["bad_rows"], 0);
  EXPECT_TRUE(j["missed"].empty()) << imp.out;
  // Through every node at R=1, a sample: every 4th key through one node, every 16th through the
  // others (300k single reads would not fit the test's time on two shared cores); every dir's
  // exact key count is checked below, offline.
  for (size_t n = 0; n < 3; ++n) {
    std::string first;
    const uint64_t bad = CountMismatches(
        nodes.address(n), kRows, [](uint64_t i) { return StrCat("r", i); },
        [](uint64_t i) { return i == 7 ? std::string("newer") : StrCat("value-", i); }, &first,
        n == 2 ? 4 : 16);
    // r8 was deleted after the as-of time: it must read as absent, the one mismatch allowed.
    EXPECT_EQ(bad, n == 2 ? 1u : 0u) << nodes.name(n) << ": first mismatch " << first;
    if (n == 2) {
      EXPECT_EQ(first.substr(0, 2), "r8") << first;
    }
  }
  RunResult r8 = RunCli({"get", "r8", "--r", "all", "--endpoints", nodes.address(2)});
  EXPECT_EQ(r8.exit_code, 1) << r8.out << r8.err;
  // A second run of the same import changes nothing.
  RunResult again =
      RunCli({"import", file, "--as-of", std::to_string(as_of), "--json", "--state-file",
              dir.path() + "/again.state", "--endpoints", nodes.address(0)});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  RunResult r7 = RunCli({"get", "r7", "--r", "all", "--endpoints", nodes.address(2)});
  EXPECT_EQ(r7.out, "newer");
  // Each replica holds every row: kRows keys, r8 among them as its tombstone.
  for (size_t n = 0; n < 3; ++n) ASSERT_EQ(nodes.proc(n).Signal(SIGTERM), 0);
  for (size_t n = 0; n < 3; ++n) {
    RunResult c = RunCli({"offline", "check", "--json", "--data-dir", nodes.data_dir(n)});
    ASSERT_EQ(c.exit_code, 0) << c.out << c.err;
    json jc = LastJsonLine(c.out);
    EXPECT_EQ(jc["keys"].get<uint64_t>(), kRows) << nodes.name(n) << c.out;
    EXPECT_GE(jc["tombstones"].get<uint64_t>(), 1u);
  }
}

// Goal: bad rows are reported with their line numbers (header = line 1); the good rows load;
// more bad rows than --max-errors stop the import (exit 4).
TEST(Import, BadRowsAreReportedWithLineNumbers) {
  TempDir dir;
  Nodes nodes(dir, {24}, {"--rf", "1"});
  ASSERT_TRUE(nodes.StartAll()) << nodes.Logs();
  const std::string file = dir.path() + "/bad.csv";
  WriteFile(file,
            "key,value\n"
            "a,1\n"
            "no separator here\n"
            "b,\"quoted, with comma\"\n"
            "c,\"never closed\n"
            "d,4\n");
  RunResult r = RunCli({"import", file, "--rf", "1", "--endpoints", nodes.address(0)});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("line 3: no separator"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 5:"), std::string::npos) << r.err;
  EXPECT_EQ(RunCli({"get", "b", "--endpoints", nodes.address(0)}).out, "quoted, with comma");
  EXPECT_EQ(RunCli({"get", "a", "--endpoints", nodes.address(0)}).out, "1");
  RunResult strict = RunCli({"import", file, "--rf", "1", "--max-errors", "1", "--state-file",
                             dir.path() + "/strict.state", "--endpoints", nodes.address(0)});
  EXPECT_EQ(strict.exit_code, 4) << strict.out << strict.err;
  EXPECT_NE(strict.err.find("max-errors"), std::string::npos) << strict.err;
}

// Goal: an importer killed with SIGKILL mid-run, run again with --resume, finishes: every row
// reads back with its value (no loss), the state counts each row once (no duplicates), and a
// third --resume has nothing to do.
TEST(Import, ResumeAfterKillFinishesWithoutLossOrDuplicates) {
  TempDir dir;
  Nodes nodes(dir, {25, 26, 27}, {"--rf", "3"});
  ASSERT_TRUE(nodes.StartAll()) << nodes.Logs();
  constexpr uint64_t kRows = 60000;
  const std::string file = WriteRows(dir, "resume.csv", kRows);
  const std::vector<std::string> args = {"import", file,          "--batch-bytes", "20000",
                                         "--json", "--endpoints", nodes.address(0)};
  RunResult killed = RunCli(args, {}, "", 1500);  // SIGKILLed after 1.5 s
  ASSERT_EQ(killed.exit_code, -1) << "the import finished before it could be killed: "
                                  << killed.out;
  json partial = json::parse(ReadFile(file + ".import-state"), nullptr, false);
  ASSERT_TRUE(partial.is_object());
  EXPECT_FALSE(partial["done"].get<bool>());
  EXPECT_LT(partial["rows"].get<uint64_t>(), kRows);
  std::vector<std::string> resume = args;
  resume.push_back("--resume");
  RunResult done = RunCli(resume);
  ASSERT_EQ(done.exit_code, 0) << done.out << done.err;
  json j = LastJsonLine(done.out);
  EXPECT_EQ(j["rows"], kRows) << done.out;
  EXPECT_TRUE(j["done"].get<bool>());
  std::string first;
  EXPECT_EQ(CountMismatches(
                nodes.address(2), kRows, [](uint64_t i) { return StrCat("r", i); },
                [](uint64_t i) { return StrCat("value-", i); }, &first),
            0u)
      << first;
  RunResult third = RunCli(resume);
  EXPECT_EQ(third.exit_code, 0);
  EXPECT_NE(third.out.find("already complete"), std::string::npos) << third.out;
}

}  // namespace
}  // namespace causeway::tools::testing
