// Deterministic simulator: N cluster::NodeCores in one process, one seeded PRNG, manual time.
//
// Everything that happens is an event on one queue ordered by (simulated time, insertion order):
// message deliveries, storage completions, ticks, client operations, crashes, restarts and
// partitions. Each node has a real Engine (RocksDB) in its own temp dir on a fault-injecting Env,
// so a crash can drop everything not synced (power loss). The only randomness is the simulator's
// PRNG (seeded) and the cores' own seeded PRNGs, so a seed replays the same trace; every event is
// hashed into the trace hash to prove it. See docs/design.md.
//
// Not thread-safe; RocksDB's own background threads never change what a Get returns.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cluster/node.h"
#include "engine/engine.h"
#include "history.h"

namespace causeway::sim {

// What a seed stands for (SimOptions::FromSeed): kMixed draws every fault, durability and
// workload knob from the seed; kRepair forces what replicas must repair without client reads:
// long partitions and outages, power-loss crashes of `periodic` nodes, many deletes and a hint
// budget small enough to overflow; kMembership adds nodes that join (and bootstrap by
// streaming) while partitions, crashes and clock faults go on.
enum class SeedKind { kMixed, kRepair, kMembership };

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 5;
  int rf = 3;
  int sessions = 4;
  int keys = 6;
  uint64_t client_phase_ms = 15000;  // clients and faults run this long, then the settle phase
  // Network: each message takes a uniform delay in [delay_min_ms, delay_max_ms] (so messages
  // reorder), and with slow_probability 10x that.
  uint64_t delay_min_ms = 1;
  uint64_t delay_max_ms = 15;
  double slow_probability = 0.02;
  double drop_probability = 0.0;
  double duplicate_probability = 0.0;
  bool partitions = false;
  bool asymmetric_partitions = false;  // some partitions block one direction only
  bool crashes = false;                // power-loss crash-restarts
  int joins = 0;                       // nodes that join during the client phase (at most)
  // How long a partition lasts and a crashed node stays down (uniform from the minimum).
  uint64_t partition_ms_max = 5000;
  uint64_t downtime_ms_max = 4000;
  int delete_percent = 15;  // of client operations (reads are 50%, writes the rest)
  // Each node's per-target hint budget (EngineOptions::hint_bytes_per_target_max); a few hundred
  // bytes hold only a few hints, so writes to a replica that is away overflow it.
  uint64_t hint_bytes_per_target_max = kHintBytesPerTargetMaxDefault;
  // Every node compacts its data every compaction_ms_min..2x that (0: never), so the tombstone
  // GC runs; the settle phase keeps compacting.
  uint64_t compaction_ms_min = 0;
  // NodeConfig::tombstone_grace_ms, with watermarks handed over every second (0: the defaults,
  // an hour and a minute, so nothing is purged within a run).
  uint64_t tombstone_grace_ms = 0;
  // NodeConfig::aae_interval_ms (0: the default). Shorter, a node's exchanges go round its
  // (range, peer) pairs faster, so watermarks rise (and the GC purges) within a run.
  uint64_t aae_interval_ms = 0;
  // Durability: every node `always`, every node `periodic`, or a mix.
  enum class Durability { kAlways, kPeriodic, kMixed } durability = Durability::kAlways;
  uint64_t periodic_sync_ms = 1000;  // simulated background SyncWal period for `periodic`
  uint64_t clock_skew_max_ms = 200;  // |skew| per node; pairwise < 2x this < max_offset
  // Bad clocks: some nodes start up to clock_fault_max_ms off, and during the client phase
  // clocks jump forward or back by up to that much and are fixed again (back within
  // clock_skew_max_ms). At most a minority is bad at any time; the settle phase fixes all.
  bool clock_faults = false;
  uint64_t clock_fault_max_ms = 300000;
  uint64_t storage_delay_max_ms = 2;  // OnStorageDone comes 0..this after the StorageAction
  bool final_restart_all = true;      // settle phase restarts every node (clean restart)
  // After healing, with no client reads, every replica of every key must hold the same version
  // and every hint be replayed within this much simulated time (hints and anti-entropy alone
  // repair them).
  uint64_t converge_deadline_ms = 30000;
  // Tests the checkers end to end: every node's disk acknowledges applies of the first key
  // without storing them, so acknowledged writes of it must be reported lost.
  bool sabotage_lying_disk = false;
  // Tests the clock checkers end to end: every clock is opened with a max offset far beyond the
  // clock faults, so nothing is rejected or fenced and bad clocks stamp acknowledged writes.
  bool sabotage_trust_bad_clocks = false;
  // Tests the resurrection checker end to end: every engine purges every tombstone at its next
  // compaction (watermark at the top, whatever the core asks), and nodes compact often, so a
  // replica that missed a delete brings the old value back.
  bool sabotage_eager_tombstone_gc = false;
  // Tests the convergence checker end to end: the network drops every anti-entropy request, so
  // no exchange ever completes.
  bool sabotage_no_anti_entropy = false;
  std::string base_dir;  // empty: $CAUSEWAY_SIM_DIR, /dev/shm or $TMPDIR
  std::string replay;    // how to replay this run (printed on failure)

