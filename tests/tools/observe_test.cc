// Metrics, health, logs and deployment (docs/operations.md, "Metrics and health"), driven from
// outside as an operator or a scraper sees them: real `causeway serve` processes on 127.0.6.x
// (this file's range: 127.0.6.1..60), /metrics and the probes over plain HTTP, real exit codes,
// the JSON log as written, and the deploy/ files parsed by their own tools.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/tools/harness.h"
#include "tools/internal/logging.h"
#include "tools/internal/process.h"

namespace causeway::tools::testing {
namespace {

using nlohmann::json;

std::string Address6(int host) {
  const std::string ip = "127.0.6." + std::to_string(host);
  auto port = FreePort(ip);
  if (!port.ok()) throw std::runtime_error("no free port on " + ip);
  return ip + ":" + std::to_string(*port);
}

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
};

// GET http://address/path with a plain socket (HTTP/1.0: the server closes after the answer).
HttpReply HttpGet(const std::string& address, const std::string& path) {
  HttpReply r;
  const size_t colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return r;
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: x\r\n\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return r;
  }
  std::string all;
  char buf[16384];
  ssize_t n = 0;
  while ((n = read(fd, buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
  close(fd);
  if (all.rfind("HTTP/1.", 0) != 0 || all.size() < 12) return r;
  r.status = std::stoi(all.substr(9, 3));
  const size_t body = all.find("\r\n\r\n");
  if (body != std::string::npos) r.body = all.substr(body + 4);
  return r;
}

// Sample lines of a Prometheus text exposition: "name{labels}" -> value.
std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    const std::string v = line.substr(sp + 1);
    out[line.substr(0, sp)] = v == "+Inf" ? 1e300 : std::strtod(v.c_str(), nullptr);
  }
  return out;
}

double Sum(const std::map<std::string, double>& m, const std::string& prefix,
           const std::string& contains = "") {
  double s = 0;
  for (const auto& [k, v] : m) {
    if (k.rfind(prefix, 0) == 0 && k.find(contains) != std::string::npos) s += v;
  }
  return s;
}

// Checks every histogram series: buckets in `le` order never decrease, and the +Inf bucket
// equals _count. Returns the number of series checked.
int CheckHistograms(const std::string& text, std::string* why) {
  // series key (name + labels without le) -> le-ordered bucket counts
  std::map<std::string, std::vector<std::pair<double, double>>> buckets;
  std::map<std::string, double> counts;
  for (const auto& [k, v] : ParseMetrics(text)) {
    const size_t b = k.find("_bucket{");
    if (b != std::string::npos) {
      const size_t le = k.find("le=\"");
      const size_t end = k.find('"', le + 4);
      const std::string bound = k.substr(le + 4, end - le - 4);
      std::string series = k.substr(0, b) + k.substr(b + 7, le - b - 7) + k.substr(end + 1);
      buckets[series].push_back({bound == "+Inf" ? 1e300 : std::stod(bound), v});
      continue;
    }
    const size_t c = k.find("_count");
    if (c != std::string::npos) counts[k.substr(0, c) + k.substr(c + 6)] = v;
  }
  int checked = 0;
  for (auto& [series, list] : buckets) {
    std::sort(list.begin(), list.end());
    for (size_t i = 1; i < list.size(); ++i) {
      if (list[i].second < list[i - 1].second) *why += "bucket counts decrease in " + series + "\n";
    }
    // "name{a=..,}" of the bucket vs "name{a=..}" of the count: compare without the separators.
    std::string key = series;
    std::erase(key, ',');
    double count = -1;
    for (const auto& [ck, cv] : counts) {
      std::string k2 = ck;
      std::erase(k2, ',');
      if (k2 == key) count = cv;
    }
    if (list.back().first < 1e299 || list.back().second != count) {
      *why += "+Inf bucket != _count in " + series + "\n";
    }
    ++checked;
  }
  return checked;
}

// A node on 127.0.6.<host> with an HTTP endpoint, its log in `dir`.
struct Node {
  std::string name, address, http;
  std::unique_ptr<ServeProcess> process = std::make_unique<ServeProcess>();
};

Node MakeNode(int i, int host) {
  Node n;
  n.name = "n" + std::to_string(i);
  n.address = Address6(host);
  n.http = Address6(host);
  while (n.http == n.address) n.http = Address6(host);
  return n;
}

void StartNode(Node& n, const TempDir& dir, const std::string& seeds,
               const std::vector<std::string>& extra = {}, int rf = 3) {
  std::vector<std::string> args = {"--node-id",
                                   n.name,
                                   "--listen",
                                   n.address,
                                   "--data-dir",
                                   dir.Sub(n.name),
                                   "--seeds",
                                   seeds,
                                   "--http-listen",
                                   n.http,
                                   "--rf",
                                   std::to_string(rf),
                                   "--storage-profile",
                                   "small",
                                   "--tick-interval-ms",
                                   "50"};
  args.insert(args.end(), extra.begin(), extra.end());
  n.process->Start(args, dir.Sub(n.name + ".log"));
}

TEST(ObserveTest, MetricsMoveUnderLoadAndHistogramsAreConsistent) {
  TempDir dir;
  std::vector<Node> nodes;
  for (int i = 1; i <= 3; ++i) nodes.push_back(MakeNode(i, i));
  for (auto& n : nodes) StartNode(n, dir, nodes[0].address);
  for (auto& n : nodes) ASSERT_TRUE(WaitServing(n.address)) << ReadFile(dir.Sub(n.name + ".log"));
  ASSERT_TRUE(WaitMembersUp(nodes[0].address, 3));
  HttpReply before = HttpGet(nodes[0].http, "/metrics");
  ASSERT_EQ(before.status, 200);
  EXPECT_NE(before.body.find("# TYPE causeway_ready gauge"), std::string::npos);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(
        RunCli({"put", "m" + std::to_string(i), "v", "--endpoints", nodes[0].address}).exit_code,
        0);
    ASSERT_EQ(RunCli({"get", "m" + std::to_string(i), "--endpoints", nodes[0].address}).exit_code,
              0);
  }
  const auto a = ParseMetrics(before.body);
  HttpReply after = HttpGet(nodes[0].http, "/metrics");
  ASSERT_EQ(after.status, 200);
  EXPECT_NE(after.body.find("# TYPE causeway_client_requests_total counter"), std::string::npos);
  EXPECT_NE(after.body.find("# TYPE causeway_client_request_duration_seconds histogram"),
            std::string::npos);
  const auto b = ParseMetrics(after.body);
  EXPECT_GE(Sum(b, "causeway_client_requests_total", "op=\"put\",outcome=\"ok\"") -
                Sum(a, "causeway_client_requests_total", "op=\"put\",outcome=\"ok\""),
            20);
  EXPECT_GE(Sum(b, "causeway_client_requests_total", "op=\"get\",outcome=\"ok\"") -
                Sum(a, "causeway_client_requests_total", "op=\"get\",outcome=\"ok\""),
            20);
  EXPECT_GE(
      Sum(b, "causeway_coordinated_writes_total") - Sum(a, "causeway_coordinated_writes_total"),
      20);
  EXPECT_EQ(Sum(b, "causeway_ring_members{state=\"up\"}"), 3) << after.body;
  EXPECT_EQ(Sum(b, "causeway_ready"), 1);
  EXPECT_GT(Sum(b, "causeway_connections"), 0);
  EXPECT_GT(Sum(b, "causeway_rocksdb_block_cache_capacity_bytes"), 0);
  std::string why;
  EXPECT_GE(CheckHistograms(after.body, &why), 2);
  EXPECT_EQ(why, "");
  // Replicas answered the coordinator's peer requests: their peer counters moved too.
  HttpReply peer = HttpGet(nodes[1].http, "/metrics");
  ASSERT_EQ(peer.status, 200);
  EXPECT_GE(Sum(ParseMetrics(peer.body), "causeway_peer_requests_total", "op=\"replicate\""), 20);
  EXPECT_EQ(CheckHistograms(peer.body, &why) > 0, true);
  EXPECT_EQ(why, "");
  // `causeway status` reads the same snapshot: its counters agree with the scrape.
  RunResult st = RunCli({"status", "--json", "--endpoints", nodes[0].address});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  EXPECT_EQ(HttpGet(nodes[0].http, "/nope").status, 404);
  EXPECT_EQ(HttpGet(nodes[0].http, "/livez").status, 200);
}

