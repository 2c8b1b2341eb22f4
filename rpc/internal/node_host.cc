#include "rpc/internal/node_host.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

#include "base/limits.h"
#include "rpc/internal/errors.h"

namespace causeway::rpc {
namespace {

// A client call's table deadline is the request's plus this grace: the core answers every
// request by its deadline, so the table's fires only if the core is wrong.
constexpr uint64_t kClientDeadlineGraceMs = 500;
// Member views are compared for the membership log this often (Members() builds a vector).
constexpr uint64_t kMembershipLogIntervalMs = 100;
// On-demand repairs a node follows to log their end (event=repair_done); more run unlogged.
constexpr size_t kRepairsLoggedMax = 256;

using SteadyTime = std::chrono::steady_clock::time_point;

double SecondsSince(SteadyTime start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Records a call's outcome and latency once its promise settles (a rejection is counted with the
// code the client will see, then passed on). `metrics` outlives every call (server.cc).
template <typename T, typename OutcomeFn>
kj::Promise<T> Observed(kj::Promise<T> done, Metrics* metrics, Metrics::Side side,
                        std::string_view op, OutcomeFn outcome) {
  if (metrics == nullptr) return done;
  const SteadyTime start = std::chrono::steady_clock::now();
  return done.then(
      [metrics, side, op, start, outcome](T r) {
        metrics->ObserveRequest(side, op, outcome(r), SecondsSince(start));
        return r;
      },
      [metrics, side, op, start](kj::Exception&& e) -> T {
        metrics->ObserveRequest(side, op, FromException(e).code(), SecondsSince(start));
        kj::throwFatalException(kj::mv(e));
      });
}

// The operation label of a peer's request.
std::string_view PeerOpName(const cluster::PeerMessage& m) {
  if (std::holds_alternative<cluster::ReplicateRequest>(m)) return "replicate";
  if (std::holds_alternative<cluster::ReadRequest>(m)) return "read";
  if (std::holds_alternative<cluster::AaeHashRequest>(m)) return "aae_hash";
  if (std::holds_alternative<cluster::AaeDigestRequest>(m)) return "aae_digest";
  if (std::holds_alternative<cluster::StreamRequest>(m)) return "stream";
  return "other";
}

// A response's status code, kOk for a response that carries none.
ErrorCode PeerOutcome(const cluster::PeerMessage& m) {
  return std::visit(
      [](const auto& r) {
        if constexpr (requires { r.status.code(); }) {
          return r.status.code();
        } else {
          return ErrorCode::kOk;
        }
      },
      m);
}

}  // namespace

NodeHost::NodeHost(cluster::NodeConfig config, Engine* engine, HybridClock* hlc,
                   cluster::CeilingStore* ceiling, StoragePool* storage, kj::Network& network,
                   kj::Timer& timer, spdlog::logger* log, const ClusterSecret* cluster_secret,
                   TlsSource peer_tls)
    : engine_(engine),
      hlc_(hlc),
      storage_(storage),
      log_(log),
      peers_(kj::heap<PeerLinks>(
          network, timer, NodeIdFromName(config.name), config.name, config.address,
          config.peer_timeout_ms,
          [this](NodeId from, cluster::PeerMessage m) {
            driver_.OnPeerMessage(from, std::move(m));
          },
          [this](NodeId to, cluster::PeerMessage m) {
            if (!closed_) driver_.OnSendFailed(to, std::move(m));
          },
          cluster_secret, std::move(peer_tls))),
      driver_(std::move(config), hlc, {this, storage, this, this, ceiling}) {
  storage_->Attach(&driver_);
  // Files staged by an earlier run are never finished: their senders start again.
  staging_ = std::make_unique<IngestStaging>(engine_->IngestStagingDir());
  if (Status s = staging_->Clear(); !s.ok())
    log_->warn("event=ingest_clear_failed error=\"{}\"", s.ToString());
}

NodeHost::~NodeHost() noexcept { Close(); }

Status NodeHost::Admit() const {
  if (stopping_) return Status::Unavailable("the node is stopping: retry on another node");
  const size_t n = calls_.count(CallTable::Kind::kClient) + calls_.count(CallTable::Kind::kAdmin);
  if (n >= kNodeInFlightRequestsMax) {
    return Status::Overloaded("the node has " + std::to_string(n) +
                              " requests in flight: back off and retry");
  }
  return Status::Ok();
}

uint64_t NodeHost::EffectiveTimeout(uint64_t requested_ms) const {
  uint64_t t = requested_ms != 0 ? requested_ms : config().request_timeout_ms;
  return std::min<uint64_t>(t, kRequestTimeoutMsMax);
}

// Admits a client read or write, registers it in the call table and hands it to the driver.
template <typename Request>
kj::Promise<cluster::ClientResult> NodeHost::StartClientCall(
    Request request, std::shared_ptr<ConnStats> conn,
    void (cluster::NodeDriver::*start)(cluster::RequestId, Request)) {
  std::string_view op = "get";
  if constexpr (requires { request.tombstone; }) op = request.tombstone ? "delete" : "put";
  if (Status s = Admit(); !s.ok()) {
    if (metrics_ != nullptr) metrics_->ObserveRequest(Metrics::Side::kClient, op, s.code(), 0);
    return ToException(s);
  }
  const cluster::RequestId id = calls_.NextId();
  request.timeout_ms = EffectiveTimeout(request.timeout_ms);
  auto done = calls_.Add<cluster::ClientResult>(CallTable::Kind::kClient, id, request.timeout_ms,
                                                kClientDeadlineGraceMs, NowMs(), std::move(conn));
  (driver_.*start)(id, std::move(request));
  return Observed(kj::mv(done), metrics_, Metrics::Side::kClient, op,
                  [](const cluster::ClientResult& r) { return r.status.code(); });
}

kj::Promise<cluster::ClientResult> NodeHost::Write(cluster::ClientWrite write,
                                                   std::shared_ptr<ConnStats> conn) {
  return StartClientCall(std::move(write), std::move(conn), &cluster::NodeDriver::StartWrite);
}

kj::Promise<cluster::ClientResult> NodeHost::Read(cluster::ClientRead read,
                                                  std::shared_ptr<ConnStats> conn) {
  return StartClientCall(std::move(read), std::move(conn), &cluster::NodeDriver::StartRead);
}

kj::Promise<cluster::ExplainResult> NodeHost::Explain(std::string key,
                                                      std::shared_ptr<ConnStats> conn) {
  if (Status s = Admit(); !s.ok()) return ToException(s);
  const cluster::RequestId id = calls_.NextId();
  auto done = calls_.Add<cluster::ExplainResult>(CallTable::Kind::kAdmin, id, EffectiveTimeout(0),
                                                 kClientDeadlineGraceMs, NowMs(), std::move(conn));
  driver_.StartExplain(id, std::move(key));
  return Observed(kj::mv(done), metrics_, Metrics::Side::kClient, "explain",
                  [](const cluster::ExplainResult&) { return ErrorCode::kOk; });
}

Result<uint64_t> NodeHost::StartRepair(const std::vector<TokenSpan>& spans) {
  if (stopping_) return Status::Unavailable("the node is stopping: repair on another node");
  const uint64_t id = driver_.StartRepair(spans);
  log_->info("event=repair_started node={} repair_id={} spans={}", config().name, id, spans.size());
  if (repairs_watched_.size() < kRepairsLoggedMax) repairs_watched_.insert(id);
  return id;
}

Status NodeHost::StartDecommission() {
  if (stopping_) return Status::Unavailable("the node is stopping");
  Status s = driver_.StartDecommission();
  if (s.ok()) {
    log_->info("event=decommission_started");
  } else {
    log_->warn("event=decommission_refused error=\"{}\"", s.ToString());
  }
  return s;
}

// Why a cleanup must not run now: while ranges move (a member joins or leaves, or this node
// streams), what this node will replicate is not settled, and removing it would lose the copy a
// stream or a read may still need.
Status NodeHost::CleanupRefusal(const std::vector<TokenSpan>& spans) const {
  if (stopping_) return Status::Unavailable("the node is stopping");
  if (cleanup_running_) return Status::Unavailable("a cleanup is already running on this node");
  for (const cluster::MemberView& m : driver_.core().Members(MonotonicMs())) {
    const cluster::MemberStatus st = m.state.status;
    if (st == cluster::MemberStatus::kJoining || st == cluster::MemberStatus::kLeaving) {
      return Status::Unavailable("member " + m.state.name + " is " +
                                 (st == cluster::MemberStatus::kJoining ? "joining" : "leaving") +
                                 ": clean up once the membership change is done");
    }
  }
  const cluster::NodeCore::StreamStatus stream = stream_status();
  if (!stream.phase.empty() && !stream.done) {
    return Status::Unavailable("this node is streaming (" + stream.phase +
                               "): clean up once it is done");
  }
  if (spans.empty()) {
    return Status::Unavailable("this node replicates no range in its ring view (yet)");
  }
  return Status::Ok();
}

kj::Promise<Result<CleanupResult>> NodeHost::Cleanup() {
  std::vector<TokenSpan> spans = driver_.core().OwnedSpans();
  if (Status s = CleanupRefusal(spans); !s.ok()) {
    log_->warn("event=cleanup_refused error=\"{}\"", s.ToString());
    return Result<CleanupResult>(s);
  }
  cleanup_running_ = true;
  log_->info("event=cleanup_started spans={}", spans.size());
  auto paf = kj::newPromiseAndFulfiller<Result<CleanupResult>>();
  auto fulfiller =
      std::make_shared<kj::Own<kj::PromiseFulfiller<Result<CleanupResult>>>>(kj::mv(paf.fulfiller));
  auto outcome = std::make_shared<std::optional<Result<CleanupResult>>>();
  storage_->RunTask(
      [engine = engine_, spans = std::move(spans), outcome] {
        outcome->emplace(engine->RemoveOutside(spans));
      },
      [this, outcome, fulfiller] {
        cleanup_running_ = false;
        Result<CleanupResult> r =
            outcome->has_value() ? std::move(**outcome)
                                 : Result<CleanupResult>(Status::Internal("cleanup cancelled"));
        if (r.ok()) {
          log_->info("event=cleanup_done keys_removed={} bytes_removed={} compaction=\"{}\"",
                     r->keys, r->bytes, r->compaction.ToString());
        } else {
          log_->error("event=cleanup_failed error=\"{}\"", r.status().ToString());
        }
        if ((*fulfiller)->isWaiting()) (*fulfiller)->fulfill(std::move(r));
      });
  return kj::mv(paf.promise);
}

kj::Promise<Status> NodeHost::Snapshot(std::string dir) {
  if (stopping_) return Status::Unavailable("the node is stopping");
  if (snapshot_running_) return Status::Unavailable("a snapshot is already running on this node");
  if (dir.empty() || dir.size() > kSnapshotDirBytesMax || dir[0] != '/') {
    return Status::InvalidArgument("the snapshot dir must be an absolute path of at most " +
                                   std::to_string(kSnapshotDirBytesMax) + " bytes");
  }
  snapshot_running_ = true;
  log_->info("event=snapshot_started node={} dir=\"{}\"", config().name, dir);
  auto paf = kj::newPromiseAndFulfiller<Status>();
  auto fulfiller = std::make_shared<kj::Own<kj::PromiseFulfiller<Status>>>(kj::mv(paf.fulfiller));
  auto outcome = std::make_shared<Status>(Status::Internal("snapshot cancelled"));
  storage_->RunTask([engine = engine_, dir, outcome] { *outcome = engine->Checkpoint(dir); },
                    [this, dir, outcome, fulfiller] {
                      snapshot_running_ = false;
                      if (outcome->ok()) {
                        log_->info("event=snapshot_done node={} dir=\"{}\"", config().name, dir);
                      } else {
                        log_->error("event=snapshot_failed node={} dir=\"{}\" error=\"{}\"",
                                    config().name, dir, outcome->ToString());
                      }
                      if ((*fulfiller)->isWaiting()) (*fulfiller)->fulfill(Status(*outcome));
                    });
  return kj::mv(paf.promise);
}

// The peer's own request id stays on its side; here the call is known by one of ours, which the
// core echoes in its response (Send below).
kj::Promise<cluster::PeerMessage> NodeHost::Inbound(NodeId from, cluster::PeerMessage message,
                                                    std::shared_ptr<ConnStats> conn) {
  const std::string_view op = PeerOpName(message);
  if (calls_.count(CallTable::Kind::kPeer) >= kNodeInFlightRequestsMax) {
    if (metrics_ != nullptr) {
      metrics_->ObserveRequest(Metrics::Side::kPeer, op, ErrorCode::kOverloaded, 0);
    }
    return ToException(Status::Overloaded("too many peer requests in flight"));
  }
  const cluster::RequestId id = calls_.NextId();
  std::visit(
      [id](auto& m) {
        if constexpr (requires { m.id; }) m.id = id;
      },
      message);
  auto done = calls_.Add<cluster::PeerMessage>(CallTable::Kind::kPeer, id, EffectiveTimeout(0), 0,
                                               NowMs(), std::move(conn));
  driver_.OnPeerMessage(from, std::move(message));
  return Observed(kj::mv(done), metrics_, Metrics::Side::kPeer, op, PeerOutcome);
}

void NodeHost::Deliver(NodeId from, cluster::PeerMessage message) {
  if (!closed_) driver_.OnPeerMessage(from, std::move(message));
}

void NodeHost::PeerConnected(const std::string& address) {
  if (peers_.get() != nullptr) peers_->PeerIsBack(address);
}

void NodeHost::Send(NodeId to, const std::string& address, cluster::PeerMessage message) {
  if (auto response_to = cluster::ResponseId(message)) {  // the answer to a peer's call to us
    calls_.Complete(*response_to, std::move(message));
    return;
  }
  if (closed_) return;  // teardown: nothing new leaves the node
  peers_->Send(to, address, std::move(message));
}

void NodeHost::Reply(cluster::RequestId id, cluster::ClientResult result) {
  calls_.Complete(id, std::move(result));
}

void NodeHost::ExplainReply(cluster::RequestId id, cluster::ExplainResult result) {
  calls_.Complete(id, std::move(result));
}

void NodeHost::Tick() {
  if (closed_) return;
  driver_.Tick();
  calls_.Sweep(NowMs());
  LogClockChange();
  LogCaughtUp();
  WatchOwnStatus();
  const uint64_t now = NowMs();
  if (now >= membership_logged_ms_ + kMembershipLogIntervalMs) {
    membership_logged_ms_ = now;
    LogMembershipChanges();
    LogWorkChanges();
  }
}

// Logs once each: a stream (bootstrap, rebuild, gain, decommission) starting and finishing, an
// on-demand repair finishing, the engine fail-stopping writes after a disk error (and resuming),
// and clock-skew rejections (with how many since the last line).
void NodeHost::LogWorkChanges() {
  const std::string& self = config().name;
  const cluster::NodeCore::StreamStatus st = stream_status();
  const std::string stream_key = st.phase + (st.done ? "/done" : "/active");
  if (!st.phase.empty() && stream_key != stream_logged_) {
    stream_logged_ = stream_key;
    if (!st.done) {
      log_->info("event=stream_started node={} phase={}", self, st.phase);
    } else if (st.status.ok()) {
      log_->info("event=stream_done node={} phase={} keys={} bytes={} elapsed_ms={}", self,
                 st.phase, st.keys, st.bytes, st.elapsed_ms);
    } else {
      log_->warn("event=stream_failed node={} phase={} keys={} error=\"{}\"", self, st.phase,
                 st.keys, st.status.ToString());
    }
  }
  for (auto it = repairs_watched_.begin(); it != repairs_watched_.end();) {
    const cluster::NodeCore::RepairStatus r = repair_status(*it);
    if (r.known && !r.done) {
      ++it;
      continue;
    }
    log_->info(
        "event=repair_done node={} repair_id={} exchanges={} failed={} keys_differed={} "
        "keys_written={} bytes={} elapsed_ms={} status=\"{}\"",
        self, *it, r.exchanges_done, r.exchanges_failed, r.keys_differed, r.keys_written, r.bytes,
        r.elapsed_ms, r.status.ToString());
    it = repairs_watched_.erase(it);
  }
  const Status health = engine_->health();
  if (health.ok() != disk_ok_logged_) {
    disk_ok_logged_ = health.ok();
    if (health.ok()) {
      log_->info("event=disk_writes_resumed node={}", self);
    } else {
      log_->error("event=disk_error node={} error=\"{}\" detail=\"writes are fail-stopped\"", self,
                  health.ToString());
    }
  }
  const uint64_t rejections =
      hlc_->rejected_updates() + driver_.core().counters().clock_skew_rejections;
  if (rejections > skew_rejections_logged_) {
    log_->warn(
        "event=clock_skew_rejected node={} rejections={} total={} max_clock_offset_ms={} "
        "detail=\"timestamps from a peer or client more than max_clock_offset_ms ahead were "
        "refused: check NTP on the sender\"",
        self, rejections - skew_rejections_logged_, rejections, hlc_->max_offset_ms());
    skew_rejections_logged_ = rejections;
  }
}

// Logs each change of a member's state in words (cluster::MemberStateName) once, with the node
// and the peer named: a member first seen, a member whose state changed (up, down, joining,
// leaving, left, bootstrapping, catching up), a member gone from the view. This node's own state
// is logged as event=state_changed.
void NodeHost::LogMembershipChanges() {
  const std::string& self = config().name;
  std::set<NodeId> present;
  for (const cluster::MemberView& m : driver_.core().Members(NowMs())) {
    const bool is_self = m.state.id == driver_.core().id();
    // Our own liveness is not a failure detector's opinion: we are up while we run.
    const std::string state(cluster::MemberStateName(m.state, m.alive || is_self));
    present.insert(m.state.id);
    auto it = member_state_logged_.find(m.state.id);
    if (it != member_state_logged_.end() && it->second.second == state) continue;
    const std::string previous = it == member_state_logged_.end() ? "" : it->second.second;
    member_state_logged_[m.state.id] = {m.state.name, state};
    if (is_self) {
      log_->info("event=state_changed node={} state=\"{}\" previous=\"{}\" generation={}", self,
                 state, previous, m.state.generation);
    } else if (previous.empty()) {
      log_->info("event=member_added node={} peer={} peer_address={} state=\"{}\"", self,
                 m.state.name, m.state.address, state);
    } else if (state == "down") {
      log_->warn("event=member_down node={} peer={} peer_address={} state=\"{}\" previous=\"{}\"",
                 self, m.state.name, m.state.address, state, previous);
    } else {
      log_->info(
          "event=member_state_changed node={} peer={} peer_address={} state=\"{}\" "
          "previous=\"{}\" generation={}",
          self, m.state.name, m.state.address, state, previous, m.state.generation);
    }
  }
  for (auto it = member_state_logged_.begin(); it != member_state_logged_.end();) {
    if (present.count(it->first) != 0) {
      ++it;
      continue;
    }
    log_->info("event=member_removed node={} peer={} previous=\"{}\"", self, it->second.first,
               it->second.second);
    it = member_state_logged_.erase(it);
  }
}

// A node that has left (its decommission handed every range over) stops by itself. One that
// starts already left (restarted after it) is not stopped here: it never was a member this run.
void NodeHost::WatchOwnStatus() {
  if (!stop_wanted_.empty()) return;
  const cluster::NodeCore::StreamStatus st = stream_status();
  if (st.member_status != cluster::MemberStatus::kLeft) {
    was_member_ = true;
    return;
  }
  if (!was_member_) return;
  stop_wanted_ = "decommissioned";
  log_->info("event=left detail=\"decommission done: every range handed over\"");
}

// Says once that a node back from being away has caught up (docs/design.md, "Catching up").
void NodeHost::LogCaughtUp() {
  const cluster::NodeCore::CatchUpStatus c = driver_.core().catch_up_status();
  if (c.catching_up) {
    catch_up_logged_ = false;
    return;
  }
  if (catch_up_logged_ || c.after_ms == 0) return;
  catch_up_logged_ = true;
  if (c.by_bound) {
    log_->warn(
        "event=caught_up after_ms={} detail=\"catch-up writes still arriving at the bound; "
        "serving reads from this replica anyway\"",
        c.after_ms);
  } else {
    log_->info("event=caught_up after_ms={}", c.after_ms);
  }
}

// Says once, when the clock monitor's verdict changes, what it is and why (an operator's first
// clue that NTP broke: docs/operations.md, "When a clock goes bad").
void NodeHost::LogClockChange() {
  cluster::NodeCore::ClockStatus clock = driver_.core().clock_status();
  if (clock.state == clock_state_logged_) return;
  const bool first = clock_state_logged_.empty();
  clock_state_logged_ = clock.state;
  if (clock.state == "fenced") {
    log_->error("event=clock_fenced median_peer_offset_ms={} detail=\"{}\"", clock.median_offset_ms,
                clock.description);
  } else if (!first || clock.state != "unverified") {
    log_->info("event=clock_{} median_peer_offset_ms={} detail=\"{}\"", clock.state,
               clock.median_offset_ms, clock.description);
  }
}

void NodeHost::PrepareStop() {
  stopping_ = true;
  driver_.PrepareStop();
}

bool NodeHost::Drained() const {
  return calls_.count(CallTable::Kind::kClient) == 0 &&
         calls_.count(CallTable::Kind::kAdmin) == 0 && driver_.StorageIdle() && !cleanup_running_ &&
         !snapshot_running_ && ingests_running_ == 0 &&
         (peers_ == nullptr || peers_->InFlight() == 0);
}

void NodeHost::Close() {
  if (closed_) return;
  closed_ = true;
  peers_ = nullptr;
  calls_.Clear();
}

}  // namespace causeway::rpc
