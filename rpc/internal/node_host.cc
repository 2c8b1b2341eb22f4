#include "rpc/internal/node_host.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "base/limits.h"
#include "rpc/internal/errors.h"

namespace causeway::rpc {
namespace {

// A client call's table deadline is the request's plus this grace: the core answers every
// request by its deadline, so the table's fires only if the core is wrong.
constexpr uint64_t kClientDeadlineGraceMs = 500;

}  // namespace

NodeHost::NodeHost(cluster::NodeConfig config, Engine* engine, HybridClock* hlc,
                   cluster::CeilingStore* ceiling, StoragePool* storage, kj::Network& network,
                   kj::Timer& timer, spdlog::logger* log, const ClusterSecret* cluster_secret)
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
          cluster_secret)),
      driver_(std::move(config), hlc, {this, storage, this, this, ceiling}) {
  storage_->Attach(&driver_);
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
  if (Status s = Admit(); !s.ok()) return ToException(s);
  const cluster::RequestId id = calls_.NextId();
  request.timeout_ms = EffectiveTimeout(request.timeout_ms);
  auto done = calls_.Add<cluster::ClientResult>(CallTable::Kind::kClient, id, request.timeout_ms,
                                                kClientDeadlineGraceMs, NowMs(), std::move(conn));
  (driver_.*start)(id, std::move(request));
  return done;
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
  return done;
}

Result<uint64_t> NodeHost::StartRepair(const std::vector<TokenSpan>& spans) {
  if (stopping_) return Status::Unavailable("the node is stopping: repair on another node");
  return driver_.StartRepair(spans);
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

// The peer's own request id stays on its side; here the call is known by one of ours, which the
// core echoes in its response (Send below).
kj::Promise<cluster::PeerMessage> NodeHost::Inbound(NodeId from, cluster::PeerMessage message,
                                                    std::shared_ptr<ConnStats> conn) {
  if (calls_.count(CallTable::Kind::kPeer) >= kNodeInFlightRequestsMax) {
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
  return done;
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
         (peers_ == nullptr || peers_->InFlight() == 0);
}

void NodeHost::Close() {
  if (closed_) return;
  closed_ = true;
  peers_ = nullptr;
  calls_.Clear();
}

}  // namespace causeway::rpc