TEST(ObserveTest, ReadyzIs503BeforeJoiningAnd200After) {
  TempDir dir;
  Node seed = MakeNode(1, 11), joiner = MakeNode(2, 12);
  // The joiner's only seed is not running yet: it cannot join (no tokens), so it is not ready.
  StartNode(joiner, dir, seed.address);
  ASSERT_TRUE(WaitUntil([&] { return HttpGet(joiner.http, "/livez").status == 200; }, 20000, 50))
      << ReadFile(dir.Sub("n2.log"));
  HttpReply r = HttpGet(joiner.http, "/readyz");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("joining"), std::string::npos) << r.body;
  StartNode(seed, dir, seed.address);
  EXPECT_TRUE(WaitUntil([&] { return HttpGet(seed.http, "/readyz").status == 200; }, 20000, 100));
  EXPECT_TRUE(WaitUntil([&] { return HttpGet(joiner.http, "/readyz").status == 200; }, 40000, 200))
      << HttpGet(joiner.http, "/readyz").body << ReadFile(dir.Sub("n2.log"));
  // Draining: SIGTERM, and the node stops answering ready (it exits soon after).
  EXPECT_EQ(joiner.process->Signal(SIGTERM), 0);
}

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '{') continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

size_t CountEvents(const std::vector<json>& lines, const std::string& event,
                   const std::string& peer, const std::string& state = "") {
  size_t n = 0;
  for (const json& j : lines) {
    if (j.value("event", "") == event && j.value("peer", "") == peer &&
        (state.empty() || j.value("state", "") == state)) {
      ++n;
    }
  }
  return n;
}

