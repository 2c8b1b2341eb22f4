// hundred_nodes_bench: 100 real nodes on one machine (issue 10, "Targets"). Each run starts
// `causeway local up --nodes N --host-per-node` (storage_profile = small, the local default) on
// 127.0.1.1.. and prints one JSON object per run on stdout, then a summary (medians and worst);
// progress goes to stderr. Measured per run:
//
//   join_s        seconds from the start of the last node's process (its /proc start time) until
//                 every node reports all N members up with tokens (Status polled from 4 threads;
//                 resolution one polling round, ~0.1-0.5 s)
//   ring          primary share max/mean and min/mean of the ring every node agrees on, rf=3
//                 replica share max/mean, nodes owning nothing, tokens shared by two nodes
//   idle          after settle_s more seconds, utime + stime of every node over idle_s
//                 (ms of CPU per node per second: median and max), VmRSS (MiB: median, max), and
//                 how busy the whole machine was meanwhile (other work shares these cores)
//   disk          `du` (allocated blocks) of each fresh data dir after the join (MiB: median, max)
//
// Environment (defaults): CAUSEWAY_BIN (the build's bin/causeway), BENCH_NODES (100), BENCH_RUNS
// (1), BENCH_HOST (127.0.1.1: first address; node i takes .i), BENCH_JOIN_BOUND_S (60),
// BENCH_SETTLE_S (10), BENCH_IDLE_S (30), TMPDIR. A benchmark, not a test: not in CI
// (docs/performance.md, "Membership: 100 nodes on one machine (issue 10)").
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/strings.h"
#include "cluster/ring.h"
#include "rpc/client.h"

