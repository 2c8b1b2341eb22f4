// NodeHost: the server's side of cluster::NodeDriver. It implements the driver's transport (peer
// links out; answers to peers' calls back through the call table), its reply sink (the call
// table), and its clock (the loop's monotonic time); the storage runner is the StoragePool.
// The Cap'n Proto APIs (client_api.h, peer_api.h) enter the node only through its methods.
//
// Admission: client and admin calls beyond kNodeInFlightRequestsMax, and peer calls beyond the
// same bound, are refused with kOverloaded; once stopping, client calls get kUnavailable.
//
// Stopping (docs/operations.md, "Restarting a node"): PrepareStop() is a restart's drain, not a
// leave -- the core stores its member view and the node stays a member. Once the core reports
// itself left (the end of a decommission), stop_wanted() asks the server to drain and stop.
//
// Loop-thread only. Close() before destroying the KJ event loop's objects.
#pragma once

#include <kj/async-io.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cluster/driver.h"
#include "cluster/node.h"
#include "cluster/ports.h"
#include "engine/engine.h"
#include "engine/ingest_staging.h"
#include "rpc/internal/call_table.h"
#include "rpc/internal/listener.h"
#include "rpc/internal/metrics.h"
#include "rpc/internal/peer_links.h"
#include "rpc/internal/storage_pool.h"

namespace spdlog {
class logger;
}