TEST(ObserveTest, JsonLogHasEachMembershipEventOnce) {
  TempDir dir;
  std::vector<Node> nodes;
  for (int i = 1; i <= 3; ++i) nodes.push_back(MakeNode(i, 20 + i));
  const std::vector<std::string> json_log = {"--log-format", "json", "--phi-convict", "4"};
  for (auto& n : nodes) StartNode(n, dir, nodes[0].address, json_log);
  ASSERT_TRUE(WaitMembersUp(nodes[0].address, 3)) << ReadFile(dir.Sub("n1.log"));
  // kill -9 n3: n1 logs it down once, with both names.
  nodes[2].process->Signal(SIGKILL);
  auto n1_log = [&] { return JsonLines(ReadFile(dir.Sub("n1.log"))); };
  ASSERT_TRUE(
      WaitUntil([&] { return CountEvents(n1_log(), "member_down", "n3") == 1; }, 30000, 200))
      << ReadFile(dir.Sub("n1.log"));
  // Restart n3: n1 logs it back (state up, or catching up first) once per change.
  StartNode(nodes[2], dir, nodes[0].address, json_log);
  ASSERT_TRUE(WaitUntil(
      [&] { return CountEvents(n1_log(), "member_state_changed", "n3", "up") >= 1; }, 40000, 200))
      << ReadFile(dir.Sub("n1.log"));
  const std::vector<json> lines = n1_log();
  EXPECT_EQ(CountEvents(lines, "member_down", "n3"), 1u);
  EXPECT_EQ(CountEvents(lines, "member_added", "n2"), 1u);
  EXPECT_EQ(CountEvents(lines, "member_added", "n3"), 1u);
  EXPECT_EQ(CountEvents(lines, "member_down", "n2"), 0u);
  // Every change is logged once: no two consecutive lines about n3 carry the same state.
  std::string last;
  size_t serving = 0;
  for (const json& j : lines) {
    EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("node")) << j.dump();
    EXPECT_FALSE(j.contains("msg") && j.contains("event")) << j.dump();
    if (j.value("event", "") == "serving") ++serving;
    if (j.value("peer", "") != "n3" || !j.contains("state")) continue;
    EXPECT_NE(j.value("state", ""), last) << j.dump();
    last = j.value("state", "");
    EXPECT_EQ(j.value("node", ""), "n1");
  }
  EXPECT_EQ(serving, 1u);
  // The restarted node's own log says its state once it serves.
  EXPECT_GE(CountEvents(JsonLines(ReadFile(dir.Sub("n3.log"))), "state_changed", ""), 1u)
      << ReadFile(dir.Sub("n3.log"));
}

