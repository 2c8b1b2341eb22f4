// Coordinator: drives client reads, writes and explains to completion (docs/design.md,
// "Coordinator"). Every request gets exactly one reply, by its deadline.
//
// Write: stamp a new version (HLC advanced past the session), send it to every live replica of
// the preference list (and to its pending replicas, uncounted), answer after W acknowledgements.
// Read: ask R live replicas (ourselves first), answer the LWW winner unless it is below the
// session's floor for the key; then ask every replica, retry every kSessionReadRetryMs, and at the
// deadline fail kUnavailable rather than answer stale. Stale replicas that answered are repaired.
//
// Not thread-safe; owned by NodeCore.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/hlc.h"
#include "cluster/messages.h"
#include "cluster/node.h"
#include "cluster/session.h"

namespace causeway::cluster::internal {

// What a coordinator needs to know about the cluster; NodeCore implements it.
class ClusterView {
 public:
  virtual ~ClusterView() = default;
  virtual NodeId self_id() const = 0;
  virtual std::vector<NodeId> Replicas(std::string_view key) const = 0;
  // Nodes that will be replicas of `key` once a membership change completes and are not yet
  // (joining nodes, gainers of a leaver's ranges: Cassandra's pending ranges). Writes go to them
  // too, not counted toward W; reads never.
  virtual std::vector<NodeId> PendingReplicas(std::string_view key) const = 0;
  // The preference list to coordinate with: kUnavailable while the node may not coordinate
  // (joining), kInternal if the list is shorter than the view allows (a bug, asserted).
  virtual Result<std::vector<NodeId>> CoordinatorReplicas(std::string_view key) const = 0;
  virtual bool IsAlive(NodeId node, TimeMs now) const = 0;
  virtual std::string AddressOf(NodeId node) const = 0;
  // Ok when our wall clock may stamp a write; otherwise the kUnavailable to answer (the clock
  // monitor's fence: cluster/internal/clock_monitor.h).
  virtual Status StampGate() const = 0;  // Up to `n` live nodes outside `key`'s preference list, in
                                         // ring order after it: stand-ins that
  // keep hints for replicas that are down (sloppy quorum).
  virtual std::vector<NodeId> HintHolders(std::string_view key, size_t n, TimeMs now) const = 0;
  // True while `node` (we, or a peer by its gossip), back from being down, may still miss writes
  // made meanwhile: reads then ask the other replicas first (NodeCore, "catching up").
  virtual bool CatchingUp(NodeId node, TimeMs now) const = 0;
};

class Coordinator {
 public:
  Coordinator(const NodeConfig& config, HybridClock* clock, const ClusterView* view,
              NodeCore::Counters* counters);

  void StartWrite(RequestId id, ClientWrite request, TimeMs now, Actions* out);
  void StartRead(RequestId id, ClientRead request, TimeMs now, Actions* out);
  void StartExplain(RequestId id, std::string key, TimeMs now, Actions* out);
  void OnReplicateResponse(NodeId from, const ReplicateResponse& r, TimeMs now, Actions* out);
  void OnReadResponse(NodeId from, const ReadResponse& r, TimeMs now, Actions* out);
  // A request we sent could not be delivered: counts as that replica's failure.
  void OnSendFailed(NodeId to, RequestId peer_id, TimeMs now, Actions* out);
  void Tick(TimeMs now, Actions* out);
  size_t InFlight() const { return writes_.size() + reads_.size(); }

