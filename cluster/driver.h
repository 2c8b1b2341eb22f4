// NodeDriver: the one place that carries out NodeCore's actions (STYLE.md 2).
//
// The server, the simulator and the table-test harness all run this class; each supplies its own
// implementations of the ports (cluster/ports.h). So the code that serves traffic is the code the
// simulator exercises, and a new mechanism (hints, anti-entropy, streaming) is written once.
//
// What the driver owns, beyond the core:
//  * the input queue: an input that arrives while the driver is carrying out actions (a message
//    to our own id, a storage completion reported from inside StorageRunner::Run) waits here and
//    is handled after the current one, so the core is never re-entered and nothing recurses;
//  * the meta-persist queue: PersistMetaAction records, newest value per name, stored one at a
//    time in name order so two stores of one name keep their order;
//  * the count of storage work in flight (for a bounded drain at stop);
//  * the clock's ceiling renewals: after each input, a ceiling the clock asked for that is not
//    durable yet is handed to StorageRunner::StoreHlcCeiling, one at a time (cluster/ceiling.h),
//    so nothing syncs on the driver's thread; it starts the ceiling store (after
//    HybridClock::Open), and never raises the ceiling from a wall clock the core's clock monitor
//    does not trust.
//
// Each input reads the time once from the MonotonicClock and passes it to the core.
//
// Not thread-safe: one event loop (or the simulator) owns it. The ports must outlive it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "base/hlc.h"
#include "cluster/ceiling.h"
#include "cluster/messages.h"
#include "cluster/node.h"
#include "cluster/ports.h"

namespace causeway::cluster {

struct DriverPorts {
  Transport* transport = nullptr;
  StorageRunner* storage = nullptr;
  ReplySink* replies = nullptr;
  MonotonicClock* clock = nullptr;
  // The clock's ceiling store, when the host persists the clock (null: nothing to renew).
  CeilingStore* ceiling = nullptr;
};

class NodeDriver {
 public:
  // `hlc` stamps the node's writes; like the ports it is borrowed.
  NodeDriver(NodeConfig config, HybridClock* hlc, DriverPorts ports);
  ~NodeDriver();
  NodeDriver(const NodeDriver&) = delete;
  NodeDriver& operator=(const NodeDriver&) = delete;

  // ---- client requests: each is answered exactly once through ReplySink, with `id`.
  void StartWrite(RequestId id, ClientWrite request);
  void StartRead(RequestId id, ClientRead request);
  void StartExplain(RequestId id, std::string key);
  // An on-demand anti-entropy repair (NodeCore::StartRepair): returns its id at once; the core
  // starts its exchanges on the following ticks. It yields no actions, so it is not queued; it
  // must not be called while the driver carries out actions (a host calls it from its loop).
  uint64_t StartRepair(const std::vector<TokenSpan>& spans);
  // Starts a decommission (NodeCore::StartDecommission): Ok or why it is refused, at once; the
  // core acts on the following ticks. Like StartRepair, a direct call, never queued, made from
  // the host's loop while the driver is idle.
  Status StartDecommission();

  // ---- from the ports
  void OnPeerMessage(NodeId from, PeerMessage message);
  void OnSendFailed(NodeId to, PeerMessage message);
  void OnStorageDone(uint64_t op_id, StorageResult result);
  void OnMetaStored(const std::string& name, const Status& status);
  void OnCeilingStored(uint64_t ceiling_ms, const Status& status);

  // Timeouts, gossip, failure detection, persistence and GC policy. Call at least every 50 ms.
  void Tick();
  // Before a stop that is not a leave (SIGTERM, a restart): the core stores its member view
  // (NodeCore::PrepareStop); the node stays a member. The host then drains until StorageIdle()
  // (the view's PersistMetaAction is stored then) and exits.
  void PrepareStop();

  // True when no storage work and no meta store is outstanding.
  bool StorageIdle() const {
    return storage_in_flight_ == 0 && !meta_writing_ && ceiling_storing_ == 0;
  }
  const NodeCore& core() const { return core_; }
  // The core itself, for table tests that feed it inputs directly and inspect the actions it
  // returns (bypassing the executor). Hosts never use it.
  NodeCore& mutable_core() { return core_; }
  TimeMs now() const { return ports_.clock->NowMs(); }

  struct Counters {
    uint64_t meta_stores = 0;          // PersistMetaAction records stored
    uint64_t meta_store_failures = 0;  // ... and failed (logged by the host, never fatal)
    uint64_t watermarks_set = 0;       // tombstone watermarks handed to the engine
    uint64_t ceilings_stored = 0;      // clock ceilings made durable through the storage runner
    uint64_t ceiling_store_failures = 0;
  };
  const Counters& counters() const { return counters_; }

 private:
  struct StartWriteInput {
    RequestId id;
    ClientWrite request;
  };
  struct StartReadInput {
    RequestId id;
    ClientRead request;
  };
  struct StartExplainInput {
    RequestId id;
    std::string key;
  };
  struct PeerInput {
    NodeId from;
    PeerMessage message;
  };
  struct SendFailedInput {
    NodeId to;
    PeerMessage message;
  };
  struct StorageInput {
    uint64_t op_id;
    StorageResult result;
  };
  struct TickInput {};
  struct StopInput {};
  using Input = std::variant<StartWriteInput, StartReadInput, StartExplainInput, PeerInput,
                             SendFailedInput, StorageInput, TickInput, StopInput>;

  // Handles `input` now, or queues it if the driver is already carrying out actions; then drains
  // the queue. The only caller of the core.
  void Submit(Input input);
  Actions Handle(Input& input, TimeMs now);
  void Execute(Action& action);
  void Send(SendAction& send);
  void Persist(PersistMetaAction& persist);
  void StoreNextMeta();
  void MaybeRenewCeiling();

  DriverPorts ports_;
  NodeCore core_;
  std::deque<Input> queue_;
  bool running_ = false;
  uint64_t storage_in_flight_ = 0;
  std::map<std::string, std::string> meta_pending_;  // name -> newest value not yet stored
  bool meta_writing_ = false;
  uint64_t ceiling_storing_ = 0;  // the ceiling being stored (0: none)
  Counters counters_;
};

}  // namespace causeway::cluster