TEST(ObserveTest, EndpointHealthExitCodes) {
  TempDir dir;
  Node n = MakeNode(1, 31);
  StartNode(n, dir, n.address, {}, 1);
  ASSERT_TRUE(WaitServing(n.address));
  ASSERT_TRUE(WaitUntil([&] { return HttpGet(n.http, "/readyz").status == 200; }, 20000, 100));
  RunResult ok = RunCli({"endpoint", "health", "--endpoints", n.address});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find(n.address + " is healthy"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("took = "), std::string::npos) << ok.out;
  const std::string dead = Address6(32);  // nothing listens there
  RunResult bad = RunCli({"endpoint", "health", "--endpoints", n.address + "," + dead});
  EXPECT_EQ(bad.exit_code, 3) << bad.out << bad.err;
  EXPECT_NE(bad.out.find(dead + " is unhealthy"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find(n.address + " is healthy"), std::string::npos) << bad.out;
  RunResult js = RunCli({"endpoint", "health", "--json", "--endpoints", dead});
  EXPECT_EQ(js.exit_code, 3);
  json parsed = json::parse(js.out, nullptr, false);
  ASSERT_TRUE(parsed.is_array()) << js.out;
  EXPECT_EQ(parsed[0]["health"], false);
  RunResult v = RunCli({"version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("causeway ", 0), 0u) << v.out;
}

// `node snapshot` writes a checkpoint a node restores from: the same name, the same data.
TEST(ObserveTest, SnapshotRestoresANode) {
  TempDir dir;
  Node n = MakeNode(1, 35);
  StartNode(n, dir, n.address, {}, 1);
  ASSERT_TRUE(WaitServing(n.address));
  ASSERT_TRUE(WaitUntil([&] { return HttpGet(n.http, "/readyz").status == 200; }, 20000, 100));
  RunResult put = RunCli({"put", "kept", "v1", "--endpoints", n.address});
  ASSERT_EQ(put.exit_code, 0) << put.err << ReadFile(dir.Sub("n1.log"));
  const std::string snap = dir.Sub("snap");
  RunResult r = RunCli({"node", "snapshot", snap, "--endpoints", n.address});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(snap), std::string::npos) << r.out;
  EXPECT_FALSE(ReadFile(snap + "/CURRENT").empty());
  // A second snapshot into the same folder is refused (usage-class error), nothing overwritten.
  RunResult again = RunCli({"node", "snapshot", snap, "--endpoints", n.address});
  EXPECT_NE(again.exit_code, 0);
  ASSERT_EQ(RunCli({"put", "later", "v2", "--endpoints", n.address}).exit_code, 0);
  EXPECT_EQ(n.process->Signal(SIGTERM), 0);
  // Restore: the snapshot in place of the data dir.
  ServeProcess restored;
  restored.Start({"--node-id", n.name, "--listen", n.address, "--data-dir", snap, "--http-listen",
                  "off", "--storage-profile", "small", "--rf", "1"},
                 dir.Sub("restored.log"));
  ASSERT_TRUE(WaitServing(n.address)) << ReadFile(dir.Sub("restored.log"));
  RunResult got = RunCli({"get", "kept", "--endpoints", n.address});
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, "v1");
  EXPECT_EQ(RunCli({"get", "later", "--endpoints", n.address}).exit_code, 1);  // after the snapshot
}

TEST(ObserveTest, TextLogTimesCarryTheZone) {
  TempDir dir;
  Node n = MakeNode(1, 41);
  StartNode(n, dir, n.address, {}, 1);
  ASSERT_TRUE(WaitServing(n.address));
  EXPECT_EQ(n.process->Signal(SIGTERM), 0);
  const std::string log = ReadFile(dir.Sub("n1.log"));
  std::istringstream in(log);
  std::string line;
  size_t lines = 0, serving = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ++lines;
    // 2026-12-01T21:25:43.120Z
    ASSERT_GE(line.size(), 24u);
    EXPECT_EQ(line[10], 'T') << line;
    EXPECT_EQ(line[23], 'Z') << line;
    serving += line.find("event=serving") != std::string::npos ? 1 : 0;
  }
  EXPECT_GT(lines, 2u);
  EXPECT_EQ(serving, 1u) << log;
}

TEST(ObserveTest, LogFieldsParse) {
  auto f =
      ParseLogFields(R"(event=member_down node=n1 peer=n3 state="down" n=12 detail="a \"b\" c")");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ((*f)["event"], "member_down");
  EXPECT_EQ((*f)["peer"], "n3");
  EXPECT_EQ((*f)["n"], 12);
  EXPECT_EQ((*f)["detail"], "a \"b\" c");
  EXPECT_FALSE(ParseLogFields("restored a member view of 3 nodes").has_value());
  EXPECT_FALSE(ParseLogFields("event=x detail=\"unclosed").has_value());
}

