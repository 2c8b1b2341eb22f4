// Pieces shared by the simulator's .cc files: the simulated node and client session, the manual
// physical clock, and the failure type that aborts a run.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/hlc.h"
#include "cluster/driver.h"
#include "cluster/ports.h"
#include "cluster/session.h"
#include "engine/engine.h"
#include "sim.h"

namespace rocksdb {
class Env;
}
namespace causeway::testing {
class FaultInjectionFs;
}

namespace causeway::sim {

// Simulated wall clock: 2024-01-01 plus simulated time plus this node's skew.
inline constexpr uint64_t kSimEpochMs = 1704067200000ull;
// The engine's own periodic syncer runs on a real thread; it must never fire during a run (it
// would make what survives power loss depend on real time), so it gets a period far beyond any
// run, and the simulator calls SyncWal() itself every options.periodic_sync_ms of simulated time.
inline constexpr uint64_t kEngineSyncerOffMs = 7ull * 24 * 3600 * 1000;
// A client gives up on a request this long after the coordinator's own deadline (the coordinator
// crashed, so no answer will ever come): the operation is recorded as indeterminate.
inline constexpr uint64_t kClientGiveUpSlackMs = 1000;
inline constexpr uint64_t kClientThinkMsMax = 30;
// With a short tombstone grace (SimOptions::tombstone_grace_ms), watermarks move this often.
inline constexpr uint64_t kSimWatermarkIntervalMs = 1000;
// With `periodic` nodes, two crashes are at least the sync period plus this apart.
inline constexpr uint64_t kCrashSpacingSlackMs = 500;

// Aborts a run: setup or an engine call failed in a way no fault of the model explains.
struct SimFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class ManualPhysicalClock final : public PhysicalClock {
 public:
  ManualPhysicalClock(const uint64_t* now_ms, int64_t skew_ms) : now_(now_ms), skew_(skew_ms) {}
  uint64_t NowMs() override { return kSimEpochMs + *now_ + skew_; }
  void set_skew(int64_t skew_ms) { skew_ = skew_ms; }  // a step of the wall clock

 private:
  const uint64_t* now_;
  int64_t skew_;
};

// One simulated node's side of cluster::NodeDriver's ports: the simulator's network, its engine
// (with the trace and the scheduled completion delay), its client histories and its clock.
class Simulator::NodePorts final : public cluster::Transport,
                                   public cluster::StorageRunner,
                                   public cluster::ReplySink,
                                   public cluster::MonotonicClock {
 public:
  NodePorts(Simulator* sim, Node* node) : sim_(sim), node_(node) {}
  void Send(NodeId to, const std::string& address, cluster::PeerMessage message) override;
  void Run(cluster::StorageAction action) override;
  void StoreMeta(std::string name, std::string value) override;
  void SetTombstoneWatermarks(std::vector<SpanWatermark> marks) override;
  void StoreHlcCeiling(uint64_t ceiling_ms) override;
  void Reply(cluster::RequestId id, cluster::ClientResult result) override;
  void ExplainReply(cluster::RequestId id, cluster::ExplainResult result) override;
  cluster::TimeMs NowMs() override;

 private:
  Simulator* sim_;
  Node* node_;
};

struct Simulator::Node {
  int index = 0;
  std::string name, address;
  NodeId id = 0;
  std::string dir;
  SyncMode sync = SyncMode::kAlways;
  int64_t skew_ms = 0;
  bool bad_clock = false;     // skew beyond clock_skew_max_ms (clock_faults)
  uint64_t mono_base_ms = 0;  // the node's monotonic clock starts elsewhere than its peers'
  std::unique_ptr<ManualPhysicalClock> physical;
  // Declared in the order they are built; destroyed in reverse: driver, hlc, engine, env.
  std::shared_ptr<testing::FaultInjectionFs> fs;  // the node's disk: power loss happens here
  std::unique_ptr<rocksdb::Env> env;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<cluster::CeilingStore> ceiling;
  std::unique_ptr<HybridClock> hlc;
  std::unique_ptr<NodePorts> ports;
  std::unique_ptr<cluster::NodeDriver> driver;
  uint64_t incarnation = 0;  // bumped on every start and crash: stale events are dropped
  bool up = false;
  uint64_t generation = 0;
  Hlc last_hlc = 0;  // the clock's Last() when its process died: the next one must start above
  // The tombstone GC watermarks this incarnation's core set (none yet: nothing may be purged).
  std::vector<SpanWatermark> watermarks;
  // Tombstones applied on a `periodic` node since its last WAL sync: durable at the next sync or
  // clean restart, lost with a power loss.
  std::vector<DurableTombstone> unsynced_tombstones;

  uint64_t Mono(uint64_t now) const { return mono_base_ms + now; }
};

struct Simulator::Session {
  int index = 0;
  // The whole session, decoded, as the client library keeps it: a request carries its scope
  // for the key (SessionToken::ScopedTo) and the reply's version is folded in.
  cluster::SessionToken token;
  uint64_t seq = 0;      // operations issued
  uint64_t values = 0;   // values written (each value is unique: "s<index>v<n>")
  uint64_t request = 0;  // the outstanding request id, 0 if none
};

std::string DescribeMessage(const cluster::PeerMessage& m);

}  // namespace causeway::sim