  SeedKind kind = SeedKind::kMixed;

  // The configuration a seed stands for: node count (3..7 unless nodes_override), faults and
  // durability all derived from the seed (and its kind), so `tests/sim/run --seed S` (with
  // `--kind repair` for kRepair) replays it.
  static SimOptions FromSeed(uint64_t seed, int nodes_override = 0,
                             SeedKind kind = SeedKind::kMixed);
  std::string Describe() const;
};

struct SimReport {
  uint64_t trace_hash = 0;
  std::vector<std::string> violations;
  uint64_t events = 0, messages = 0, dropped = 0, ops_ok = 0, ops_failed = 0, ops_unknown = 0;
  uint64_t crashes = 0, partitions = 0, sim_ms = 0, clock_faults = 0, joins = 0;
  // Repair without client reads: simulated ms from healing until every replica agreed (0: never
  // did), hint stores refused over budget, anti-entropy messages sent, compactions run and the
  // tombstones they purged.
  uint64_t converge_ms = 0, hints_over_budget = 0, aae_messages = 0;
  uint64_t compactions = 0, tombstones_purged = 0;
  std::vector<std::string> trace_tail;  // the last events, for failure messages
  bool ok() const { return violations.empty(); }
  std::string Summary() const;
};

class Simulator {
 public:
  explicit Simulator(SimOptions options);
  ~Simulator();  // closes every engine and removes the temp dirs
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // The whole scenario: start the nodes, let them converge, run clients and faults, settle
  // (heal, restart, wait with no reads for the replicas to agree), check. Returns the report with
  // every violation found.
  SimReport Run();

  // ---- building blocks (also used by the join-time test) --------------------------------------
  // Adds and starts node `index` (0-based); seeds are the first three nodes' addresses.
  void AddNode();
  void RunFor(uint64_t ms);
  // Runs until pred() holds, checking every check_ms; false if deadline_ms passed first.
  bool RunUntil(const std::function<bool()>& pred, uint64_t deadline_ms, uint64_t check_ms);
  // True if every up node sees every node in `ids` alive and up.
  bool AllKnow(const std::vector<NodeId>& ids);
  std::vector<NodeId> AllIds() const;
  uint64_t now_ms() const { return now_; }
  int node_count() const { return static_cast<int>(nodes_.size()); }
  NodeId node_id(int index) const;
  uint64_t trace_hash() const;
  const std::vector<Op>& history() const { return history_; }