// The unit must pass `systemd-analyze verify` (with this build's binary in ExecStart).
TEST(ObserveTest, SystemdUnitVerifies) {
  if (system("command -v systemd-analyze >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "systemd-analyze is not installed";
  }
  TempDir dir;
  std::string unit =
      ReadFile(std::string(CAUSEWAY_SOURCE_DIR) + "/deploy/systemd/causeway.service");
  ASSERT_FALSE(unit.empty());
  EXPECT_NE(unit.find("Type=notify"), std::string::npos);
  EXPECT_NE(unit.find("LimitNOFILE="), std::string::npos);
  EXPECT_NE(unit.find("Restart="), std::string::npos);
  const std::string bin = "/usr/local/bin/causeway";
  for (size_t at = unit.find(bin); at != std::string::npos; at = unit.find(bin, at)) {
    unit.replace(at, bin.size(), CAUSEWAY_BIN);
  }
  WriteFile(dir.Sub("causeway.service"), unit);
  const std::string cmd =
      "systemd-analyze verify " + dir.Sub("causeway.service") + " > " + dir.Sub("out") + " 2>&1";
  const int rc = system(cmd.c_str());
  EXPECT_EQ(rc, 0) << ReadFile(dir.Sub("out"));
}

// The manifests parse with python3-yaml, and their probes and ports are the ones the binary
// serves: the container's args bind --listen and --http-listen on the named ports, and the
// probes ask /readyz and /livez on the http port.
TEST(ObserveTest, KubernetesManifestsNameRealProbesAndPorts) {
  if (system("python3 -c 'import yaml' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3-yaml is not installed";
  }
  TempDir dir;
  const std::string script = R"PY(
import sys, yaml, glob
docs = [d for f in glob.glob(sys.argv[1] + "/deploy/k8s/*.y*ml") for d in yaml.safe_load_all(open(f)) if d]
kinds = {d["kind"] for d in docs}
assert {"StatefulSet", "Service", "PodDisruptionBudget"} <= kinds, kinds
sts = [d for d in docs if d["kind"] == "StatefulSet"][0]
c = sts["spec"]["template"]["spec"]["containers"][0]
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
args = c["args"]
assert "--listen=0.0.0.0:%d" % ports["rpc"] in args, args
assert "--http-listen=0.0.0.0:%d" % ports["http"] in args, args
for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
    g = c[probe]["httpGet"]
    assert g["path"] == path and g["port"] in ("http", ports["http"]), g
headless = [d for d in docs if d["kind"] == "Service" and d["spec"].get("clusterIP") == "None"]
assert headless and headless[0]["metadata"]["name"] == sts["spec"]["serviceName"]
seeds = [e["value"] for e in c["env"] if e["name"] == "CAUSEWAY_SEEDS"][0]
assert sts["metadata"]["name"] + "-0." + sts["spec"]["serviceName"] in seeds, seeds
print("ok")
)PY";
  WriteFile(dir.Sub("check.py"), script);
  const std::string cmd = "python3 " + dir.Sub("check.py") + " " + CAUSEWAY_SOURCE_DIR + " > " +
                          dir.Sub("out") + " 2>&1";
  EXPECT_EQ(system(cmd.c_str()), 0) << ReadFile(dir.Sub("out"));
}

// docs/operations.md's configuration reference is `causeway config reference --markdown`,
// verbatim between its markers: a key added to the table without regenerating the docs fails.
TEST(ObserveTest, OperationsDocHasTheGeneratedConfigReference) {
  RunResult r = RunCli({"config", "reference", "--markdown"});
  ASSERT_EQ(r.exit_code, 0);
  const std::string doc = ReadFile(std::string(CAUSEWAY_SOURCE_DIR) + "/docs/operations.md");
  const std::string begin = "<!-- config-reference:begin -->\n";
  const std::string end = "<!-- config-reference:end -->";
  const size_t b = doc.find(begin), e = doc.find(end);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(doc.substr(b + begin.size(), e - b - begin.size()), r.out)
      << "regenerate: causeway config reference --markdown (tools/docs-config-reference.sh)";
  EXPECT_EQ(doc.find("tools.md"), std::string::npos);
}

}  // namespace
}  // namespace causeway::tools::testing