 private:
  struct WriteOp {
    RequestId id = 0;
    std::string key;
    Version version;
    int w = 0;
    size_t targets = 0, acks = 0, failures = 0;  // of the targets that count toward W
    TimeMs deadline = 0;
    SessionToken session;
    std::vector<RequestId> calls;
  };
  struct ReadOp {
    RequestId id = 0;
    std::string key;
    bool explain = false;
    size_t need = 0;             // answers wanted before judging (R)
    bool all_mode = false;       // ask every replica (escalated, or explain)
    bool floor_blocked = false;  // the answers so far are below the session floor
    TimeMs retry_at = 0;         // nonzero: waiting to ask again
    TimeMs deadline = 0;
    std::vector<NodeId> order;  // replicas to ask, in order
    std::vector<NodeId> preference;
    size_t next = 0;  // next index of `order` to ask
    std::map<NodeId, std::optional<Version>> answers;
    std::map<NodeId, Status> failed;
    std::set<NodeId> outstanding;
    SessionToken session;
    SessionToken::Floor floor;
    std::vector<RequestId> calls;
  };
  struct PeerCall {
    RequestId op = 0;
    NodeId node = 0;
    bool read = false;
    bool counts = true;  // a write's answer counts toward W (not: a hint that does not count)
    bool hint = false;   // a hint sent to a stand-in (or kept here), not a replica write
  };

  Result<TimeMs> Deadline(uint64_t timeout_ms, TimeMs now) const;
  // What a client read or write needs before it can start; see Prepare().
  struct Prepared {
    int n = 0;  // replicas that must answer (R or W)
    TimeMs deadline = 0;
    std::vector<NodeId> replicas;  // the key's preference list
  };
  Result<Prepared> Prepare(const std::string& key, Consistency level, int default_n,
                           uint64_t timeout_ms, TimeMs now) const;
  Result<Version> Stamp(const ClientWrite& request, const SessionToken& session);
  RequestId Call(RequestId op, NodeId node, bool read, std::vector<RequestId>* calls);
  void Send(NodeId node, PeerMessage message, Actions* out) const;
  bool Admit(RequestId id, Actions* out, bool explain);

  void WriteAnswer(WriteOp* op, bool counts, const Status& status, Actions* out);
  // A replica write that failed or was not answered: keep a hint for that replica here (not
  // counted toward W), as Cassandra's coordinators do, so it gets the write once it is back.
  void HintHere(NodeId replica, const std::string& key, const Version& version, Actions* out);
  // A write's replica call still unanswered when the write finished: its failure leaves a hint.
  struct Orphan {
    NodeId node = 0;
    std::string key;
    Version version;
  };
  void FinishWrite(WriteOp* op, Status status, Actions* out);
  static std::string PartialWriteMessage(const WriteOp& op, const Status& last_failure);

  std::vector<NodeId> LiveOrder(const std::vector<NodeId>& preference, size_t need,
                                TimeMs now) const;
  void Ask(ReadOp* op, NodeId node, Actions* out);
  void ReadAnswer(ReadOp* op, NodeId node, Status status, std::optional<Version> version,
                  TimeMs now, Actions* out);
  void Pump(ReadOp* op, TimeMs now, Actions* out);
  void Judge(ReadOp* op, TimeMs now, Actions* out);
  void Escalate(ReadOp* op, TimeMs now, Actions* out);
  void RetryRead(ReadOp* op, TimeMs now, Actions* out);
  void FinishRead(ReadOp* op, Status status, Actions* out);
  void FinishReadWith(ReadOp* op, Status status, std::optional<Version> winner, Actions* out);
  void FinishExplain(ReadOp* op, Actions* out);
  void RepairStale(const ReadOp& op, const Version& winner, Actions* out);
  static std::optional<Version> Winner(const ReadOp& op);
  static uint64_t ConcurrentPairs(const ReadOp& op);

  const NodeConfig& config_;
  HybridClock* const clock_;
  const ClusterView* const view_;
  NodeCore::Counters* const counters_;
  RequestId next_call_id_ = 1;
  std::map<RequestId, Orphan> orphans_;  // bounded by writes in flight x rf until answered
  std::map<RequestId, WriteOp> writes_;
  std::map<RequestId, ReadOp> reads_;  // reads and explains
  std::map<RequestId, PeerCall> calls_;
};

}  // namespace causeway::cluster::internal
