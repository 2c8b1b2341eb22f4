// converge_bench: how fast three replicas converge by themselves, and what it costs (issue 9,
// "Targets"). One run, one JSON object on stdout (progress on stderr):
//
//   convergence  3 nodes rf=3 (`causeway local up`), N keys of 1 KiB written W=all; n3 killed
//                (-9); 10% of the keys overwritten and 1% deleted, W=2 through n1 and n2; n3
//                restarted. Measured: seconds from the restart until the replicas of every key
//                of a sample (the changed keys first) agree, seen with Explain, which reads every
//                replica and repairs nothing: no client read is made. Then, where `causeway
//                repair` exists, one repair of everything, whose keys_differed must be 0 (a full
//                check, not a sample); and the nodes' anti-entropy and hint counters, where
//                `status --json` has them.
//   idle         % of one core each node's process used (utime + stime from /proc/PID/stat)
//                over 30 s with nothing written or read, after the cluster settled.
//   foreground   `causeway bench` p99 (W=2, R=1, 50/50, 1 KiB, its own keys), in rounds that
//                run each condition once, in rotated order: "quiet" (nothing differs; the
//                scheduled exchanges run), "repair" (`causeway repair` in a loop beside it, if
//                this causeway has the command), "converging" (n3 just restarted after missing
//                10% overwrites and 1% deletes again: hint replay and exchanges at work).
//                Medians per condition and their ratio to "quiet".
//
// Environment (defaults): CAUSEWAY_BIN (the build's bin/causeway), CONVERGE_KEYS (100000),
// CONVERGE_SAMPLE (1000 keys explained), CONVERGE_BOUND_S (300, the longest it waits for
// convergence), CONVERGE_SETTLE_S (10), CONVERGE_IDLE_S (30), CONVERGE_ROUNDS (3 of each),
// CONVERGE_ROUND_S (10), BENCH_HOST (127.0.0.1), TMPDIR.
// A benchmark, not a test: not in CI (docs/performance.md, "Convergence (issue 9)").
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/strings.h"
#include "rpc/client.h"

namespace causeway {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

#ifdef CAUSEWAY_BIN
constexpr const char* kDefaultBin = CAUSEWAY_BIN;  // the build's own binary
#else
constexpr const char* kDefaultBin = "build/bin/causeway";
#endif
constexpr size_t kValueBytes = 1024;
constexpr size_t kOverwriteEvery = 10;  // keys i % 10 == 0: 10% overwritten while n3 is down
constexpr size_t kDeleteEvery = 100;    // keys i % 100 == 5: 1% deleted while n3 is down
constexpr size_t kDeleteOffset = 5;
constexpr size_t kWindow = 128;            // puts in flight while loading
constexpr size_t kClientConnections = 4;   // of the loading client
constexpr uint64_t kPollMs = 200;          // between two explain passes
constexpr uint64_t kRepairTimeoutS = 600;  // one `causeway repair` run
constexpr size_t kOutputBytesMax = 1 << 20;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? std::strtoull(text, nullptr, 10) : fallback;
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? text : fallback;
}

double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

struct Output {
  int exit_code = -1;
  std::string out;
};

// Runs a shell command line; stdout captured (at most kOutputBytesMax), stderr passed through.
Output Run(const std::string& command) {
  Output result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) {
    if (result.out.size() < kOutputBytesMax) result.out.append(buf, n);
  }
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The last line of `text` that parses as a JSON object (null if none).
json LastJson(const std::string& text) {
  std::istringstream lines(text);
  json last;
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) last = std::move(j);
  }
  return last;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// A `causeway local` cluster in its own folder; the destructor takes it down.
class LocalCluster {
 public:
  LocalCluster(std::string bin, std::string dir) : bin_(std::move(bin)), dir_(std::move(dir)) {}
  ~LocalCluster() {
    if (up_) Run(bin_ + " local down --dir " + dir_ + " >/dev/null 2>&1");
  }