namespace causeway {
namespace {

using nlohmann::json;

#ifdef CAUSEWAY_BIN
constexpr const char* kDefaultBin = CAUSEWAY_BIN;
#else
constexpr const char* kDefaultBin = "build/bin/causeway";
#endif
constexpr int kPollThreads = 4;
constexpr uint64_t kProbeTimeoutMs = 2000;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}
std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// Seconds since boot (the clock /proc/PID/stat start times count in).
double BootSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Fields of /proc/PID/stat after the command (field 3 onwards), or empty.
std::vector<std::string> StatFields(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return {};
  std::istringstream rest(line.substr(paren + 2));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

double ProcessStartBootSeconds(pid_t pid) {
  auto f = StatFields(StrCat("/proc/", pid, "/stat"));
  return f.size() > 19 ? std::stod(f[19]) / static_cast<double>(sysconf(_SC_CLK_TCK)) : 0;
}

// utime + stime of `pid` in seconds.
double CpuSeconds(pid_t pid) {
  auto f = StatFields(StrCat("/proc/", pid, "/stat"));
  if (f.size() < 13) return 0;
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Busy and total jiffies of the whole machine (/proc/stat "cpu" line).
std::pair<double, double> MachineJiffies() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  double v[8] = {};
  for (double& x : v) in >> x;
  double total = 0;
  for (double x : v) total += x;
  return {total - v[3] - v[4], total};  // idle and iowait are not busy
}

double RssMiB(pid_t pid) {
  std::ifstream in(StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// Allocated bytes under `dir`, as du counts them (preallocated blocks included).
double DuMiB(const std::string& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) == 0) bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return static_cast<double>(bytes) / (1 << 20);
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}
double Max(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

void Run(const std::string& command) {
  std::cerr << "+ " << command << "\n";
  if (std::system(command.c_str()) != 0) std::cerr << "  (exited non-zero)\n";
}

struct Node {
  std::string name, address, data_dir;
  pid_t pid = 0;
};

std::vector<Node> LoadNodes(const std::string& dir) {
  std::ifstream in(dir + "/cluster.json");
  json cluster = json::parse(in, nullptr, false);
  std::vector<Node> nodes;
  if (cluster.is_discarded() || !cluster.contains("nodes")) return nodes;
  for (const auto& n : cluster["nodes"]) {
    nodes.push_back({n["name"].get<std::string>(), n["address"].get<std::string>(),
                     n["data_dir"].get<std::string>(), n.value("pid", 0)});
  }
  return nodes;
}

size_t MembersUpPlaced(const NodeStatusReply& reply) {
  size_t up = 0;
  for (const auto& m : reply.members) {
    up += m.alive && m.state.status == cluster::MemberStatus::kUp && !m.state.tokens.empty();
  }
  return up;
}

// Polls every node until each sees `n` members up and placed, or `bound_s` passes. Returns the
// boot-clock time when the last node first did (0 on timeout) and one node's last reply.
double WaitAllSeeAll(const std::vector<Node>& nodes, size_t n, double bound_s,
                     NodeStatusReply* last_reply) {
  std::vector<double> seen_at(nodes.size(), 0);
  std::mutex mu;
  const double deadline = BootSeconds() + bound_s;
  std::vector<std::thread> threads;
  threads.reserve(kPollThreads);
  for (int t = 0; t < kPollThreads; ++t) {
    threads.emplace_back([&, t] {
      while (BootSeconds() < deadline) {
        bool all = true;
        for (size_t i = static_cast<size_t>(t); i < nodes.size(); i += kPollThreads) {
          if (seen_at[i] != 0) continue;
          Client client(ClientOptions{{nodes[i].address}, kProbeTimeoutMs, kProbeTimeoutMs});
          auto reply = client.Status();
          if (reply.ok() && MembersUpPlaced(*reply) >= n) {
            seen_at[i] = BootSeconds();
            std::lock_guard<std::mutex> lock(mu);
            *last_reply = *reply;
          } else {
            all = false;
          }
        }
        if (all) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }
  for (auto& t : threads) t.join();
  double last = 0;
  for (double s : seen_at) {
    if (s == 0) return 0;
    last = std::max(last, s);
  }
  return last;
}

json RingFigures(const NodeStatusReply& reply) {
  std::map<NodeId, std::vector<Token>> placed;
  std::set<Token> seen;
  int shared = 0;
  for (const auto& m : reply.members) {
    placed[m.state.id] = m.state.tokens;
    for (Token t : m.state.tokens) shared += seen.insert(t).second ? 0 : 1;
  }
  cluster::Ring ring;
  ring.Assign(placed);
  auto primary = ring.PrimaryShares();
  auto replica = ring.ReplicaShares(3);
  const double mean = 1.0 / static_cast<double>(std::max<size_t>(primary.size(), 1));
  double pmax = 0, pmin = 1, rmax = 0;
  int empty = 0;
  for (const auto& [id, s] : primary) pmax = std::max(pmax, s), pmin = std::min(pmin, s);
  for (const auto& [id, s] : primary) empty += s <= 0 ? 1 : 0;
  for (const auto& [id, s] : replica) rmax = std::max(rmax, s);
  return {{"nodes", primary.size()},
          {"primary_max_over_mean", pmax / mean},
          {"primary_min_over_mean", pmin / mean},
          {"replica_rf3_max_over_mean", rmax / (3 * mean)},
          {"nodes_owning_nothing", empty},
          {"tokens_shared", shared}};
}

json OneRun(const std::string& bin, int run, size_t n, const std::string& host) {
  const std::string dir = StrCat(EnvOr("TMPDIR", std::string("/tmp")), "/hundred_nodes.",
                                 static_cast<int>(getpid()), ".", run);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string up = StrCat(bin, " local up --nodes ", n, " --rf 3 --dir ", dir, " --host ",
                                host, " --host-per-node > ", dir, "/up.out 2>&1");
  std::thread starter([&] { Run(up); });
  // The last node's pid appears in cluster.json once local up has started it.
  std::vector<Node> nodes;
  const double start_bound = BootSeconds() + 60;
  while (BootSeconds() < start_bound) {
    nodes = LoadNodes(dir);
    if (nodes.size() == n && nodes.back().pid != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  json out = {{"run", run}, {"nodes", n}};
  if (nodes.size() != n || nodes.back().pid == 0) {
    starter.join();
    out["error"] = "local up did not start every node";
    return out;
  }
  const double last_start = ProcessStartBootSeconds(nodes.back().pid);
  const double first_start = ProcessStartBootSeconds(nodes.front().pid);
  NodeStatusReply reply;
  const double converged =
      WaitAllSeeAll(nodes, n, static_cast<double>(EnvOr("BENCH_JOIN_BOUND_S", 60)), &reply);
  starter.join();
  out["start_spread_s"] = last_start - first_start;
  out["join_s"] = converged == 0 ? json(nullptr) : json(converged - last_start);
  if (converged != 0) out["ring"] = RingFigures(reply);
  std::vector<double> disk;
  disk.reserve(nodes.size());
  for (const auto& node : nodes) disk.push_back(DuMiB(node.data_dir));
  out["disk_mib"] = {{"median", Median(disk)}, {"max", Max(disk)}};

  std::this_thread::sleep_for(std::chrono::seconds(EnvOr("BENCH_SETTLE_S", 10)));
  nodes = LoadNodes(dir);  // final pids
  const double idle_s = static_cast<double>(EnvOr("BENCH_IDLE_S", 30));
  std::vector<double> cpu0;
  cpu0.reserve(nodes.size());
  for (const auto& node : nodes) cpu0.push_back(CpuSeconds(node.pid));
  auto machine0 = MachineJiffies();
  std::this_thread::sleep_for(std::chrono::duration<double>(idle_s));
  auto machine1 = MachineJiffies();
  std::vector<double> cpu_ms_per_s, rss;
  double cluster_cpu = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const double used = CpuSeconds(nodes[i].pid) - cpu0[i];
    cluster_cpu += used;
    cpu_ms_per_s.push_back(used * 1000 / idle_s);
    rss.push_back(RssMiB(nodes[i].pid));
  }
  const double cores = static_cast<double>(std::thread::hardware_concurrency());
  const double machine_busy =
      (machine1.first - machine0.first) / (machine1.second - machine0.second) * cores;
  out["idle"] = {{"cpu_ms_per_s_median", Median(cpu_ms_per_s)},
                 {"cpu_ms_per_s_max", Max(cpu_ms_per_s)},
                 {"cluster_cores", cluster_cpu / idle_s},
                 {"machine_busy_cores", machine_busy},
                 {"rss_mib_median", Median(rss)},
                 {"rss_mib_max", Max(rss)}};
  Run(StrCat(bin, " local down --dir ", dir, " > /dev/null 2>&1"));
  std::filesystem::remove_all(dir);
  return out;
}

int Main() {
  const std::string bin = EnvOr("CAUSEWAY_BIN", std::string(kDefaultBin));
  const size_t n = EnvOr("BENCH_NODES", 100);
  const int runs = static_cast<int>(EnvOr("BENCH_RUNS", 1));
  const std::string host = EnvOr("BENCH_HOST", std::string("127.0.1.1"));
  std::vector<json> results;
  for (int run = 1; run <= runs; ++run) {
    json r = OneRun(bin, run, n, host);
    std::cout << r.dump() << std::endl;
    results.push_back(r);
  }
  auto column = [&](auto get) {
    std::vector<double> v;
    for (const auto& r : results) {
      if (auto x = get(r); x) v.push_back(*x);
    }
    return v;
  };
  auto at = [](const json& r, const char* a, const char* b) -> std::optional<double> {
    if (!r.contains(a) || r[a].is_null() || (b != nullptr && !r[a].contains(b))) return {};
    return b == nullptr ? r[a].get<double>() : r[a][b].get<double>();
  };
  auto join = column([&](const json& r) { return at(r, "join_s", nullptr); });
  auto pmax = column([&](const json& r) { return at(r, "ring", "primary_max_over_mean"); });
  auto pmin = column([&](const json& r) { return at(r, "ring", "primary_min_over_mean"); });
  auto cpu = column([&](const json& r) { return at(r, "idle", "cpu_ms_per_s_median"); });
  auto rss = column([&](const json& r) { return at(r, "idle", "rss_mib_max"); });
  auto disk = column([&](const json& r) { return at(r, "disk_mib", "max"); });
  int join_ok = 0, ring_ok = 0;
  for (const auto& r : results) {
    join_ok += at(r, "join_s", nullptr).value_or(1e9) <= 5.0;
    ring_ok += at(r, "ring", "primary_max_over_mean").value_or(9) < 1.25 &&
               at(r, "ring", "primary_min_over_mean").value_or(0) >= 0.5;
  }
  std::vector<double> pmin_neg;
  pmin_neg.reserve(pmin.size());
  for (double x : pmin) pmin_neg.push_back(-x);
  json summary = {{"summary",
                   {{"runs", runs},
                    {"join_within_5s", join_ok},
                    {"ring_within_targets", ring_ok},
                    {"join_s", {{"median", Median(join)}, {"worst", Max(join)}}},
                    {"primary_max_over_mean", {{"median", Median(pmax)}, {"worst", Max(pmax)}}},
                    {"primary_min_over_mean",
                     {{"median", Median(pmin)}, {"worst", pmin.empty() ? 0 : -Max(pmin_neg)}}},
                    {"idle_cpu_ms_per_s_median", {{"median", Median(cpu)}, {"worst", Max(cpu)}}},
                    {"rss_mib_max", {{"median", Median(rss)}, {"worst", Max(rss)}}},
                    {"disk_mib_max", {{"median", Median(disk)}, {"worst", Max(disk)}}}}}};
  std::cout << summary.dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace causeway

int main() {
  try {
    return causeway::Main();
  } catch (const std::exception& e) {
    std::cerr << "hundred_nodes_bench: " << e.what() << "\n";
    return 1;
  }
}