namespace causeway::rpc {

class NodeHost final : public cluster::Transport,
                       public cluster::ReplySink,
                       public cluster::MonotonicClock {
 public:
  // `engine`, `hlc`, `storage` and `log` are borrowed.
  // `ceiling` (may be null) is the clock's started CeilingStore: the driver renews it.
  // `cluster_secret` (may be null; borrowed): what our calls to peers prove (PeerLinks).
  // `peer_tls` (may be null): our calls to peers use mutual TLS (PeerLinks).
  NodeHost(cluster::NodeConfig config, Engine* engine, HybridClock* hlc,
           cluster::CeilingStore* ceiling, StoragePool* storage, kj::Network& network,
           kj::Timer& timer, spdlog::logger* log, const ClusterSecret* cluster_secret = nullptr,
           TlsSource peer_tls = nullptr);
  ~NodeHost() noexcept override;

  // ---- entry points of the Cap'n Proto APIs
  kj::Promise<cluster::ClientResult> Write(cluster::ClientWrite write,
                                           std::shared_ptr<ConnStats> conn);
  kj::Promise<cluster::ClientResult> Read(cluster::ClientRead read,
                                          std::shared_ptr<ConnStats> conn);
  kj::Promise<cluster::ExplainResult> Explain(std::string key, std::shared_ptr<ConnStats> conn);
  // An on-demand repair of our ranges intersecting `spans` (empty: all): its id, at once;
  // kUnavailable once stopping. Its progress: repair_status (below).
  Result<uint64_t> StartRepair(const std::vector<TokenSpan>& spans);
  // Membership changes (docs/operations.md). A decommission: Ok once the core accepted it, else
  // its refusal; kUnavailable once stopping. Its progress: stream_status.
  Status StartDecommission();
  cluster::NodeCore::StreamStatus stream_status() const {
    return driver_.core().stream_status(MonotonicMs());
  }
  // A cleanup: removes the engine's data outside the core's OwnedSpans() on the storage pool and
  // resolves once done (with what it removed, or why not). Refused (kUnavailable) while stopping,
  // while another cleanup runs, while a member is joining or leaving or this node streams, and
  // while the node owns no span. A caller that hangs up does not stop it.
  kj::Promise<Result<CleanupResult>> Cleanup();
  // A RocksDB checkpoint of the engine into `dir` (Engine::Checkpoint) on the storage pool;
  // resolves once it is complete, or with why not. One at a time; refused while stopping.
  kj::Promise<Status> Snapshot(std::string dir);
  // Bulk ingestion (rpc/internal/node_host_ingest.cc; docs/formats.md, "Ingestion chunks"):
  // appends a chunk to the file staged as `session` and, with `last`, ingests it
  // (Engine::IngestFile), all on the storage pool. Resolves with the entries ingested (0 before
  // the last chunk) or why not; kUnavailable once stopping.
  kj::Promise<Result<uint64_t>> Ingest(uint64_t session, uint64_t offset, std::string data,
                                       bool last);
  void AbortIngest(uint64_t session);
  // A peer's request (ReplicateRequest, ReadRequest): resolves with the core's response.
  kj::Promise<cluster::PeerMessage> Inbound(NodeId from, cluster::PeerMessage message,
                                            std::shared_ptr<ConnStats> conn);
  // A peer's one-way message (gossip).
  void Deliver(NodeId from, cluster::PeerMessage message);
  // A peer at `address` said hello on a new connection (PeerLinks::PeerIsBack).
  void PeerConnected(const std::string& address);
  spdlog::logger* log() const { return log_; }

  // ---- the server's loop
  void Tick();
  // Stop admitting client and admin calls and store the member view (NodeDriver::PrepareStop);
  // the node stays a member. Drained() is true once calls, peer calls and storage (the view's
  // store included) are done.
  void PrepareStop();
  bool Drained() const;
  // Why the node should stop by itself ("": it should not): once the core reports its own member
  // status kLeft, having seen it otherwise (a decommission ended).
  const std::string& stop_wanted() const { return stop_wanted_; }
  void Close();  // teardown: peer links and waiting calls go

  // ---- views for admin status
  const cluster::NodeCore& core() const { return driver_.core(); }
  const cluster::NodeConfig& config() const { return driver_.core().config(); }
  Engine& engine() const { return *engine_; }
  HybridClock& hlc() const { return *hlc_; }
  size_t client_calls() const { return calls_.count(CallTable::Kind::kClient); }
  size_t peer_calls() const { return calls_.count(CallTable::Kind::kPeer); }
  size_t peer_calls_out() const { return peers_ == nullptr ? 0 : peers_->InFlight(); }
  bool stopping() const { return stopping_; }
  // Open connections, as the server's listener counts them (set once by the server; 0 before).
  size_t connections() const { return connections_ ? connections_() : 0; }
  void set_connection_count(std::function<size_t()> count) { connections_ = std::move(count); }
  // What the listener and the handshakes refused (set once by the server; zeros before).
  RefusalCounts refusals() const { return refusals_ ? refusals_() : RefusalCounts{}; }
  void set_refusal_counts(std::function<RefusalCounts()> counts) { refusals_ = std::move(counts); }
  // Where request latencies and outcomes are recorded (rpc/internal/metrics.h); borrowed, may be
  // null (tests). Set once, before the first call.
  void set_metrics(Metrics* metrics) { metrics_ = metrics; }
  cluster::NodeCore::RepairStatus repair_status(uint64_t id) {
    return driver_.core().repair_status(id, NowMs());
  }

  // ---- the driver's ports
  void Send(NodeId to, const std::string& address, cluster::PeerMessage message) override;
  void Reply(cluster::RequestId id, cluster::ClientResult result) override;
  void ExplainReply(cluster::RequestId id, cluster::ExplainResult result) override;
  cluster::TimeMs NowMs() override { return MonotonicMs(); }

 private:
  Status Admit() const;
  template <typename Request>
  kj::Promise<cluster::ClientResult> StartClientCall(
      Request request, std::shared_ptr<ConnStats> conn,
      void (cluster::NodeDriver::*start)(cluster::RequestId, Request));
  uint64_t EffectiveTimeout(uint64_t requested_ms) const;
  void LogClockChange();
  void LogMembershipChanges();
  void LogWorkChanges();
  void LogCaughtUp();
  void WatchOwnStatus();
  Status CleanupRefusal(const std::vector<TokenSpan>& spans) const;

  Engine* engine_;
  HybridClock* hlc_;
  StoragePool* storage_;
  spdlog::logger* log_;
  CallTable calls_;
  kj::Own<PeerLinks> peers_;
  cluster::NodeDriver driver_;
  bool stopping_ = false;
  bool closed_ = false;
  std::string clock_state_logged_;  // the clock verdict last logged (LogClockChange)
  bool catch_up_logged_ = false;
  bool was_member_ = false;  // our own status was seen other than kLeft (WatchOwnStatus)
  std::string stop_wanted_;
  bool cleanup_running_ = false;
  bool snapshot_running_ = false;
  std::function<size_t()> connections_;
  std::function<RefusalCounts()> refusals_;
  Metrics* metrics_ = nullptr;
  // Each member's name and state in words (cluster::MemberStateName) when last logged
  // (LogMembershipChanges), and when the views were last compared.
  std::map<NodeId, std::pair<std::string, std::string>> member_state_logged_;
  uint64_t membership_logged_ms_ = 0;
  std::string stream_logged_;           // "phase/done" or "phase/active" when last logged
  std::set<uint64_t> repairs_watched_;  // on-demand repairs started here, not yet logged done
  bool disk_ok_logged_ = true;
  uint64_t skew_rejections_logged_ = 0;
  std::unique_ptr<IngestStaging> staging_;  // cleared at construction
  size_t ingests_running_ = 0;              // chunks or ingestions on the storage pool
};

}  // namespace causeway::rpc