  bool Up(const std::string& host) {
    Output o = Run(
        StrCat(bin_, " local up --nodes 3 --rf 3 --sync periodic --host ", host, " --dir ", dir_));
    up_ = true;
    const std::string tag = "endpoints: ";
    size_t at = o.out.find(tag);
    if (o.exit_code != 0 || at == std::string::npos) return false;
    endpoints_ = o.out.substr(at + tag.size());
    endpoints_ = endpoints_.substr(0, endpoints_.find('\n'));
    return true;
  }
  bool Local(const std::string& what) {
    return Run(bin_ + " local " + what + " --dir " + dir_ + " >&2").exit_code == 0;
  }
  // name -> address and pid, from DIR/cluster.json (rewritten by restart).
  json Nodes() const {
    std::ifstream in(dir_ + "/cluster.json");
    json cluster = json::parse(in, nullptr, /*allow_exceptions=*/false);
    return cluster.is_object() ? cluster["nodes"] : json::array();
  }
  std::string Address(const std::string& name) const {
    for (const auto& n : Nodes()) {
      if (n.value("name", "") == name) return n.value("address", "");
    }
    return "";
  }
  const std::string& endpoints() const { return endpoints_; }

 private:
  std::string bin_, dir_, endpoints_;
  bool up_ = false;
};

std::string Key(size_t i) { return StrCat("cv:", i); }
bool Overwritten(size_t i) { return i % kOverwriteEvery == 0; }
bool Deleted(size_t i) { return i % kDeleteEvery == kDeleteOffset; }

Client MakeClient(const std::vector<std::string>& endpoints, size_t connections) {
  ClientOptions options;
  options.endpoints = endpoints;
  options.connections = connections;
  return Client(options);
}

// Puts every key i in [0, n) with pick(i) at `w`, kWindow calls in flight, each without a session
// (a token would grow with the keys); returns how many failed.
uint64_t PutAll(Client* client, size_t n, const std::function<bool(size_t)>& pick,
                const std::string& value, cluster::Consistency w) {
  CallOptions options;
  options.consistency = w;
  size_t next = 0, in_flight = 0;
  uint64_t failed = 0;
  std::function<void()> refill = [&] {
    while (in_flight < kWindow) {
      while (next < n && !pick(next)) ++next;
      if (next >= n) return;
      ++in_flight;
      client->set_session({});
      client->StartPut(Key(next++), value, options, [&](const Result<Version>& r) {
        failed += r.ok() ? 0 : 1;
        --in_flight;
        refill();
      });
    }
  };
  refill();
  while (in_flight > 0) client->Wait();
  return failed;
}

// True if Explain shows every replica of `key` answering with the same version (or all absent).
bool ReplicasAgree(Client* client, const std::string& key) {
  auto e = client->Explain(key);
  if (!e.ok() || !e->status.ok() || e->replicas.size() != 3) return false;
  const auto& first = e->replicas[0].version;
  for (const auto& r : e->replicas) {
    if (!r.status.ok() || r.version.has_value() != first.has_value()) return false;
    if (r.version && (!r.version->SameDot(*first) || r.version->tombstone != first->tombstone)) {
      return false;
    }
  }
  return true;
}

// The keys to explain: up to 90% of `sample` from the changed keys, the rest unchanged ones.
std::vector<std::string> Sample(size_t keys, size_t sample, std::mt19937_64* rng) {
  std::vector<size_t> changed, unchanged;
  for (size_t i = 0; i < keys; ++i)
    (Overwritten(i) || Deleted(i) ? changed : unchanged).push_back(i);
  std::shuffle(changed.begin(), changed.end(), *rng);
  std::shuffle(unchanged.begin(), unchanged.end(), *rng);
  changed.resize(std::min(changed.size(), sample * 9 / 10));
  unchanged.resize(std::min(unchanged.size(), sample - changed.size()));
  std::vector<std::string> out;
  out.reserve(changed.size() + unchanged.size());
  for (size_t i : changed) out.push_back(Key(i));
  for (size_t i : unchanged) out.push_back(Key(i));
  return out;
}