 private:
  struct Node;
  class NodePorts;
  struct Session;
  struct Event {
    uint64_t at = 0;
    uint64_t seq = 0;
    std::function<void()> fn;
    bool operator>(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  // ---- engine of the simulation
  void Schedule(uint64_t delay_ms, std::function<void()> fn);
  bool Step();
  void Trace(const std::string& line);
  uint64_t Uniform(uint64_t lo, uint64_t hi);  // inclusive
  bool Chance(double p);

  // ---- nodes
  void StartNode(Node& n);
  void Crash(Node& n);
  void CleanRestart(Node& n);
  void ScheduleTick(Node& n);
  void SchedulePeriodicSync(Node& n);
  void ScheduleCompaction(Node& n);
  void Compact(Node& n);
  // The storage and reply ports of node `n` (NodePorts forwards here).
  void RunStorage(Node& n, const cluster::StorageAction& a);
  void OnReply(Node& n, cluster::RequestId id, const cluster::ClientResult& result);
  // Calls fn on node `index` if it is still the incarnation `incarnation` (else the event is
  // stale: it was meant for a process that has since crashed).
  void OnNode(int index, uint64_t incarnation, const std::function<void(Node&)>& fn);

  // ---- network
  void Send(Node& from, NodeId to_id, const std::string& address, cluster::PeerMessage message);
  void Deliver(int from, int to, uint64_t from_incarnation, const cluster::PeerMessage& m,
               uint64_t sent_ms);
  // A request waits for its answer until the peer call's deadline, then fails (OnSendFailed).
  void StartCall(Node& from, NodeId to, cluster::RequestId id, const cluster::PeerMessage& request);
  void Lost(int from, uint64_t from_incarnation, NodeId to, const cluster::PeerMessage& m,
            uint64_t sent_ms);
  bool Blocked(int from, int to) const;
  int IndexOf(NodeId id, const std::string& address) const;

  // ---- faults
  void ScheduleChaos();
  void Chaos();
  bool MayCrashNow() const;
  void StartPartition();
  void HealAll();
  int64_t GoodSkew();
  int64_t BadSkew();
  void SetSkew(Node& n, int64_t skew_ms);
  void ClockChaos();

  // ---- clients
  void StartClients();
  void ClientNext(Session& s);
  void ClientGiveUp(uint64_t request_id);
  // A random R or W (default, one, quorum, all or a number); *resolved gets it against rf.
  cluster::Consistency RandomConsistency(int dflt, int* resolved);
  int RandomUpNode();  // -1 if none

  // ---- settle and check
  void Settle(SimReport& report);
  void FillReport(SimReport& report);
  std::vector<int> Replicas(const std::string& key, std::vector<std::string>* problems);
  bool Converged(std::vector<std::string>* problems);
  // Runs, with no client reads, until Converged (true) or deadline_ms passed (false); checks for
  // resurrections at every look.
  bool AwaitConvergence(uint64_t deadline_ms, std::vector<std::string>* problems);
  // Runs kConvergedStableMs more; false (and violations) if the replicas no longer agree.
  bool StaysConverged(SimReport& report, const std::string& after);
  void CheckFinalState(SimReport& report, bool converged);
  std::optional<Version> ReadEngine(int index, const std::string& key);
  // The tombstone GC watermark node `index`'s core set for key's range (0: none yet).
  Hlc WatermarkOf(int index, const std::string& key) const;
  // Tombstones known durable somewhere: applied on an `always` node, synced on a `periodic` one,
  // or acknowledged deletes the durability rule protects (durable_tombstones_ keeps the first
  // two kinds; the third is read from the history).
  void NoteTombstoneApplied(Node& n, const std::string& key, const Version& v);
  void NoteSynced(Node& n);
  // No deleted key resurrected: no replica holds a live version older than a durable tombstone
  // of its key whose write began before that tombstone was durable (ResurrectedPast). `global`:
  // any durable tombstone counts (only meaningful once converged: before, a replica that missed a
  // delete still holds what it had); otherwise only those durable on the replica itself. Adds each
  // new finding to violations_.
  void CheckResurrections(const std::string& when, bool global);

  SimOptions options_;
  std::mt19937_64 rng_;
  uint64_t now_ = 0;
  uint64_t event_seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Session>> sessions_;
  std::vector<Op> history_;
  std::map<uint64_t, size_t> pending_ops_;  // request id -> history index
  // Peer calls in flight, by (requester index, its incarnation, request id), until their
  // deadline; `settled` once answered.
  using CallKey = std::tuple<int, uint64_t, cluster::RequestId>;
  struct Call {
    NodeId to = 0;
    cluster::PeerMessage request;
    bool settled = false;
  };
  std::map<CallKey, Call> calls_;
  uint64_t next_request_id_ = 1;
  bool clients_running_ = false;
  bool chaos_running_ = false;
  bool faults_enabled_ = true;  // network drop/duplicate apply
  // Partition: side_[i] is node i's group; blocked when groups differ (one direction only if
  // partition_one_way_: from group 0 to group 1).
  bool partitioned_ = false;
  bool partition_one_way_ = false;
  std::vector<int> side_;
  uint64_t last_crash_ms_ = 0;
  bool periodic_crashed_ = false;  // a `periodic` node lost power: W=1 writes are exempt
  std::vector<std::string> keys_;
  std::string dir_;
  // Trace: an xxHash64 of every event line, and the last lines for failure messages.
  void* trace_state_ = nullptr;
  std::ofstream trace_file_;  // every line, when $CAUSEWAY_SIM_TRACE names a file
  std::vector<std::string> trace_tail_;
  size_t trace_tail_next_ = 0;
  SimReport stats_;
  std::vector<std::string> violations_;  // found while running (the HLC went backwards)
  std::map<std::string, std::vector<DurableTombstone>> durable_tombstones_;  // key -> tombstones
  std::map<std::string, SimDot> newest_tombstone_applied_;  // on any node, durable or not
  std::map<std::string, bool> resurrections_seen_;          // "node key" already reported
  // Built when the settle phase starts (the history no longer grows): (key, value) -> its write.
  std::map<std::pair<std::string, std::string>, const Op*> writes_by_value_;
};

}  // namespace causeway::sim
