// The `causeway` binary driven as users and scripts drive it: real `causeway serve` processes on
// 127.0.0.x (a distinct address per test), real exit codes, stdout and stderr.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "base/limits.h"
#include "base/strings.h"
#include "rpc/client.h"
#include "tests/tools/harness.h"
#include "tools/internal/process.h"

namespace causeway::tools::testing {
namespace {

using nlohmann::json;

// One node with its folder; stopped (SIGKILL) and removed at the end of the test.
struct OneNode {
  explicit OneNode(int host, std::vector<std::string> extra = {}) : address(FreeAddress(host)) {
    flags = {"--node-id",          "n1",   "--listen", address, "--data-dir",
             dir.path() + "/data", "--rf", "1"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    Start();
  }
  void Start() {
    process.Start(flags, dir.path() + "/log");
    EXPECT_TRUE(WaitServing(address)) << ReadFile(dir.path() + "/log");
  }
  RunResult Cli(std::vector<std::string> args, const std::string& in = "") {
    args.push_back("--endpoints");
    args.push_back(address);
    return RunCli(args, {}, in);
  }
  TempDir dir;
  std::string address;
  std::vector<std::string> flags;
  ServeProcess process;
};

// Goal: usage errors exit 2 with an "error:" line, without needing any node.
TEST(CliExitCodes, UsageErrorsExitTwo) {
  TempDir dir;
  std::string toobig = dir.path() + "/toobig";
  WriteFile(toobig, std::string(kValueBytesMax + 1, 'x'));
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"nosuchcommand"},
      {"get"},
      {"put", "k"},
      {"put", "k", "v", "--value-file", toobig},
      {"get", "k", "--r", "bogus"},
      {"put", "k", "v", "--w", "9"},
      {"put", "", "x"},
      {"put", "k", "--value-file", toobig},
      {"get", "k", "--endpoints", "nocolon"},
      {"get", "k", "--attempt-timeout-ms", "0"},
      {"serve"},
      {"serve", "--node-id", "n1", "--listen", "127.0.0.1:1", "--data-dir", dir.path(), "--rf",
       "0"},
      {"local", "up", "--dir", dir.path(), "--nodes", "2", "--rf", "3"},
  };
  for (const auto& args : cases) {
    RunResult r = RunCli(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << "\n" << r.err;
    EXPECT_FALSE(r.err.empty()) << joined;
  }
}

// Goal: a node that is not there is "unavailable" (exit 3), and the message says what to do.
TEST(CliExitCodes, UnreachableNodeExitsThree) {
  std::string address = FreeAddress(160);  // nothing listens there
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"get", "k"}, {"put", "k", "v"}, {"del", "k"}, {"status"}}) {
    std::vector<std::string> full = args;
    full.insert(full.end(), {"--endpoints", address, "--timeout-ms", "2000"});
    RunResult r = RunCli(full);
    EXPECT_EQ(r.exit_code, 3) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("error:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("hint:"), std::string::npos) << r.err;
  }
}

