// `causeway repair` and the repair side of `causeway status`, driven as an operator drives them:
// real 3-node clusters (rf=3) of `causeway serve`, one 127.0.0.x address per test (186..189,
// 155..159), real exit codes, stdout and stderr.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/limits.h"
#include "base/strings.h"
#include "tests/tools/harness.h"
#include "tools/internal/process.h"

namespace causeway::tools::testing {
namespace {

using nlohmann::json;

// The last line of `out` (the JSON object of `--json`), parsed; null when it is not JSON.
json LastJsonLine(const std::string& out) {
  std::string line, last;
  std::istringstream in(out);
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return json::parse(last, nullptr, /*allow_exceptions=*/false);
}

// True when every replica `explain` lists holds a value of one version (HLC, writer and bytes).
bool ReplicasAgree(const std::string& endpoint, const std::string& key, std::string* why) {
  RunResult r = RunCli({"explain", key, "--json", "--endpoints", endpoint});
  *why = r.out + r.err;
  if (r.exit_code != 0) return false;
  json out = json::parse(r.out, nullptr, false);
  if (!out.is_object() || out["replicas"].size() != 3) return false;
  const json& first = out["replicas"][0];
  for (const json& replica : out["replicas"]) {
    if (replica.value("state", "") != "value" || replica["timestamp"] != first["timestamp"] ||
        replica["writer"] != first["writer"] || replica["value_xxh64"] != first["value_xxh64"]) {
      return false;
    }
  }
  return true;
}

void PutAll(const ServeCluster& cluster, const std::string& prefix, int keys, const char* w,
            const std::string& endpoint) {
  for (int i = 0; i < keys; ++i) {
    RunResult put = RunCli(
        {"put", StrCat(prefix, i), StrCat("value-", prefix, i), "--w", w, "--endpoints", endpoint});
    ASSERT_EQ(put.exit_code, 0) << prefix << i << ": " << put.err << cluster.Logs();
  }
}

// Goal: on a cluster whose replicas agree, `repair --json` (every member, all ranges) exits 0 and
// its last line reports 100%, every node ok, exchanges made and no key that differed; the
// anti-entropy counters of `status --json` show the exchanges.
TEST(CliRepair, AgreeingReplicasRepairToHundredPercentWithNothingDiffering) {
  ServeCluster cluster({186, 186, 186}, {"--rf", "3"});
  ASSERT_TRUE(cluster.Start()) << cluster.Logs();
  PutAll(cluster, "agree-", 40, "all", cluster.address(0));
  RunResult repair =
      RunCli({"repair", "--json", "--endpoints", cluster.address(1)}, {}, "", 150000);
  ASSERT_EQ(repair.exit_code, 0) << repair.out << repair.err << cluster.Logs();
  json summary = LastJsonLine(repair.out);
  ASSERT_TRUE(summary.is_object()) << repair.out;
  EXPECT_EQ(summary["ok"], true);
  EXPECT_EQ(summary["percent"], 100.0);
  EXPECT_EQ(summary["nodes"].size(), 3u);
  EXPECT_EQ(summary["nodes_failed"], 0);
  EXPECT_GT(summary["exchanges"].get<uint64_t>(), 0u) << summary.dump();
  EXPECT_EQ(summary["exchanges_failed"], 0);
  EXPECT_EQ(summary["keys_differed"], 0) << summary.dump();
  EXPECT_EQ(summary["keys_written"], 0) << summary.dump();
  for (const json& node : summary["nodes"]) EXPECT_EQ(node["ok"], true) << node.dump();
  std::cout << "agreeing cluster: " << summary.dump() << "\n";

  RunResult status = RunCli({"status", "--json", "--endpoints", cluster.endpoints()});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  uint64_t exchanges = 0;
  const json parsed = json::parse(status.out);
  for (const json& n : parsed["nodes"]) {
    ASSERT_TRUE(n.contains("hints") && n.contains("anti_entropy")) << n.dump();
    for (const char* field :
         {"hinted_writes", "stored", "over_budget", "replayed", "replay_failures", "dropped"}) {
      EXPECT_TRUE(n["hints"][field].is_number_unsigned()) << field << " " << n.dump();
    }
    for (const char* field : {"exchanges", "exchange_failures", "keys_differed", "keys_pushed",
                              "keys_pulled", "bytes", "protocol_bytes"}) {
      EXPECT_TRUE(n["anti_entropy"][field].is_number_unsigned()) << field << " " << n.dump();
    }
    exchanges += n["anti_entropy"]["exchanges"].get<uint64_t>();
  }
  EXPECT_GT(exchanges, 0u) << status.out;
  RunResult table = RunCli({"status", "--endpoints", cluster.address(0)});
  EXPECT_NE(table.out.find("HINTED HANDOFF"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("ANTI-ENTROPY"), std::string::npos) << table.out;
}

// The state `status --json` of `endpoint` gives the member named `name` ("" when not listed).
std::string MemberState(const std::string& endpoint, const std::string& name) {
  RunResult r = RunCli({"status", "--json", "--timeout-ms", "1000", "--endpoints", endpoint});
  json status = json::parse(r.out, nullptr, false);
  if (!status.is_object()) return "";
  for (const json& n : status["nodes"]) {
    if (n.value("name", "") == name) return n.value("state", "");
  }
  return "";
}

uint64_t HintsOverBudget(const std::string& endpoint) {
  RunResult r = RunCli({"status", "--json", "--endpoints", endpoint});
  json status = json::parse(r.out, nullptr, false);
  if (!status.is_object()) return 0;
  for (const json& n : status["nodes"]) {
    if (n.value("address", "") == endpoint && n.contains("hints")) {
      return n["hints"]["over_budget"].get<uint64_t>();
    }
  }
  return 0;
}

// Goal: keys a paused replica missed beyond what hints can hold are found and written by
// `repair`, and then every replica holds the same version of every key (explain). n3 is paused
// (SIGSTOP) until n1 counts it down, 72 values of 1 MiB are written at W=2 (n1 keeps the hints
// for n3 and refuses those over its 64 MiB budget), n3 resumes; the scheduled exchanges are an
// hour apart, so only the repair (once the keys are older than kAaeRecentMs) can copy the
// refused ones: it reports them differed and written,
// and a second repair finds nothing.
TEST(CliRepair, KeysBeyondTheHintBudgetAreRepaired) {
  ServeCluster cluster({187, 187, 187}, {"--rf", "3", "--aae-interval-ms", "3600000",
                                         "--phi-convict", "3", "--aae-mb-per-s", "64"});
  ASSERT_TRUE(cluster.Start()) << cluster.Logs();
  ASSERT_EQ(::kill(cluster.node(2).pid(), SIGSTOP), 0);
  struct Continue {  // whatever the test's outcome, before the nodes are killed
    pid_t pid;
    ~Continue() { ::kill(pid, SIGCONT); }
  } resume{cluster.node(2).pid()};
  ASSERT_TRUE(
      WaitUntil([&] { return MemberState(cluster.address(0), "n3") == "down"; }, 30000, 200))
      << cluster.Logs();
  const std::string big = cluster.dir().Sub("big");
  WriteFile(big, std::string(kValueBytesMax, 'v'));
  constexpr int kKeys = 72;  // 72 MiB of hints for n3: more than its budget
  for (int i = 0; i < kKeys; ++i) {
    RunResult put = RunCli({"put", StrCat("big-", i), "--value-file", big, "--w", "2",
                            "--endpoints", cluster.address(0)});
    ASSERT_EQ(put.exit_code, 0) << i << ": " << put.err << cluster.Logs();
  }
  const uint64_t over_budget = HintsOverBudget(cluster.address(0));
  ASSERT_GT(over_budget, 0u) << "the test needs hints refused over the budget";
  ASSERT_EQ(::kill(cluster.node(2).pid(), SIGCONT), 0);
  ASSERT_TRUE(WaitMembersUp(cluster.address(0), 3)) << cluster.Logs();
  // Exchanges leave keys younger than kAaeRecentMs to their in-flight writes.
  std::this_thread::sleep_for(std::chrono::milliseconds(kAaeRecentMs + 500));

  RunResult repair =
      RunCli({"repair", "--json", "--endpoints", cluster.address(0)}, {}, "", 150000);
  ASSERT_EQ(repair.exit_code, 0) << repair.out << repair.err << cluster.Logs();
  json summary = LastJsonLine(repair.out);
  EXPECT_EQ(summary["ok"], true) << repair.out;
  EXPECT_EQ(summary["percent"], 100.0) << repair.out;
  EXPECT_GE(summary["keys_differed"].get<uint64_t>(), over_budget) << summary.dump();
  EXPECT_GE(summary["keys_written"].get<uint64_t>(), over_budget) << summary.dump();
  EXPECT_GE(summary["bytes"].get<uint64_t>(), over_budget * kValueBytesMax) << summary.dump();
  EXPECT_LE(summary["keys_differed"].get<uint64_t>(), summary["keys_compared"].get<uint64_t>());
  std::cout << "hints over budget " << over_budget << "; repair: " << summary.dump() << "\n";
  for (int i = 0; i < kKeys; ++i) {
    std::string why;
    EXPECT_TRUE(ReplicasAgree(cluster.address(1), StrCat("big-", i), &why))
        << "big-" << i << ": " << why;
  }
  RunResult again = RunCli({"repair", "--json", "--endpoints", cluster.address(1)}, {}, "", 150000);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(LastJsonLine(again.out)["keys_differed"], 0) << again.out;
}

// Goal: a repair that cannot reach a node says which and why and exits non-zero: no endpoint
// answering (exit 3, with a hint); a member killed, asked by --node (exit 3, naming it); every
// member with one of them killed (non-zero, the JSON names the failed node, `ok` false).
TEST(CliRepair, UnreachableNodeIsNamedAndExitsNonZero) {
  std::string nowhere = FreeAddress(155);  // nothing listens there
  RunResult none = RunCli({"repair", "--endpoints", nowhere, "--timeout-ms", "2000"});
  EXPECT_EQ(none.exit_code, 3) << none.err;
  EXPECT_NE(none.err.find("error:"), std::string::npos) << none.err;
  EXPECT_NE(none.err.find("hint:"), std::string::npos) << none.err;
  EXPECT_NE(none.err.find(nowhere), std::string::npos) << none.err;

  ServeCluster cluster({188, 188, 188}, {"--rf", "3"});
  ASSERT_TRUE(cluster.Start()) << cluster.Logs();
  PutAll(cluster, "k", 5, "all", cluster.address(0));
  ASSERT_EQ(cluster.node(2).Signal(SIGKILL), 128 + SIGKILL);
  RunResult one = RunCli({"repair", "--node", "n3", "--endpoints", cluster.address(0)});
  EXPECT_EQ(one.exit_code, 3) << one.out << one.err;
  EXPECT_NE(one.err.find("n3"), std::string::npos) << one.err;
  EXPECT_NE(one.err.find("error:"), std::string::npos) << one.err;

  RunResult all = RunCli({"repair", "--json", "--timeout-s", "120", "--endpoints",
                          cluster.address(0) + "," + cluster.address(1)},
                         {}, "", 150000);
  EXPECT_NE(all.exit_code, 0) << all.out << all.err;
  json summary = LastJsonLine(all.out);
  ASSERT_TRUE(summary.is_object()) << all.out << all.err;
  EXPECT_EQ(summary["ok"], false);
  EXPECT_GE(summary["nodes_failed"].get<int>(), 1);
  bool named = false;
  for (const json& node : summary["nodes"]) {
    if (node["name"] == "n3") named = node["ok"] == false && node.contains("error");
  }
  EXPECT_TRUE(named) << summary.dump();
  EXPECT_NE(all.err.find("n3"), std::string::npos) << all.err;
}

// Goal: not on a terminal, progress is plain lines ("repair  NN.N% ...") ending at 100.0%, then
// the summary; on a terminal it is one line redrawn in place ("\r" and erase-line) that ends at
// 100.0%. --range (plain, and one that wraps past the top of the ring) repairs too.
TEST(CliRepair, ProgressIsPlainLinesOffTerminalAndOneRedrawnLineOnIt) {
  ServeCluster cluster({189, 189, 189}, {"--rf", "3"});
  ASSERT_TRUE(cluster.Start()) << cluster.Logs();
  PutAll(cluster, "p", 10, "all", cluster.address(0));

  RunResult plain = RunCli({"repair", "--endpoints", cluster.address(0)}, {}, "", 150000);
  ASSERT_EQ(plain.exit_code, 0) << plain.out << plain.err;
  EXPECT_EQ(plain.out.find('\r'), std::string::npos) << plain.out;
  std::vector<std::string> progress;
  std::string line;
  std::istringstream in(plain.out);
  bool summary = false;
  while (std::getline(in, line)) {
    const bool heading = line.rfind("repair of ", 0) == 0 || line.rfind("repair done:", 0) == 0;
    if (line.rfind("repair ", 0) == 0 && !heading) {
      EXPECT_FALSE(summary) << "progress after the summary: " << plain.out;
      progress.push_back(line);
    }
    summary = summary || line.rfind("repair done:", 0) == 0;
  }
  ASSERT_FALSE(progress.empty()) << plain.out;
  EXPECT_NE(progress.back().find("100.0%"), std::string::npos) << plain.out;
  EXPECT_TRUE(summary) << plain.out;
  for (const char* field : {"exchanges", "keys compared", "keys differed", "keys written"}) {
    EXPECT_NE(plain.out.find(field), std::string::npos) << field << "\n" << plain.out;
  }

  RunResult tty = RunCliOnTerminal({"repair", "--node", "n2", "--endpoints", cluster.address(0)});
  ASSERT_EQ(tty.exit_code, 0) << tty.out;
  EXPECT_NE(tty.out.find("\r\x1b[K"), std::string::npos) << tty.out;
  size_t done = tty.out.find("repair done:");
  ASSERT_NE(done, std::string::npos) << tty.out;
  size_t last_redraw = tty.out.rfind("\r\x1b[K", done);
  ASSERT_NE(last_redraw, std::string::npos) << tty.out;
  EXPECT_NE(tty.out.substr(last_redraw, done - last_redraw).find("100.0%"), std::string::npos)
      << tty.out;

  for (const char* range : {"0..0x7fffffffffffffff", "0xff00000000000000..255"}) {
    RunResult r = RunCli({"repair", "--json", "--range", range, "--endpoints", cluster.address(2)},
                         {}, "", 150000);
    EXPECT_EQ(r.exit_code, 0) << range << ": " << r.out << r.err;
    EXPECT_EQ(LastJsonLine(r.out)["percent"], 100.0) << range << ": " << r.out;
  }
}

}  // namespace
}  // namespace causeway::tools::testing