// Polls Explain over the keys that still differ until none does or `bound_s` passes; returns
// {"seconds" since `since`, "left", "passes", "differed_at_first"}.
json WaitAgreement(Client* client, std::vector<std::string> left, SteadyClock::time_point since,
                   double bound_s) {
  size_t passes = 0, first = 0;
  while (!left.empty() && SecondsSince(since) < bound_s) {
    std::vector<std::string> still;
    for (const auto& key : left) {
      if (!ReplicasAgree(client, key)) still.push_back(key);
    }
    if (passes++ == 0) first = still.size();
    left = std::move(still);
    if (!left.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
  return {{"seconds", SecondsSince(since)},
          {"left", left.size()},
          {"passes", passes},
          {"differed_at_first", first}};
}

// Each node's counters whose names start with "aae", "anti_entropy" or "hint", from
// `status --json` (none from a causeway whose status predates them).
json Counters(const std::string& bin, const std::string& endpoints) {
  json status = LastJson(Run(bin + " status --json --endpoints " + endpoints).out);
  json out = json::object();
  if (!status.is_object()) return out;
  for (const auto& row : status["nodes"]) {
    json mine = json::object();
    for (const auto& [name, value] : row.items()) {
      if (name.rfind("aae", 0) == 0 || name.rfind("anti_entropy", 0) == 0 ||
          name.rfind("hint", 0) == 0) {
        mine[name] = value;
      }
    }
    out[row.value("name", "?")] = mine;
  }
  return out;
}

// utime + stime of `pid`, in clock ticks (0 if unreadable).
uint64_t CpuTicks(int pid) {
  std::ifstream in(StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {  // fields 14 and 15 (1-based in proc(5))
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return utime + stime;
}

// % of one core each node used over `seconds` of nothing.
json IdleCpu(const LocalCluster& cluster, uint64_t seconds) {
  json nodes = cluster.Nodes();
  std::vector<uint64_t> before;
  for (const auto& n : nodes) before.push_back(CpuTicks(n.value("pid", 0)));
  auto start = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const double elapsed = SecondsSince(start);
  const double ticks_per_s = static_cast<double>(::sysconf(_SC_CLK_TCK));
  json out = json::object();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const double used_s =
        static_cast<double>(CpuTicks(nodes[i].value("pid", 0)) - before[i]) / ticks_per_s;
    out[nodes[i].value("name", "?")] = std::round(1000 * 100 * used_s / elapsed) / 1000;
  }
  return out;
}

struct Env {
  std::string bin, host, dir;
  size_t keys, sample;
  double bound_s;
  uint64_t settle_s, idle_s, rounds, round_s;
};

// Whether this causeway has `causeway repair` (its help lists the subcommand; `causeway repair
// --help` alone would print the top-level help of a binary without it, and exit 0).
bool HasRepair(const std::string& bin) {
  std::istringstream help(Run(bin + " --help 2>/dev/null").out);
  for (std::string line; std::getline(help, line);) {
    if (line.rfind("  repair ", 0) == 0) return true;
  }
  return false;
}

json RepairOnce(const Env& env, const std::string& endpoints) {
  return LastJson(Run(StrCat(env.bin, " repair --json --timeout-s ", kRepairTimeoutS,
                             " --endpoints ", endpoints, " 2>/dev/null"))
                      .out);
}

// `causeway bench` for `seconds` (W=2, R=1, 50/50, 1 KiB, 10,000 keys of its own, preloaded by
// the first call only); with `repair`, `causeway repair` runs in a loop beside it.
json BenchRound(const Env& env, const std::string& endpoints, double seconds, bool repair,
                bool preload) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> repairs{0};
  std::thread looper;
  if (repair) {
    looper = std::thread([&] {
      while (!stop.load()) {
        if (RepairOnce(env, endpoints).is_object()) ++repairs;
      }
    });
  }
  json result = LastJson(
      Run(StrCat(env.bin, " bench --endpoints ", endpoints, " --duration-s ",
                 std::to_string(seconds),
                 " --w 2 --r 1 --connections 16 --outstanding 4 --keys 10000 --value-bytes ",
                 kValueBytes, " --read-ratio 0.5", preload ? "" : " --no-preload", " 2>/dev/null"))
          .out);
  stop.store(true);
  if (looper.joinable()) looper.join();
  if (result.is_object() && repair) result["repairs_completed"] = repairs.load();
  return result;
}

std::vector<std::string> Split(const std::string& list) {
  std::vector<std::string> out;
  std::istringstream in(list);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

// Kills n3 (-9), then overwrites 10% of the keys with values of `fill` and deletes 1%, W=2
// through n1 and n2 (n3 misses them all); returns what it did.
json Diverge(const Env& env, LocalCluster* cluster, char fill) {
  cluster->Local("kill --node n3");
  auto down = SteadyClock::now();
  json out;
  Client client = MakeClient({cluster->Address("n1"), cluster->Address("n2")}, kClientConnections);
  out["overwrite_failures"] = PutAll(&client, env.keys, Overwritten, std::string(kValueBytes, fill),
                                     cluster::Consistency::Number(2));
  CallOptions two;
  two.consistency = cluster::Consistency::Number(2);
  uint64_t deleted = 0, failed = 0;
  for (size_t i = 0; i < env.keys; ++i) {
    if (!Deleted(i)) continue;
    client.set_session({});
    failed += client.Delete(Key(i), two).ok() ? 0 : 1;
    ++deleted;
  }
  out["overwritten"] = (env.keys + kOverwriteEvery - 1) / kOverwriteEvery;
  out["deleted"] = deleted;
  out["delete_failures"] = failed;
  out["down_s"] = SecondsSince(down);
  return out;
}

// Restarts n3 and explains a sample until its replicas agree (no client reads); returns
// WaitAgreement's figures, seconds counted from the restart.
json RestartAndWait(const Env& env, LocalCluster* cluster, const std::function<void()>& meanwhile) {
  auto restart = SteadyClock::now();
  cluster->Local("restart --node n3");
  const double listening_s = SecondsSince(restart);
  if (meanwhile) meanwhile();
  std::mt19937_64 rng(1);
  std::vector<std::string> sample = Sample(env.keys, env.sample, &rng);
  Client client = MakeClient({cluster->Address("n1")}, 1);
  json out = WaitAgreement(&client, sample, restart, env.bound_s);
  out["restart_to_listening_s"] = listening_s;
  out["sample_keys"] = sample.size();
  return out;
}

// The convergence phase: N keys written W=all, diverged, n3 restarted, the wait for agreement,
// then the full check and the counters.
json Converge(const Env& env, LocalCluster* cluster) {
  json out;
  auto start = SteadyClock::now();
  std::cerr << "converge_bench: writing " << env.keys << " keys of 1 KiB, W=all\n";
  {
    Client client = MakeClient(Split(cluster->endpoints()), kClientConnections);
    out["load_failures"] = PutAll(
        &client, env.keys, [](size_t) { return true; }, std::string(kValueBytes, 'a'),
        cluster::Consistency::All());
  }
  out["load_s"] = SecondsSince(start);
  std::cerr << "converge_bench: n3 down; overwriting 10% and deleting 1%, W=2\n";
  out["diverged"] = Diverge(env, cluster, 'b');
  std::cerr << "converge_bench: restarting n3; explaining a sample until its replicas agree\n";
  json convergence = RestartAndWait(env, cluster, nullptr);
  convergence["check"] = "explain (every replica, no repair) of the sample, changed keys first";
  convergence["full_check"] = nullptr;
  if (HasRepair(env.bin)) {
    std::cerr << "converge_bench: full check: causeway repair --json\n";
    auto t = SteadyClock::now();
    convergence["full_check"] = {{"kind", "causeway repair --json (keys_differed 0: identical)"},
                                 {"result", RepairOnce(env, cluster->endpoints())},
                                 {"seconds", SecondsSince(t)}};
  }
  convergence["counters"] = Counters(env.bin, cluster->endpoints());
  out["convergence"] = convergence;
  return out;
}

// Foreground p99 in rounds; each round runs every condition once, the order rotated per round:
// "quiet" (replicas identical, only the scheduled exchanges), "repair" (`causeway repair` in a
// loop, if this causeway has it), "converging" (n3 restarted just before, having missed 10% of
// the keys' overwrites and 1% deletes: hint replay and exchanges at work, the agreement wait
// after the round). Medians per condition and their ratio to "quiet".
json Foreground(const Env& env, LocalCluster* cluster) {
  std::vector<std::string> conditions = {"quiet", "converging"};
  if (HasRepair(env.bin)) conditions.insert(conditions.begin() + 1, "repair");
  BenchRound(env, cluster->endpoints(), 0.1, false, /*preload=*/true);
  std::map<std::string, std::vector<double>> p99;
  json rounds = json::array();
  for (uint64_t r = 0; r < env.rounds; ++r) {
    for (size_t c = 0; c < conditions.size(); ++c) {
      const std::string& condition = conditions[(c + r) % conditions.size()];
      std::cerr << "converge_bench: foreground round " << r + 1 << ", " << condition << "\n";
      json row = {{"condition", condition}};
      json b;
      auto bench = [&] {
        b = BenchRound(env, cluster->endpoints(), static_cast<double>(env.round_s),
                       condition == "repair", false);
      };
      if (condition == "converging") {
        Diverge(env, cluster, static_cast<char>('c' + r));
        row["agreement"] = RestartAndWait(env, cluster, bench);
      } else {
        bench();
      }
      if (!b.is_object()) continue;
      p99[condition].push_back(b.value("p99_ms", 0.0));
      for (const char* f : {"p99_ms", "p50_ms", "ops_per_s", "errors", "repairs_completed"}) {
        if (b.contains(f)) row[f] = b[f];
      }
      rounds.push_back(row);
    }
  }
  json out = {{"rounds", rounds}};
  const double quiet = Median(p99["quiet"]);
  for (const auto& condition : conditions) {
    const double m = Median(p99[condition]);
    out["median_p99_ms"][condition] = m;
    out["p99_ratio_to_quiet"][condition] = quiet > 0 ? std::round(1000 * m / quiet) / 1000 : 0.0;
  }
  if (!HasRepair(env.bin)) out["note"] = "this causeway has no `repair` command";
  return out;
}

int Main() {
  Env env;
  env.bin = EnvOr("CAUSEWAY_BIN", std::string(kDefaultBin));
  env.host = EnvOr("BENCH_HOST", std::string("127.0.0.1"));
  env.keys = EnvOr("CONVERGE_KEYS", 100000);
  env.sample = EnvOr("CONVERGE_SAMPLE", 1000);
  env.bound_s = static_cast<double>(EnvOr("CONVERGE_BOUND_S", 300));
  env.settle_s = EnvOr("CONVERGE_SETTLE_S", 10);
  env.idle_s = EnvOr("CONVERGE_IDLE_S", 30);
  env.rounds = EnvOr("CONVERGE_ROUNDS", 3);
  env.round_s = EnvOr("CONVERGE_ROUND_S", 10);
  if (::access(env.bin.c_str(), X_OK) != 0) {
    std::cerr << "converge_bench: no binary at " << env.bin << "; build first\n";
    return 1;
  }
  std::string tmp = EnvOr("TMPDIR", std::string("/tmp")) + "/causeway-converge-XXXXXX";
  if (::mkdtemp(tmp.data()) == nullptr) return 1;
  env.dir = tmp;
  json report = {{"keys", env.keys}, {"value_bytes", kValueBytes}};
  {
    LocalCluster cluster(env.bin, env.dir + "/cluster");
    if (!cluster.Up(env.host)) {
      std::cerr << "converge_bench: local up failed\n";
      return 1;
    }
    report.update(Converge(env, &cluster));
    std::this_thread::sleep_for(std::chrono::seconds(env.settle_s));
    std::cerr << "converge_bench: idle CPU over " << env.idle_s << " s\n";
    json before = Counters(env.bin, cluster.endpoints());
    report["idle_cpu_percent_of_core"] = IdleCpu(cluster, env.idle_s);
    report["idle_s"] = env.idle_s;
    report["idle_counters_before"] = before;
    report["idle_counters_after"] = Counters(env.bin, cluster.endpoints());
    report["foreground"] = Foreground(env, &cluster);
  }
  std::filesystem::remove_all(env.dir);
  double worst_idle = 0;
  for (const auto& [name, pct] : report["idle_cpu_percent_of_core"].items()) {
    worst_idle = std::max(worst_idle, pct.get<double>());
  }
  const json& ratios = report["foreground"]["p99_ratio_to_quiet"];
  auto within = [&](const char* condition) {
    return ratios.contains(condition) ? json(ratios[condition] <= 1.5) : json();
  };
  report["targets"] = {
      {"converged_within_30s_of_restart",
       report["convergence"]["left"] == 0 && report["convergence"]["seconds"] <= 30.0},
      {"idle_cpu_under_2pct_of_core", worst_idle < 2.0},
      {"p99_during_repair_within_1.5x", within("repair")},
      {"p99_during_convergence_within_1.5x", within("converging")}};
  std::cout << report.dump() << "\n";
  return 0;
}

}  // namespace
}  // namespace causeway

int main() { return causeway::Main(); }  // NOLINT(bugprone-exception-escape): a JSON error ends it