// Goal: put/get/del and their --json output follow the documented contract: the raw bytes (no
// newline when stdout is not a terminal), JSON fields key/found/value/timestamp/writer/tombstone,
// base64 for non-UTF-8, exit 1 for a missing or deleted key.
TEST(CliContract, PutGetDelJson) {
  OneNode node(161);
  RunResult put = node.Cli({"put", "k1", "hello world", "--json"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  json written = json::parse(put.out);
  EXPECT_EQ(written["key"], "k1");
  ASSERT_TRUE(written["timestamp"].is_number_unsigned());

  RunResult get = node.Cli({"get", "k1"});
  EXPECT_EQ(get.exit_code, 0);
  EXPECT_EQ(get.out, "hello world");
  json read = json::parse(node.Cli({"get", "k1", "--json"}).out);
  EXPECT_EQ(read["found"], true);
  EXPECT_EQ(read["value"], "hello world");
  EXPECT_EQ(read["timestamp"], written["timestamp"]);
  EXPECT_EQ(read["tombstone"], false);
  EXPECT_TRUE(read.contains("writer"));

  std::string binary("\xff\x00\x01\n", 4);
  WriteFile(node.dir.path() + "/bin", binary);
  ASSERT_EQ(node.Cli({"put", "b", "--value-file", node.dir.path() + "/bin"}).exit_code, 0);
  EXPECT_EQ(node.Cli({"get", "b"}).out, binary);
  json b = json::parse(node.Cli({"get", "b", "--json"}).out);
  EXPECT_EQ(b["value_base64"], "/wABCg==");
  EXPECT_FALSE(b.contains("value"));
  ASSERT_EQ(node.Cli({"put", "stdin", "--value-file", "-"}, "from stdin").exit_code, 0);
  EXPECT_EQ(node.Cli({"get", "stdin"}).out, "from stdin");

  RunResult del = node.Cli({"del", "k1", "--json"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_GT(json::parse(del.out)["timestamp"].get<uint64_t>(),
            written["timestamp"].get<uint64_t>());
  RunResult gone = node.Cli({"get", "k1", "--json"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_EQ(json::parse(gone.out)["found"], false);
  EXPECT_EQ(node.Cli({"get", "never"}).exit_code, 1);
}

// Goal: 1 MiB values round-trip through the CLI byte for byte.
TEST(CliContract, OneMebibyteValue) {
  OneNode node(162);
  std::string big(kValueBytesMax, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  WriteFile(node.dir.path() + "/big", big);
  RunResult put = node.Cli({"put", "big", "--value-file", node.dir.path() + "/big"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  RunResult get = node.Cli({"get", "big"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_TRUE(get.out == big);
}

// Goal: `get` to a pipe returns a binary value byte for byte: NUL and high bytes kept, no trailing
// newline added, and a value that ends in a newline keeps exactly that one.
TEST(CliContract, GetWritesBinaryValueExactly) {
  OneNode node(171);
  std::mt19937 rng(20240607);
  std::string value(4099, '\0');
  for (auto& ch : value) ch = static_cast<char>(rng());
  value[0] = '\0';
  value[1] = '\xff';
  value.back() = 'x';  // not a newline: any '\n' at the end would be the CLI's
  std::string with_newline = "line\n";
  for (const std::string& bytes : {value, with_newline}) {
    WriteFile(node.dir.path() + "/bin", bytes);
    RunResult put = node.Cli({"put", "bin", "--value-file", node.dir.path() + "/bin"});
    ASSERT_EQ(put.exit_code, 0) << put.err;
    RunResult get = node.Cli({"get", "bin"});
    ASSERT_EQ(get.exit_code, 0) << get.err;
    EXPECT_EQ(get.out.size(), bytes.size());
    EXPECT_TRUE(get.out == bytes);
  }
}

// Goal: on a terminal, and only there, `get` ends the value with a newline (docs/operations.md).
TEST(CliContract, GetAddsNewlineOnlyOnTerminal) {
  OneNode node(173);
  ASSERT_EQ(node.Cli({"put", "k", "on a tty"}).exit_code, 0);
  EXPECT_EQ(RunCliOnTerminal({"get", "k", "--endpoints", node.address}).out, "on a tty\n");
  EXPECT_EQ(node.Cli({"get", "k"}).out, "on a tty");
}

// Goal: the node itself rejects an empty key and an oversize value (the CLI's local check is
// only a courtesy), answers with "invalid argument" (exit 2), and keeps serving.
TEST(CliContract, NodeRejectsBadInputWithoutTheCliCheck) {
  OneNode node(163);
  WriteFile(node.dir.path() + "/toobig", std::string(kValueBytesMax + 1, 'x'));
  RunResult empty = node.Cli({"put", "", "x", "--skip-local-checks"});
  EXPECT_EQ(empty.exit_code, 2) << empty.err;
  RunResult big =
      node.Cli({"put", "k", "--value-file", node.dir.path() + "/toobig", "--skip-local-checks"});
  EXPECT_NE(big.exit_code, 0) << big.err;
  // The same through the client library, with no CLI at all.
  Client client(ClientOptions{{node.address}});
  auto put = client.Put("", "x");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), ErrorCode::kInvalidArgument);
  auto oversize = client.Put("k", std::string(kValueBytesMax + 1, 'x'));
  EXPECT_FALSE(oversize.ok());
  EXPECT_EQ(node.Cli({"put", "after", "ok"}).exit_code, 0);
  EXPECT_EQ(node.Cli({"get", "after"}).out, "ok");
}

// Goal: SIGTERM stops a node gracefully with exit 0, and what it acknowledged is there after a
// restart on the same data dir.
TEST(CliServe, SigtermExitsZeroAndKeepsData) {
  OneNode node(164);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(node.Cli({"put", StrCat("k", i), StrCat("v", i)}).exit_code, 0);
  }
  EXPECT_EQ(node.process.Signal(SIGTERM), 0) << ReadFile(node.dir.path() + "/log");
  node.Start();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(node.Cli({"get", StrCat("k", i)}).out, StrCat("v", i));
  }
}

// Goal: with --sync always, every write acknowledged before kill -9 is there after a restart.
TEST(CliServe, SyncAlwaysKeepsAcknowledgedWritesAcrossKill9) {
  OneNode node(165, {"--sync", "always"});
  int acknowledged = 0;
  {
    Client client(ClientOptions{{node.address}});
    for (int i = 0; i < 300; ++i) {
      if (client.Put(StrCat("d", i), StrCat("v", i)).ok())
        acknowledged = i + 1;
      else
        break;
    }
  }
  ASSERT_EQ(acknowledged, 300);
  EXPECT_EQ(node.process.Signal(SIGKILL), 128 + SIGKILL);
  node.Start();
  Client client(ClientOptions{{node.address}});
  int lost = 0;
  for (int i = 0; i < acknowledged; ++i) {
    auto got = client.Get(StrCat("d", i));
    if (!got.ok() || !got->found || got->version->value != StrCat("v", i)) ++lost;
  }
  EXPECT_EQ(lost, 0);
}

// Goal: a data dir stays with its node name: starting another name on it fails with exit 2 and
// says which node owns it.
TEST(CliServe, RefusesDataDirOfAnotherNode) {
  OneNode node(166);
  ASSERT_EQ(node.process.Signal(SIGTERM), 0);
  RunResult other = RunCli({"serve", "--node-id", "other", "--listen", FreeAddress(166),
                            "--data-dir", node.dir.path() + "/data"},
                           {}, "", 30000);
  EXPECT_EQ(other.exit_code, 2) << other.err;
  EXPECT_NE(other.err.find("belongs to node 'n1'"), std::string::npos) << other.err;
}

// Goal: settings resolve flag > environment > file > default, both as printed by --print-config
// and in a running node (which answers on the address from the environment, under the name
// from the flag).
TEST(CliServe, ConfigPrecedence) {
  TempDir dir;
  std::string file_address = FreeAddress(167), env_address = FreeAddress(167);
  std::string config = dir.path() + "/node.toml";
  WriteFile(config, "node_id = \"from-file\"\nlisten = \"" + file_address + "\"\ndata_dir = \"" +
                        dir.path() + "/data\"\nrf = 1\nsync = \"none\"\ntokens = 8\n");
  std::map<std::string, std::string> env = {{"CAUSEWAY_LISTEN", env_address},
                                            {"CAUSEWAY_NODE_ID", "from-env"},
                                            {"CAUSEWAY_SYNC", "always"}};
  RunResult printed =
      RunCli({"serve", "--config", config, "--node-id", "from-flag", "--print-config"}, env);
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_NE(printed.out.find("node_id = 'from-flag'"), std::string::npos) << printed.out;
  EXPECT_NE(printed.out.find("listen = '" + env_address + "'"), std::string::npos);
  EXPECT_NE(printed.out.find("sync = 'always'"), std::string::npos);
  EXPECT_NE(printed.out.find("tokens = 8"), std::string::npos);
  EXPECT_NE(printed.out.find("rf = 1"), std::string::npos);

  ServeProcess node;
  node.Start({"--config", config, "--node-id", "from-flag"}, dir.path() + "/log", env);
  ASSERT_TRUE(WaitServing(env_address)) << ReadFile(dir.path() + "/log");
  RunResult status = RunCli({"status", "--endpoints", env_address, "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("\"from-flag\""), std::string::npos) << status.out;
  auto tokens_in_status = [&] {
    json reply = json::parse(RunCli({"status", "--endpoints", env_address, "--json"}).out);
    return reply["nodes"][0].value("tokens", 0);
  };
  EXPECT_EQ(tokens_in_status(), 8) << "tokens = 8 from the file is honoured";
  EXPECT_EQ(node.Signal(SIGTERM), 0);
  // A restart keeps the stored tokens whatever --tokens says (and warns).
  node.Start({"--config", config, "--node-id", "from-flag", "--tokens", "32"}, dir.path() + "/log",
             env);
  ASSERT_TRUE(WaitServing(env_address)) << ReadFile(dir.path() + "/log");
  EXPECT_EQ(tokens_in_status(), 8) << ReadFile(dir.path() + "/log");
  EXPECT_NE(ReadFile(dir.path() + "/log").find("keeping the 8 ring tokens"), std::string::npos);
  EXPECT_EQ(node.Signal(SIGTERM), 0);
  RunResult too_many = RunCli({"serve", "--config", config, "--tokens", "1000", "--print-config"});
  EXPECT_EQ(too_many.exit_code, 2);
  EXPECT_NE(too_many.err.find("tokens = '1000' (from flag --tokens) must be an integer 1..256"),
            std::string::npos)
      << too_many.err;

  WriteFile(config, "node_id = \"n\"\nrff = 1\n");
  RunResult typo = RunCli({"serve", "--config", config});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("unknown key 'rff'"), std::string::npos) << typo.err;
}

// Goal: `local up` starts real nodes that form one cluster (a write through n1 is read through
// n3; status lists all three up; explain shows three replicas); `local restart` brings back a
// killed node; `local down` leaves no process running.
TEST(CliLocal, UpRestartDownLeavesNothingRunning) {
  TempDir dir;
  RunResult up = RunCli(
      {"local", "up", "--nodes", "3", "--rf", "3", "--dir", dir.path(), "--host", "127.0.0.168"},
      {}, "", 90000);
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  json cluster = json::parse(ReadFile(dir.path() + "/cluster.json"));
  std::vector<pid_t> pids;
  std::vector<std::string> addresses;
  for (const auto& n : cluster["nodes"]) {
    pids.push_back(n["pid"].get<pid_t>());
    addresses.push_back(n["address"].get<std::string>());
    EXPECT_TRUE(ProcessAlive(pids.back()));
  }
  ASSERT_EQ(pids.size(), 3u);
  EXPECT_EQ(RunCli({"put", "k", "v", "--w", "all", "--endpoints", addresses[0]}).exit_code, 0);
  EXPECT_EQ(RunCli({"get", "k", "--r", "one", "--endpoints", addresses[2]}).out, "v");
  json status = json::parse(RunCli({"status", "--json", "--endpoints", addresses[1]}).out);
  int nodes_up = 0;
  // A node that joined catches up (one exchange per range) before it says plain "up".
  for (const auto& n : status["nodes"]) {
    nodes_up += n["state"] == "up" || n["state"] == "catching up" ? 1 : 0;
  }
  EXPECT_EQ(nodes_up, 3) << status.dump();
  RunResult explain = RunCli({"explain", "k", "--json", "--endpoints", addresses[0]});
  ASSERT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_EQ(json::parse(explain.out)["replicas"].size(), 3u) << explain.out;

  EXPECT_EQ(RunCli({"local", "kill", "--dir", dir.path(), "--node", "n2"}).exit_code, 0);
  EXPECT_FALSE(ProcessAlive(pids[1]));
  RunResult restart =
      RunCli({"local", "restart", "--dir", dir.path(), "--node", "n2"}, {}, "", 60000);
  EXPECT_EQ(restart.exit_code, 0) << restart.err;
  json local = json::parse(RunCli({"local", "status", "--dir", dir.path(), "--json"}).out);
  for (const auto& n : local["nodes"]) EXPECT_EQ(n["process"], "running") << n.dump();
  cluster = json::parse(ReadFile(dir.path() + "/cluster.json"));
  pids[1] = cluster["nodes"][1]["pid"].get<pid_t>();

  RunResult down = RunCli({"local", "down", "--dir", dir.path()}, {}, "", 60000);
  EXPECT_EQ(down.exit_code, 0) << down.err;
  for (pid_t pid : pids) {
    EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(pid); }, 10000)) << pid;
    if (ProcessAlive(pid)) ::kill(pid, SIGKILL);
  }
}

// Goal: `--session FILE` carries one session across separate invocations and coordinators: a
// write through one node is read through another with R=1, and the file is replaced atomically
// (no temporary left behind).
TEST(CliSession, RoundTripAcrossInvocationsAndCoordinators) {
  TempDir dir;
  std::string a = FreeAddress(169), b = FreeAddress(169);
  std::vector<std::string> common = {"--seeds", a, "--rf", "2"};
  ServeProcess na, nb;
  auto flags = [&](const char* name, const std::string& address) {
    std::vector<std::string> f = {"--node-id", name,         "--listen",
                                  address,     "--data-dir", dir.path() + "/" + name};
    f.insert(f.end(), common.begin(), common.end());
    return f;
  };
  na.Start(flags("a", a), dir.path() + "/a.log");
  nb.Start(flags("b", b), dir.path() + "/b.log");
  ASSERT_TRUE(WaitServing(a) && WaitServing(b)) << ReadFile(dir.path() + "/b.log");
  ASSERT_TRUE(WaitMembersUp(a, 2) && WaitMembersUp(b, 2))
      << RunCli({"status", "--endpoints", a + "," + b}).out << ReadFile(dir.path() + "/a.log");
  std::string session = dir.path() + "/session";
  for (int round = 0; round < 5; ++round) {
    std::string value = StrCat("v", round);
    RunResult put = RunCli(
        {"put", "sk", value, "--w", "1", "--session", session, "--endpoints", round % 2 ? a : b});
    ASSERT_EQ(put.exit_code, 0) << put.err;
    ASSERT_FALSE(ReadFile(session).empty());
    RunResult get =
        RunCli({"get", "sk", "--r", "1", "--session", session, "--endpoints", round % 2 ? b : a});
    EXPECT_EQ(get.exit_code, 0) << get.err;
    EXPECT_EQ(get.out, value) << "round " << round;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename().string().find("session.tmp"), std::string::npos);
  }
}

// Goal: a --session FILE holding garbage (200 random bytes) is refused as a usage error (exit 2)
// whose message says "session", for reads and writes alike, and the file is left as it was.
TEST(CliSession, GarbageTokenIsRefused) {
  OneNode node(172);
  ASSERT_EQ(node.Cli({"put", "k", "v"}).exit_code, 0);
  std::string garbage(200, '\0');
  std::mt19937 rng(200);
  for (auto& ch : garbage) ch = static_cast<char>(rng());
  garbage[0] = '\x7f';  // never the token's magic byte, whatever the seed
  std::string session = node.dir.path() + "/session";
  WriteFile(session, garbage);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"get", "k", "--session", session}, {"put", "k", "v2", "--session", session}}) {
    RunResult r = node.Cli(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("session"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_TRUE(ReadFile(session) == garbage);
}

// Goal: with the first endpoint SIGSTOPped (the kernel still accepts its connections; it answers
// nothing), `put` and `get` each succeed 10 times out of 10 through the other endpoints, each well
// under --timeout-ms: the paused node costs a call one connection probe. A 3-node cluster (rf=3)
// on 127.0.0.176..178.
TEST(CliFailover, PausedFirstEndpointPutAndGetSucceedTenOutOfTen) {
  ServeCluster cluster({176, 177, 178}, {"--rf", "3"});
  ASSERT_TRUE(cluster.Start()) << cluster.Logs();
  std::string endpoints = cluster.endpoints();
  ServeProcess* first = &cluster.node(0);
  ASSERT_EQ(::kill(first->pid(), SIGSTOP), 0);
  struct Continue {  // before the nodes are killed, and whatever the test's outcome
    pid_t pid;
    ~Continue() { ::kill(pid, SIGCONT); }
  } resume_first{first->pid()};
  constexpr int kCalls = 10;
  constexpr uint64_t kTimeoutMs = 2000;
  std::vector<uint64_t> put_ms, get_ms;
  int puts_ok = 0, gets_ok = 0;
  auto timed = [&](const std::vector<std::string>& args, std::vector<uint64_t>* took) {
    uint64_t start = MonotonicMs();
    RunResult r = RunCli(args, {}, "", 30000);
    took->push_back(MonotonicMs() - start);
    return r;
  };
  for (int i = 0; i < kCalls; ++i) {
    RunResult put = timed({"put", StrCat("pk", i), StrCat("pv", i), "--endpoints", endpoints,
                           "--timeout-ms", std::to_string(kTimeoutMs)},
                          &put_ms);
    puts_ok += put.exit_code == 0 ? 1 : 0;
    EXPECT_EQ(put.exit_code, 0) << "put " << i << ": " << put.err;
    EXPECT_LT(put_ms.back(), kTimeoutMs) << "put " << i;
  }
  for (int i = 0; i < kCalls; ++i) {
    RunResult get = timed({"get", StrCat("pk", i), "--endpoints", endpoints, "--timeout-ms",
                           std::to_string(kTimeoutMs)},
                          &get_ms);
    gets_ok += get.exit_code == 0 && get.out == StrCat("pv", i) ? 1 : 0;
    EXPECT_EQ(get.exit_code, 0) << "get " << i << ": " << get.err;
    EXPECT_EQ(get.out, StrCat("pv", i));
    EXPECT_LT(get_ms.back(), kTimeoutMs) << "get " << i;
  }
  EXPECT_EQ(puts_ok, kCalls);
  EXPECT_EQ(gets_ok, kCalls);
  std::sort(put_ms.begin(), put_ms.end());
  std::sort(get_ms.begin(), get_ms.end());
  std::cout << "paused first endpoint: " << puts_ok << "/" << kCalls << " puts, " << gets_ok << "/"
            << kCalls << " gets; median " << put_ms[kCalls / 2] << " ms per put, "
            << get_ms[kCalls / 2] << " ms per get (whole process)\n";

  // --attempt-timeout-ms bounds the wait for the paused node's answer to the probe too.
  std::vector<uint64_t> short_ms;
  for (int i = 0; i < 3; ++i) {
    RunResult put = timed(
        {"put", "short", "v", "--endpoints", endpoints, "--attempt-timeout-ms", "150"}, &short_ms);
    EXPECT_EQ(put.exit_code, 0) << put.err;
  }
  std::sort(short_ms.begin(), short_ms.end());
  EXPECT_LT(short_ms[1], kClientProbeTimeoutMsDefault - 50);
  std::cout << "with --attempt-timeout-ms 150: median " << short_ms[1] << " ms per put\n";
}

}  // namespace
}  // namespace causeway::tools::testing
