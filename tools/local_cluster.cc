// `causeway local up | add | down | status | restart | kill`: a development cluster of real
// `causeway serve` processes on one host, like Cassandra's ccm.
//
// DIR/cluster.json records the cluster's settings (rf, sync, storage profile, how addresses are
// chosen) and, per node, its name, address, folder, log, pid and the exact serve arguments, so
// that `restart` starts a node again with the same flags and `add` plans the next one like the
// others. Nodes use storage_profile = small unless told otherwise (docs/operations.md). Nodes run
// detached (setsid), so they outlive the `local up` command; only pids whose command line still
// names their data dir are ever signalled.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/limits.h"
#include "engine/engine.h"
#include "rpc/client.h"
#include "tools/internal/commands.h"
#include "tools/internal/process.h"

namespace causeway::tools {
namespace {

using nlohmann::json;

constexpr uint64_t kProbeTimeoutMs = 1000;
constexpr uint64_t kMembershipWaitMs = 15000;
constexpr size_t kLocalAddSeeds = 3;  // an added node is seeded by this many existing ones

struct LocalFlags {
  std::string dir;
  int nodes = 3;
  int rf = 3;
  int base_port = 0;  // 0: free ports chosen by the kernel
  std::string host = "127.0.0.1";
  std::string sync = "periodic";
  std::string storage_profile = "small";  // many nodes share the machine
  bool host_per_node = false;             // node i on --host + (i - 1) in the last octet
  std::string node;                       // restart / kill
  std::string signal = "KILL";
  uint64_t stop_grace_ms = kLocalStopGraceMsDefault;
  bool json = false;
};

std::string ClusterFile(const std::string& dir) { return dir + "/cluster.json"; }

Result<json> LoadCluster(const std::string& dir) {
  std::ifstream in(ClusterFile(dir));
  if (!in) {
    return Status::InvalidArgument("no local cluster in " + dir +
                                   " (no cluster.json): start one "
                                   "with `causeway local up --dir " +
                                   dir + "`");
  }
  json cluster = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (cluster.is_discarded() || !cluster.contains("nodes")) {
    return Status::Corruption(ClusterFile(dir) + " is not a cluster file written by causeway");
  }
  return cluster;
}

Status SaveCluster(const std::string& dir, const json& cluster) {
  return WriteFileAtomic(ClusterFile(dir), cluster.dump(2) + "\n");
}

bool NodeRunning(const json& node) {
  return ProcessIsOurs(node.value("pid", 0), node["data_dir"].get<std::string>());
}

// Status of the node at `address`, with a short deadline.
Result<NodeStatusReply> Probe(const std::string& address) {
  Client client(ClientOptions{{address}, kProbeTimeoutMs, kProbeTimeoutMs});
  return client.Status();
}

// Members this node sees up and placed on the ring (a joining node has no tokens yet).
size_t MembersUp(const NodeStatusReply& reply) {
  size_t up = 0;
  for (const auto& m : reply.members) {
    up +=
        m.alive && m.state.status == cluster::MemberStatus::kUp && !m.state.tokens.empty() ? 1 : 0;
  }
  return up;
}

std::string LogTail(const json& node) {
  std::ifstream in(node["log"].get<std::string>());
  std::string line, tail;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  for (size_t i = lines.size() > 5 ? lines.size() - 5 : 0; i < lines.size(); ++i) {
    tail += "\n  | " + lines[i];
  }
  return tail;
}

// Starts the node described by `node` and records its pid in it.
Status StartNode(json& node) {
  std::vector<std::string> args = node["args"].get<std::vector<std::string>>();
  auto pid = SpawnDetached(SelfExe(), args, node["log"].get<std::string>());
  if (!pid.ok()) return pid.status();
  node["pid"] = *pid;
  return Status::Ok();
}

Status WaitAnswers(const json& node) {
  std::string address = node["address"].get<std::string>();
  bool up = WaitUntil([&] { return !NodeRunning(node) || Probe(address).ok(); },
                      kLocalStartWaitMsMax, 100);
  if (up && NodeRunning(node)) return Status::Ok();
  return Status::Unavailable(
      "node " + node["name"].get<std::string>() + " at " + address +
      (NodeRunning(node) ? " did not answer within " + std::to_string(kLocalStartWaitMsMax) + " ms"
                         : " exited") +
      "; the end of its log:" + LogTail(node));
}

// SIGTERM to every running node of `nodes`, SIGKILL to those still running after the grace time.
void StopNodes(const std::vector<json*>& nodes, uint64_t grace_ms, bool quiet) {
  std::vector<json*> running;
  for (json* n : nodes) {
    if (!NodeRunning(*n)) continue;
    ::kill(n->at("pid").get<pid_t>(), SIGTERM);
    running.push_back(n);
  }
  auto all_stopped = [&] {
    for (json* n : running) {
      if (NodeRunning(*n)) return false;
    }
    return true;
  };
  if (!WaitUntil(all_stopped, grace_ms)) {
    for (json* n : running) {
      if (!NodeRunning(*n)) continue;
      if (!quiet)
        std::cerr << "note: " << n->at("name").get<std::string>()
                  << " did not stop after SIGTERM; sending SIGKILL\n";
      ::kill(n->at("pid").get<pid_t>(), SIGKILL);
    }
    WaitUntil(all_stopped, grace_ms);
  }
  for (json* n : running) {
    if (!quiet) std::cout << "stopped " << n->at("name").get<std::string>() << "\n";
    (*n)["pid"] = 0;
  }
}

// The IPv4 address `host` with `offset` added to its last octet; an error past .254.
Result<std::string> HostPlus(const std::string& host, int offset) {
  const size_t dot = host.rfind('.');
  int last = -1;
  if (dot != std::string::npos) last = std::atoi(host.c_str() + dot + 1);
  if (last < 0 || last + offset > 254) {
    return Status::InvalidArgument("--host-per-node: " + host + " + " + std::to_string(offset) +
                                   " is not an IPv4 address below .255");
  }
  return host.substr(0, dot + 1) + std::to_string(last + offset);
}

// Node number `i` (1-based; named n<i>) of the cluster described by `settings` (the top-level
// fields of cluster.json), seeded by `seeds`.
Result<json> PlanNode(const json& settings, int i, const std::string& dir,
                      const std::string& seeds) {
  const int base_port = settings.value("base_port", 0);
  auto host = settings.value("host_per_node", false)
                  ? HostPlus(settings.value("host", "127.0.0.1"), i - 1)
                  : Result<std::string>(settings.value("host", "127.0.0.1"));
  if (!host.ok()) return host.status();
  int port = base_port + i - 1;
  if (base_port == 0) {
    auto free = FreePort(*host);
    if (!free.ok()) return free.status();
    port = *free;
  }
  std::string name = "n" + std::to_string(i);
  std::string folder = dir + "/" + name;
  std::string address = *host + ":" + std::to_string(port);
  std::filesystem::create_directories(folder);
  json args = {"serve",
               "--node-id",
               name,
               "--listen",
               address,
               "--data-dir",
               folder + "/data",
               "--seeds",
               seeds.empty() ? address : seeds,
               "--rf",
               std::to_string(settings.value("rf", 3)),
               "--sync",
               settings.value("sync", "periodic"),
               "--storage-profile",
               settings.value("storage_profile", "default"),
               "--tick-interval-ms",
               std::to_string(settings.value("tick_interval_ms", kTickIntervalMsDefault))};
  return json{{"name", name},
              {"address", address},
              {"dir", folder},
              {"data_dir", folder + "/data"},
              {"log", folder + "/log"},
              {"pid", 0},
              {"args", args}};
}

Result<json> PlanCluster(const LocalFlags& f) {
  json cluster = {{"version", 1},
                  {"rf", f.rf},
                  {"sync", f.sync},
                  {"storage_profile", f.storage_profile},
                  {"host", f.host},
                  {"host_per_node", f.host_per_node},
                  {"base_port", f.base_port},
                  {"tick_interval_ms", kTickIntervalMsLocal},
                  {"nodes", json::array()}};
  std::string seed;
  for (int i = 1; i <= f.nodes; ++i) {
    auto node = PlanNode(cluster, i, f.dir, seed);
    if (!node.ok()) return node.status();
    if (seed.empty()) seed = (*node)["address"].get<std::string>();
    cluster["nodes"].push_back(std::move(*node));
  }
  return cluster;
}

// Waits (bounded) until every node sees all others up, so that W=all works right away.
void WaitMembership(const json& cluster) {
  size_t n = cluster["nodes"].size();
  bool converged = WaitUntil(
      [&] {
        for (const auto& node : cluster["nodes"]) {
          auto reply = Probe(node["address"].get<std::string>());
          if (!reply.ok() || MembersUp(*reply) < n) return false;
        }
        return true;
      },
      kMembershipWaitMs, 200);
  if (!converged) {
    std::cerr << "note: the nodes do not all see each other yet; `causeway local status` shows "
                 "their view\n";
  }
}

Status CheckSettings(const LocalFlags& f) {
  if (f.nodes < 1 || f.nodes > static_cast<int>(kClusterNodesMax)) {
    return Status::InvalidArgument("--nodes must be 1.." + std::to_string(kClusterNodesMax));
  }
  if (f.rf < 1 || f.rf > std::min(f.nodes, kReplicationFactorMax)) {
    return Status::InvalidArgument("--rf must be 1..min(--nodes, " +
                                   std::to_string(kReplicationFactorMax) + ")");
  }
  if (f.base_port != 0 && (f.base_port < 1 || f.base_port + f.nodes - 1 > 65535)) {
    return Status::InvalidArgument("--base-port leaves no room for " + std::to_string(f.nodes) +
                                   " ports below 65536");
  }
  if (!ParseSyncMode(f.sync).ok()) {
    return Status::InvalidArgument("--sync must be always, periodic or none");
  }
  if (!ParseStorageProfile(f.storage_profile).ok()) {
    return Status::InvalidArgument("--storage-profile must be default or small");
  }
  if (f.host_per_node) {
    if (auto last = HostPlus(f.host, f.nodes - 1); !last.ok()) return last.status();
  }
  if (auto existing = LoadCluster(f.dir); existing.ok()) {
    for (const auto& node : (*existing)["nodes"]) {
      if (NodeRunning(node)) {
        return Status::InvalidArgument("a cluster is already running in " + f.dir +
                                       "; stop it with `causeway local down --dir " + f.dir + "`");
      }
    }
  }
  return Status::Ok();
}

int RunUp(LocalFlags f) {
  f.dir = std::filesystem::absolute(f.dir).string();
  if (Status s = CheckSettings(f); !s.ok()) return Fail(kExitUsage, s.message());
  auto cluster = PlanCluster(f);
  if (!cluster.ok()) return FailStatus("cannot plan the cluster", cluster.status());
  for (auto& node : (*cluster)["nodes"]) {
    if (Status s = StartNode(node); !s.ok()) return FailStatus("cannot start a node", s);
    if (Status s = SaveCluster(f.dir, *cluster); !s.ok()) return FailStatus("cannot save", s);
  }
  for (auto& node : (*cluster)["nodes"]) {
    if (Status s = WaitAnswers(node); !s.ok()) {
      std::vector<json*> all;
      for (auto& n : (*cluster)["nodes"]) all.push_back(&n);
      StopNodes(all, f.stop_grace_ms, /*quiet=*/true);
      SaveCluster(f.dir, *cluster).IgnoreError();
      return FailStatus("the cluster did not start; stopped it again", s);
    }
  }
  WaitMembership(*cluster);
  std::string endpoints;
  for (const auto& node : (*cluster)["nodes"]) {
    std::cout << "started " << node["name"].get<std::string>() << " at "
              << node["address"].get<std::string>() << " (pid " << node["pid"] << ", log "
              << node["log"].get<std::string>() << ")\n";
    endpoints += (endpoints.empty() ? "" : ",") + node["address"].get<std::string>();
  }
  std::cout << "endpoints: " << endpoints << "\n";
  return kExitOk;
}

// Seeds for a node added to `cluster`: up to kLocalAddSeeds of its nodes, first ones first.
std::string AddSeeds(const json& cluster) {
  std::string seeds;
  size_t used = 0;
  for (const auto& node : cluster["nodes"]) {
    if (used++ == kLocalAddSeeds) break;
    seeds += (seeds.empty() ? "" : ",") + node["address"].get<std::string>();
  }
  return seeds;
}

int RunAdd(const LocalFlags& f) {
  auto cluster = LoadCluster(f.dir);
  if (!cluster.ok()) return FailStatus("local add", cluster.status());
  int next = 0;
  for (const auto& node : (*cluster)["nodes"]) {
    next = std::max(next, std::atoi(node["name"].get<std::string>().c_str() + 1));
  }
  ++next;
  if (next > static_cast<int>(kClusterNodesMax)) {
    return Fail(kExitUsage, "the cluster has " + std::to_string(next - 1) + " nodes; at most " +
                                std::to_string(kClusterNodesMax));
  }
  auto node = PlanNode(*cluster, next, f.dir, AddSeeds(*cluster));
  if (!node.ok()) return FailStatus("cannot plan the new node", node.status());
  (*cluster)["nodes"].push_back(std::move(*node));
  json& added = (*cluster)["nodes"].back();
  if (Status s = StartNode(added); !s.ok()) return FailStatus("cannot start a node", s);
  if (Status s = SaveCluster(f.dir, *cluster); !s.ok()) return FailStatus("local add", s);
  if (Status s = WaitAnswers(added); !s.ok()) return FailStatus("local add", s);
  WaitMembership(*cluster);
  std::cout << "added " << added["name"].get<std::string>() << " at "
            << added["address"].get<std::string>() << " (pid " << added["pid"] << ", log "
            << added["log"].get<std::string>() << ")\n";
  return kExitOk;
}

int RunDown(const LocalFlags& f) {
  auto cluster = LoadCluster(f.dir);
  if (!cluster.ok()) return FailStatus("local down", cluster.status());
  std::vector<json*> all;
  for (auto& n : (*cluster)["nodes"]) all.push_back(&n);
  StopNodes(all, f.stop_grace_ms, /*quiet=*/false);
  if (Status s = SaveCluster(f.dir, *cluster); !s.ok()) return FailStatus("local down", s);
  return kExitOk;
}

json NodeState(const json& node) {
  json row = {{"name", node["name"]},
              {"address", node["address"]},
              {"pid", node["pid"]},
              {"log", node["log"]}};
  bool running = NodeRunning(node);
  row["process"] = running ? "running" : "stopped";
  if (!running) return row;
  auto reply = Probe(node["address"].get<std::string>());
  row["answers"] = reply.ok();
  if (reply.ok()) {
    row["keys"] = reply->keys;
    row["bytes"] = reply->bytes;
    row["members_up"] = MembersUp(*reply);
  } else {
    row["error"] = reply.status().ToString();
  }
  return row;
}

int RunLocalStatus(const LocalFlags& f) {
  auto cluster = LoadCluster(f.dir);
  if (!cluster.ok()) return FailStatus("local status", cluster.status());
  json rows = json::array();
  for (const auto& node : (*cluster)["nodes"]) rows.push_back(NodeState(node));
  if (f.json) {
    std::cout << json{{"dir", f.dir}, {"nodes", rows}}.dump() << "\n";
    return kExitOk;
  }
  std::printf("%-6s %-22s %-8s %-8s %-8s %-10s %-12s %s\n", "NAME", "ADDRESS", "PID", "PROCESS",
              "ANSWERS", "KEYS", "BYTES", "MEMBERS_UP");
  for (const auto& r : rows) {
    auto field = [&](const char* k) { return r.contains(k) ? r[k].dump() : std::string("-"); };
    std::printf("%-6s %-22s %-8s %-8s %-8s %-10s %-12s %s\n", r["name"].get<std::string>().c_str(),
                r["address"].get<std::string>().c_str(), field("pid").c_str(),
                r["process"].get<std::string>().c_str(), field("answers").c_str(),
                field("keys").c_str(), field("bytes").c_str(), field("members_up").c_str());
  }
  return kExitOk;
}

json* FindNode(json& cluster, const std::string& name) {
  for (auto& node : cluster["nodes"]) {
    if (node["name"] == name) return &node;
  }
  return nullptr;
}

int RunRestart(const LocalFlags& f) {
  auto cluster = LoadCluster(f.dir);
  if (!cluster.ok()) return FailStatus("local restart", cluster.status());
  json* node = FindNode(*cluster, f.node);
  if (node == nullptr) return Fail(kExitUsage, "no node named " + f.node + " in " + f.dir);
  StopNodes({node}, f.stop_grace_ms, /*quiet=*/false);
  if (Status s = StartNode(*node); !s.ok()) return FailStatus("cannot start " + f.node, s);
  if (Status s = SaveCluster(f.dir, *cluster); !s.ok()) return FailStatus("local restart", s);
  if (Status s = WaitAnswers(*node); !s.ok()) return FailStatus("restart of " + f.node, s);
  std::cout << "restarted " << f.node << " at " << (*node)["address"].get<std::string>() << " (pid "
            << (*node)["pid"] << ")\n";
  return kExitOk;
}

int RunKill(const LocalFlags& f) {
  static const std::pair<const char*, int> kSignals[] = {
      {"KILL", SIGKILL}, {"TERM", SIGTERM}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}};
  int sig = 0;
  for (const auto& [name, number] : kSignals) sig = f.signal == name ? number : sig;
  if (sig == 0) return Fail(kExitUsage, "--signal must be KILL, TERM, STOP or CONT");
  auto cluster = LoadCluster(f.dir);
  if (!cluster.ok()) return FailStatus("local kill", cluster.status());
  json* node = FindNode(*cluster, f.node);
  if (node == nullptr) return Fail(kExitUsage, "no node named " + f.node + " in " + f.dir);
  if (!NodeRunning(*node)) return Fail(kExitError, f.node + " is not running");
  ::kill((*node)["pid"].get<pid_t>(), sig);
  if (sig == SIGKILL) WaitUntil([&] { return !NodeRunning(*node); }, kLocalStopGraceMsDefault);
  std::cout << "sent SIG" << f.signal << " to " << f.node << " (pid " << (*node)["pid"] << ")\n";
  return kExitOk;
}

}  // namespace

void AddLocalCommands(CLI::App& app, CommandSlot* slot) {
  CLI::App* local = app.add_subcommand("local", "Run a development cluster on this host");
  local->require_subcommand(1);
  auto f = std::make_shared<LocalFlags>();
  auto add = [&](const char* name, const char* help, int (*run)(const LocalFlags&)) {
    CLI::App* cmd = local->add_subcommand(name, help);
    cmd->add_option("--dir", f->dir, "the cluster's folder (holds cluster.json, nN/ per node)")
        ->required();
    cmd->add_option("--stop-grace-ms", f->stop_grace_ms, "SIGTERM, then SIGKILL after this")
        ->capture_default_str();
    cmd->callback([f, slot, run] { *slot = [f, run] { return run(*f); }; });
    return cmd;
  };
  CLI::App* up =
      add("up", "Start N `causeway serve` processes", [](const LocalFlags& x) { return RunUp(x); });
  up->add_option("--nodes", f->nodes, "number of nodes")->capture_default_str();
  up->add_option("--rf", f->rf, "replication factor")->capture_default_str();
  up->add_option("--base-port", f->base_port, "ports P..P+N-1 (default: free ports)");
  up->add_option("--host", f->host, "IPv4 address to bind")->capture_default_str();
  up->add_option("--sync", f->sync, "always|periodic|none")->capture_default_str();
  up->add_option("--storage-profile", f->storage_profile,
                 "RocksDB sizing of every node: small (many nodes per machine) or default")
      ->capture_default_str();
  up->add_flag("--host-per-node", f->host_per_node,
               "node i binds --host plus i-1 in the last octet (127.0.1.1, 127.0.1.2, ...)");
  add("add", "Start one more node like the others (next name and address), seeded by them", RunAdd);
  add("down", "Stop every node (SIGTERM, then SIGKILL)", RunDown);
  add("status", "Show each node's process and what it reports", RunLocalStatus)
      ->add_flag("--json", f->json, "print JSON");
  add("restart", "Stop (if running) and start one node with its recorded flags", RunRestart)
      ->add_option("--node", f->node, "node name, e.g. n2")
      ->required();
  CLI::App* kill = add("kill", "Send a signal to one node", RunKill);
  kill->add_option("--node", f->node, "node name, e.g. n2")->required();
  kill->add_option("--signal", f->signal, "KILL|TERM|STOP|CONT")->capture_default_str();
}

}  // namespace causeway::tools
