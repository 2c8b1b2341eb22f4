// The node server: Cap'n Proto connections on the libuv loop feeding cluster::NodeCore, whose
// actions this file carries out (peer sends, client replies, storage work on libuv's thread pool).
// docs/design.md describes the threading and the limits.
#include "rpc/server.h"

#include <arpa/inet.h>
#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <netdb.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>

#include "cluster/session.h"
#include "rpc/internal/buffered_stream.h"
#include "rpc/internal/convert.h"
#include "rpc/internal/errors.h"
#include "rpc/internal/peer_links.h"
#include "rpc/internal/uv_event_port.h"
#include "schema/causeway.capnp.h"

namespace causeway {

using cluster::RequestId;
using cluster::TimeMs;
using rpc::ToException;

namespace {

// The driver's own deadline is the request's plus this grace: the core answers every request by
// its deadline, so the driver's fires only if the core is wrong. It is checked once per
// kIdleSweepIntervalMs, so it fires up to that much later still.
constexpr uint64_t kDriverDeadlineGraceMs = 500;
constexpr uint64_t kIdleSweepIntervalMs = 1000;
constexpr uint64_t kTombstoneWatermarkIntervalMs = 60000;
constexpr uint64_t kAcceptRetryMs = 100;
// Bounded drain at Stop(): in-flight calls get at most this long beyond their own deadlines.
constexpr uint64_t kStopDrainExtraMs = 1000;

TimeMs MonotonicMs() { return uv_hrtime() / 1000000; }

// Splits "host:port"; "[v6]:port" too.
bool SplitHostPort(const std::string& address, std::string* host, std::string* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) return false;
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return true;
}

// Binds and listens with plain syscalls, so that Create() reports a busy port at once.
Result<int> BindListen(const std::string& address) {
  std::string host, port;
  if (!SplitHostPort(address, &host, &port)) {
    return Status::InvalidArgument("listen address '" + address + "' is not host:port");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return Status::InvalidArgument("cannot resolve listen address '" + address +
                                   "': " + gai_strerror(rc));
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc = fd < 0 ? -1 : bind(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc < 0 || listen(fd, 1024) < 0) {
    std::string err = strerror(errno);
    if (fd >= 0) close(fd);
    return Status::Unavailable("cannot listen on " + address + ": " + err +
                               " (is another node using this port?)");
  }
  return fd;
}

// Per-connection accounting, shared with the calls that run on it (they may outlive it).
struct ConnStats {
  size_t in_flight = 0;
  TimeMs last_activity_ms = 0;
  NodeId peer_node = 0;  // from hello(); 0 for clients
};

// A client call waiting for the core's ReplyAction. `deadline_ms` is the driver's safety net
// (SweepOverdue), a field checked by a periodic sweep rather than a KJ timer per call: the timer
// node, its exclusiveJoin and their teardown were ~5% of the node's instructions per call.
struct PendingCall {
  kj::Own<kj::PromiseFulfiller<cluster::ClientResult>> fulfiller;
  TimeMs deadline_ms = 0;
  uint64_t timeout_ms = 0;
};

class LogTaskErrors final : public kj::TaskSet::ErrorHandler {
 public:
  explicit LogTaskErrors(spdlog::logger* log) : log_(log) {}
  void taskFailed(kj::Exception&& e) override {
    log_->warn("event=task_failed error=\"{}\"", e.getDescription().cStr());
  }

 private:
  spdlog::logger* log_;
};

}  // namespace

// The server's state and logic; Server::Impl is this type (the public header keeps Impl private).
struct NodeServer {
  ServerOptions options;
  Engine* engine;
  HybridClock* clock;
  std::shared_ptr<spdlog::logger> log;
  int listen_fd = -1;
  int port = 0;

  uv_loop_t loop;
  uv_async_t stop_async;
  uv_timer_t tick_timer;
  std::atomic<bool> stop_requested{false};
  std::mutex stop_mu;
  bool stop_async_open = true;  // GUARDED_BY(stop_mu)

  // ---- Run()-time state, loop thread only. Declaration order is teardown order, reversed.
  kj::Own<rpc::UvEventPort> port_;
  kj::Own<rpc::UvIoProvider> low_io;
  kj::Own<kj::AsyncIoProvider> io;
  std::unique_ptr<cluster::NodeCore> core;
  LogTaskErrors task_errors{nullptr};
  kj::Own<kj::TaskSet> tasks;
  kj::Own<rpc::PeerLinks> peers;

  struct Connection;
  std::map<uint64_t, kj::Own<Connection>> connections;
  uint64_t next_conn_id = 0;
  kj::Own<kj::ConnectionReceiver> listener;
  kj::Promise<void> accept_loop = nullptr;

  std::unordered_map<RequestId, PendingCall> pending;
  std::unordered_map<RequestId, kj::Own<kj::PromiseFulfiller<cluster::ExplainResult>>>
      pending_explain;
  RequestId next_request_id = 0;
  // Inbound peer requests waiting for the core's response, by the id we gave them.
  std::unordered_map<RequestId, kj::Own<kj::PromiseFulfiller<cluster::PeerMessage>>> inbound;
  RequestId next_inbound_id = 0;
  size_t storage_in_flight = 0;
  // Messages the core sent to its own id, delivered by the outermost Process() once the actions
  // that produced them are carried out: no re-entry into the core, no recursion, no loop turn.
  std::deque<std::pair<NodeId, cluster::PeerMessage>> self_messages;
  int process_depth = 0;  // Process() calls on the stack (inline storage nests one)
  // PersistMetaAction records not yet stored, newest value per name; one store at a time on the
  // pool keeps them in order (a store in flight counts in storage_in_flight, so stop waits).
  std::map<std::string, std::string> meta_pending;
  bool meta_writing = false;

  bool stopping = false;
  bool torn_down = false;
  TimeMs stop_deadline_ms = 0;
  TimeMs last_idle_sweep_ms = 0;
  TimeMs last_watermark_ms = 0;
  Status run_status;

  // ---- setup and teardown
  void SetUpLoop();
  void TearDown();
  kj::Promise<void> AcceptLoop();
  void OnAccepted(kj::Own<kj::AsyncIoStream> stream);
  void OnTick();
  void SweepIdle(TimeMs now);
  void SweepOverdue(TimeMs now);
  void MaybeSetWatermark(TimeMs now);
  void BeginStop();
  bool Drained() const;

  // ---- driving the core
  void Process(cluster::Actions actions);
  void DeliverOwnMessages();
  void Carry(cluster::Action& action);
  void Send(cluster::SendAction& send);
  void RunStorage(cluster::StorageAction action);
  void Persist(cluster::PersistMetaAction action);
  void StoreNextMeta();
  void Deliver(NodeId from, cluster::PeerMessage message);

  // ---- entry points for the capnp servers (loop thread)
  Status Admit() const;
  kj::Promise<cluster::ClientResult> Write(cluster::ClientWrite write,
                                           std::shared_ptr<ConnStats> conn);
  kj::Promise<cluster::ClientResult> Read(cluster::ClientRead read,
                                          std::shared_ptr<ConnStats> conn);
  kj::Promise<cluster::ExplainResult> Explain(std::string key, std::shared_ptr<ConnStats> conn);
  kj::Promise<cluster::PeerMessage> Inbound(NodeId from, cluster::PeerMessage message);
  template <typename Request, typename StartFn>
  kj::Promise<cluster::ClientResult> Start(Request request, std::shared_ptr<ConnStats> conn,
                                           StartFn start);
  kj::Promise<cluster::ClientResult> Pend(RequestId id, uint64_t timeout_ms,
                                          std::shared_ptr<ConnStats> conn);
  template <typename T>
  kj::Promise<T> WithDeadline(kj::Promise<T> promise, uint64_t timeout_ms,
                              std::shared_ptr<ConnStats> conn);
  uint64_t EffectiveTimeout(uint64_t requested_ms) const;
};

// ---- capnp servers ----------------------------------------------------------------------------

namespace {

using Impl = NodeServer;

void ThrowIfError(const Status& s) {
  if (!s.ok()) rpc::ThrowStatus(s);
}

// Words a reply needs beyond its value and session: the RPC Return, payload and Version structs
// and their pointers (an overestimate only wastes a few zeroed words).
constexpr size_t kReplyOverheadWords = 48;

// The first segment size for a client reply carrying `r`. Without a hint capnp allocates and
// zeroes an 8 KiB segment per reply; a 1 MiB value would then need a second segment anyway.
capnp::MessageSize ReplySize(const cluster::ClientResult& r) {
  size_t bytes = r.session.size();
  if (r.version) bytes += r.version->value.size() + r.version->vv.size() * 2 * sizeof(uint64_t);
  return {bytes / sizeof(capnp::word) + kReplyOverheadWords, 0};
}

class AdminImpl final : public wire::Admin::Server {
 public:
  AdminImpl(Impl& impl, std::shared_ptr<ConnStats> conn) : impl_(impl), conn_(std::move(conn)) {}
  kj::Promise<void> status(StatusContext context) override;
  kj::Promise<void> ring(RingContext context) override;
  kj::Promise<void> explain(ExplainContext context) override;

 private:
  Impl& impl_;
  std::shared_ptr<ConnStats> conn_;
};

class ClientApiImpl final : public wire::ClientApi::Server {
 public:
  ClientApiImpl(Impl& impl, std::shared_ptr<ConnStats> conn)
      : impl_(impl), conn_(std::move(conn)) {}
  kj::Promise<void> get(GetContext context) override;
  kj::Promise<void> put(PutContext context) override;
  kj::Promise<void> delete_(DeleteContext context) override;
  kj::Promise<void> multiGet(MultiGetContext context) override;
  kj::Promise<void> multiPut(MultiPutContext context) override;
  kj::Promise<void> admin(AdminContext context) override {
    context.getResults().setAdmin(kj::heap<AdminImpl>(impl_, conn_));
    return kj::READY_NOW;
  }
  // Answered here, without the core: Cap'n Proto's own per-call cost (`causeway bench --ping`).
  kj::Promise<void> ping(PingContext) override { return kj::READY_NOW; }

 private:
  kj::Promise<cluster::ClientResult> WriteOne(capnp::Data::Reader key, capnp::Data::Reader value,
                                              bool tombstone, wire::WriteOptions::Reader options);
  Impl& impl_;
  std::shared_ptr<ConnStats> conn_;
};

class PeerImpl final : public wire::Peer::Server {
 public:
  PeerImpl(Impl& impl, std::shared_ptr<ConnStats> conn) : impl_(impl), conn_(std::move(conn)) {}
  kj::Promise<void> hello(HelloContext context) override {
    conn_->peer_node = context.getParams().getNodeId();
    return kj::READY_NOW;
  }
  kj::Promise<void> replicate(ReplicateContext context) override;
  kj::Promise<void> read(ReadContext context) override;
  kj::Promise<void> gossip(GossipContext context) override;

 private:
  NodeId From() const {
    if (conn_->peer_node == 0) {
      rpc::ThrowStatus(Status::InvalidArgument("peer call before hello() on this connection"));
    }
    return conn_->peer_node;
  }
  Impl& impl_;
  std::shared_ptr<ConnStats> conn_;
};

class BootstrapImpl final : public wire::Bootstrap::Server {
 public:
  BootstrapImpl(Impl& impl, std::shared_ptr<ConnStats> conn)
      : impl_(impl), conn_(std::move(conn)) {}
  kj::Promise<void> client(ClientContext context) override {
    context.getResults().setClient(kj::heap<ClientApiImpl>(impl_, conn_));
    return kj::READY_NOW;
  }
  kj::Promise<void> peer(PeerContext context) override {
    context.getResults().setPeer(kj::heap<PeerImpl>(impl_, conn_));
    return kj::READY_NOW;
  }

 private:
  Impl& impl_;
  std::shared_ptr<ConnStats> conn_;
};

}  // namespace

struct NodeServer::Connection {
  uint64_t id = 0;
  std::shared_ptr<ConnStats> stats;
  kj::Own<kj::AsyncIoStream> stream;
  kj::Own<capnp::TwoPartyVatNetwork> network;
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
  kj::Promise<void> watch = nullptr;  // removes the connection when it disconnects
};

// ---- client calls -----------------------------------------------------------------------------

kj::Promise<void> ClientApiImpl::get(GetContext context) {
  auto params = context.getParams();
  auto read = rpc::ReadFromWire(params.getKey(), params.getOptions());
  if (!read.ok()) return ToException(read.status());
  return impl_.Read(std::move(read).value(), conn_)
      .then([context](cluster::ClientResult r) mutable {
        ThrowIfError(r.status);
        rpc::GetResultToWire(r.version, r.session, context.getResults(ReplySize(r)).initResult());
      });
}

kj::Promise<cluster::ClientResult> ClientApiImpl::WriteOne(capnp::Data::Reader key,
                                                           capnp::Data::Reader value,
                                                           bool tombstone,
                                                           wire::WriteOptions::Reader options) {
  auto write = rpc::WriteFromWire(key, value, tombstone, options);
  if (!write.ok()) return ToException(write.status());
  return impl_.Write(std::move(write).value(), conn_);
}

kj::Promise<void> ClientApiImpl::put(PutContext context) {
  auto params = context.getParams();
  return WriteOne(params.getKey(), params.getValue(), false, params.getOptions())
      .then([context](cluster::ClientResult r) mutable {
        ThrowIfError(r.status);
        if (!r.version) rpc::ThrowStatus(Status::Internal("write reply without a version"));
        auto results = context.getResults(ReplySize(r));
        rpc::VersionToWire(*r.version, results.initVersion());
        results.setSession(rpc::BytesToWire(r.session));
      });
}

kj::Promise<void> ClientApiImpl::delete_(DeleteContext context) {
  auto params = context.getParams();
  return WriteOne(params.getKey(), capnp::Data::Reader(), true, params.getOptions())
      .then([context](cluster::ClientResult r) mutable {
        ThrowIfError(r.status);
        if (!r.version) rpc::ThrowStatus(Status::Internal("write reply without a version"));
        auto results = context.getResults(ReplySize(r));
        rpc::VersionToWire(*r.version, results.initVersion());
        results.setSession(rpc::BytesToWire(r.session));
      });
}

namespace {

// The session a batch returns: the caller's, having observed every version the batch saw.
std::string MergeSession(capnp::Data::Reader input, const std::vector<std::string>& keys,
                         const std::vector<cluster::ClientResult>& results) {
  auto token = cluster::SessionToken::Decode(
      std::string_view(reinterpret_cast<const char*>(input.begin()), input.size()));
  if (!token.ok()) return std::string();
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].status.ok() && results[i].version) {
      token->Observe(keys[i],
                     cluster::Dot{results[i].version->timestamp, results[i].version->writer});
    }
  }
  return token->Encode();
}

Status CheckBatch(size_t entries, size_t bytes) {
  if (entries > kBatchKeysMax) {
    return Status::InvalidArgument("batch of " + std::to_string(entries) +
                                   " entries exceeds the limit of " +
                                   std::to_string(kBatchKeysMax));
  }
  if (bytes > kBatchBytesMax) {
    return Status::InvalidArgument("batch of " + std::to_string(bytes) +
                                   " bytes exceeds the limit of " + std::to_string(kBatchBytesMax));
  }
  return Status::Ok();
}

// Runs every promise to completion, errors included, keeping the order.
kj::Promise<std::vector<cluster::ClientResult>> JoinResults(
    kj::Array<kj::Promise<cluster::ClientResult>> promises) {
  auto settled = KJ_MAP(p, promises) {
    return p.catch_([](kj::Exception&& e) {
      return cluster::ClientResult{rpc::FromException(e), std::nullopt, {}};
    });
  };
  return kj::joinPromises(kj::mv(settled)).then([](kj::Array<cluster::ClientResult> all) {
    return std::vector<cluster::ClientResult>(std::make_move_iterator(all.begin()),
                                              std::make_move_iterator(all.end()));
  });
}

}  // namespace

kj::Promise<void> ClientApiImpl::multiGet(MultiGetContext context) {
  auto params = context.getParams();
  auto keys = params.getKeys();
  size_t bytes = 0;
  for (auto k : keys) bytes += k.size();
  if (Status s = CheckBatch(keys.size(), bytes); !s.ok()) return ToException(s);
  auto key_strings = std::make_shared<std::vector<std::string>>();
  auto promises = kj::heapArrayBuilder<kj::Promise<cluster::ClientResult>>(keys.size());
  for (auto k : keys) {
    key_strings->emplace_back(reinterpret_cast<const char*>(k.begin()), k.size());
    auto read = rpc::ReadFromWire(k, params.getOptions());
    promises.add(read.ok() ? impl_.Read(std::move(read).value(), conn_)
                           : kj::Promise<cluster::ClientResult>(ToException(read.status())));
  }
  return JoinResults(promises.finish())
      .then([context, key_strings](std::vector<cluster::ClientResult> results) mutable {
        auto out = context.getResults().initResults(results.size());
        for (size_t i = 0; i < results.size(); ++i) {
          if (results[i].status.ok()) {
            rpc::GetResultToWire(results[i].version, {}, out[i].initResult());
          } else {
            rpc::ErrorToWire(results[i].status, out[i].initError());
          }
        }
        auto input = context.getParams().getOptions().getSession();
        context.getResults().setSession(
            rpc::BytesToWire(MergeSession(input, *key_strings, results)));
      });
}

kj::Promise<void> ClientApiImpl::multiPut(MultiPutContext context) {
  auto params = context.getParams();
  auto entries = params.getEntries();
  size_t bytes = 0;
  for (auto e : entries) bytes += e.getKey().size() + e.getValue().size();
  if (Status s = CheckBatch(entries.size(), bytes); !s.ok()) return ToException(s);
  auto key_strings = std::make_shared<std::vector<std::string>>();
  auto promises = kj::heapArrayBuilder<kj::Promise<cluster::ClientResult>>(entries.size());
  for (auto e : entries) {
    key_strings->emplace_back(reinterpret_cast<const char*>(e.getKey().begin()), e.getKey().size());
    promises.add(WriteOne(e.getKey(), e.getValue(), false, params.getOptions()));
  }
  return JoinResults(promises.finish())
      .then([context, key_strings](std::vector<cluster::ClientResult> results) mutable {
        auto out = context.getResults().initResults(results.size());
        for (size_t i = 0; i < results.size(); ++i) {
          if (results[i].status.ok() && results[i].version) {
            rpc::VersionToWire(*results[i].version, out[i].initVersion());
          } else {
            Status s = results[i].status.ok() ? Status::Internal("no version") : results[i].status;
            rpc::ErrorToWire(s, out[i].initError());
          }
        }
        auto input = context.getParams().getOptions().getSession();
        context.getResults().setSession(
            rpc::BytesToWire(MergeSession(input, *key_strings, results)));
      });
}

// ---- admin ------------------------------------------------------------------------------------

kj::Promise<void> AdminImpl::status(StatusContext context) {
  auto out = context.getResults().initStatus();
  EngineStats stats = impl_.engine->GetStats();
  auto counters = impl_.core->counters();
  out.setId(impl_.core->id());
  out.setName(impl_.options.node.name);
  out.setAddress(impl_.options.node.address);
  out.setKeys(stats.keys_estimate);
  out.setBytes(stats.live_bytes);
  out.setSyncMode(std::string(SyncModeName(impl_.engine->sync_mode())));
  out.setApplied(stats.applied);
  out.setShadowed(stats.shadowed);
  out.setConcurrent(stats.concurrent);
  out.setInFlight(impl_.pending.size());
  out.setClockSkewRejections(impl_.clock->rejected_updates() + counters.clock_skew_rejections);
  out.setReadRepairs(counters.read_repairs);
  out.setSessionEscalations(counters.session_escalations);
  out.setConcurrentSeenByReads(counters.concurrent_seen);
  auto members = impl_.core->Members(MonotonicMs());
  auto list = out.initMembers(members.size());
  for (size_t i = 0; i < members.size(); ++i) rpc::MemberViewToWire(members[i], list[i]);
  return kj::READY_NOW;
}

kj::Promise<void> AdminImpl::ring(RingContext context) {
  auto members = impl_.core->Members(MonotonicMs());
  auto list = context.getResults().initMembers(members.size());
  for (size_t i = 0; i < members.size(); ++i) rpc::MemberViewToWire(members[i], list[i]);
  return kj::READY_NOW;
}

kj::Promise<void> AdminImpl::explain(ExplainContext context) {
  auto key = rpc::KeyFromWire(context.getParams().getKey());
  if (!key.ok()) return ToException(key.status());
  return impl_.Explain(std::move(key).value(), conn_)
      .then([context](cluster::ExplainResult r) mutable {
        ThrowIfError(r.status);
        auto out = context.getResults();
        out.setToken(r.token);
        auto prefs = out.initPreferenceList(r.preference_list.size());
        for (size_t i = 0; i < r.preference_list.size(); ++i) prefs.set(i, r.preference_list[i]);
        auto replicas = out.initReplicas(r.replicas.size());
        for (size_t i = 0; i < r.replicas.size(); ++i) {
          const auto& rv = r.replicas[i];
          replicas[i].setNode(rv.node);
          if (!rv.status.ok()) {
            rpc::ErrorToWire(rv.status, replicas[i].initError());
          } else if (rv.version) {
            rpc::VersionToWire(*rv.version, replicas[i].initVersion());
          } else {
            replicas[i].setAbsent();
          }
        }
      });
}

// ---- peer calls (another node calling us) -------------------------------------------------------

kj::Promise<void> PeerImpl::replicate(ReplicateContext context) {
  NodeId from = From();
  auto params = context.getParams();
  auto key = rpc::KeyFromWire(params.getKey());
  if (!key.ok()) return ToException(key.status());
  auto version = rpc::VersionFromWire(params.getVersion());
  if (!version.ok()) return ToException(version.status());
  cluster::ReplicateRequest req{0, std::move(key).value(), std::move(version).value()};
  return impl_.Inbound(from, std::move(req)).then([](cluster::PeerMessage m) {
    if (auto* r = std::get_if<cluster::ReplicateResponse>(&m)) ThrowIfError(r->status);
  });
}

kj::Promise<void> PeerImpl::read(ReadContext context) {
  NodeId from = From();
  auto key = rpc::KeyFromWire(context.getParams().getKey());
  if (!key.ok()) return ToException(key.status());
  cluster::ReadRequest req{0, std::move(key).value()};
  return impl_.Inbound(from, std::move(req)).then([context](cluster::PeerMessage m) mutable {
    auto* r = std::get_if<cluster::ReadResponse>(&m);
    if (r == nullptr) rpc::ThrowStatus(Status::Internal("wrong response type for read"));
    ThrowIfError(r->status);
    context.getResults().setFound(r->version.has_value());
    if (r->version) rpc::VersionToWire(*r->version, context.getResults().initVersion());
  });
}

kj::Promise<void> PeerImpl::gossip(GossipContext context) {
  NodeId from = From();
  auto message = rpc::GossipFromWire(context.getParams().getState());
  if (!message.ok()) return ToException(message.status());
  // Push-pull replies travel as our own gossip call to the sender (a SendAction), not here.
  impl_.Deliver(from, std::move(message).value());
  return kj::READY_NOW;
}

// ---- Impl: requests into the core -----------------------------------------------------------

Status NodeServer::Admit() const {
  if (stopping) return Status::Unavailable("the node is stopping: retry on another node");
  if (pending.size() + pending_explain.size() >= kNodeInFlightRequestsMax) {
    return Status::Overloaded("the node has " + std::to_string(pending.size()) +
                              " requests in flight: back off and retry");
  }
  return Status::Ok();
}

uint64_t NodeServer::EffectiveTimeout(uint64_t requested_ms) const {
  uint64_t t = requested_ms != 0 ? requested_ms : options.node.request_timeout_ms;
  return std::min<uint64_t>(t, kRequestTimeoutMsMax);
}

template <typename T>
kj::Promise<T> NodeServer::WithDeadline(kj::Promise<T> promise, uint64_t timeout_ms,
                                        std::shared_ptr<ConnStats> conn) {
  ++conn->in_flight;
  conn->last_activity_ms = MonotonicMs();
  auto deadline = port_->timer()
                      .afterDelay((timeout_ms + kDriverDeadlineGraceMs) * kj::MILLISECONDS)
                      .then([timeout_ms]() -> kj::Promise<T> {
                        return ToException(Status::Timeout("no answer within " +
                                                           std::to_string(timeout_ms) + " ms"));
                      });
  return promise.exclusiveJoin(kj::mv(deadline)).attach(kj::defer([conn]() {
    --conn->in_flight;
    conn->last_activity_ms = MonotonicMs();
  }));
}

// Admits a client read or write, registers it as pending and hands it to the core's `start`.
template <typename Request, typename StartFn>
kj::Promise<cluster::ClientResult> NodeServer::Start(Request request,
                                                     std::shared_ptr<ConnStats> conn,
                                                     StartFn start) {
  if (Status s = Admit(); !s.ok()) return ToException(s);
  RequestId id = ++next_request_id;
  request.timeout_ms = EffectiveTimeout(request.timeout_ms);
  auto done = Pend(id, request.timeout_ms, std::move(conn));
  Process((core.get()->*start)(id, std::move(request), MonotonicMs()));
  return done;
}

kj::Promise<cluster::ClientResult> NodeServer::Write(cluster::ClientWrite write,
                                                     std::shared_ptr<ConnStats> conn) {
  return Start(std::move(write), std::move(conn), &cluster::NodeCore::StartWrite);
}

kj::Promise<cluster::ClientResult> NodeServer::Read(cluster::ClientRead read,
                                                    std::shared_ptr<ConnStats> conn) {
  return Start(std::move(read), std::move(conn), &cluster::NodeCore::StartRead);
}

// Registers call `id` as pending and counts it on its connection until its promise is gone.
kj::Promise<cluster::ClientResult> NodeServer::Pend(RequestId id, uint64_t timeout_ms,
                                                    std::shared_ptr<ConnStats> conn) {
  TimeMs now = MonotonicMs();
  auto paf = kj::newPromiseAndFulfiller<cluster::ClientResult>();
  pending.emplace(id, PendingCall{kj::mv(paf.fulfiller), now + timeout_ms + kDriverDeadlineGraceMs,
                                  timeout_ms});
  ++conn->in_flight;
  conn->last_activity_ms = now;
  return paf.promise.attach(kj::defer([this, id, conn = std::move(conn)]() {
    pending.erase(id);
    --conn->in_flight;
    conn->last_activity_ms = MonotonicMs();
  }));
}

kj::Promise<cluster::ExplainResult> NodeServer::Explain(std::string key,
                                                        std::shared_ptr<ConnStats> conn) {
  if (Status s = Admit(); !s.ok()) return ToException(s);
  RequestId id = ++next_request_id;
  auto paf = kj::newPromiseAndFulfiller<cluster::ExplainResult>();
  pending_explain.emplace(id, kj::mv(paf.fulfiller));
  Process(core->StartExplain(id, std::move(key), MonotonicMs()));
  auto done = paf.promise.attach(kj::defer([this, id]() { pending_explain.erase(id); }));
  return WithDeadline(kj::mv(done), EffectiveTimeout(0), std::move(conn));
}

kj::Promise<cluster::PeerMessage> NodeServer::Inbound(NodeId from, cluster::PeerMessage message) {
  if (inbound.size() >= kNodeInFlightRequestsMax) {
    return ToException(Status::Overloaded("too many peer requests in flight"));
  }
  RequestId id = ++next_inbound_id;
  std::visit(
      [id](auto& m) {
        if constexpr (requires { m.id; }) m.id = id;
      },
      message);
  auto paf = kj::newPromiseAndFulfiller<cluster::PeerMessage>();
  inbound.emplace(id, kj::mv(paf.fulfiller));
  Deliver(from, std::move(message));
  auto deadline = port_->timer()
                      .afterDelay(EffectiveTimeout(0) * kj::MILLISECONDS)
                      .then([]() -> kj::Promise<cluster::PeerMessage> {
                        return ToException(Status::Timeout("the replica did not answer in time"));
                      });
  return paf.promise.exclusiveJoin(kj::mv(deadline)).attach(kj::defer([this, id]() {
    inbound.erase(id);
  }));
}

void NodeServer::Deliver(NodeId from, cluster::PeerMessage message) {
  if (torn_down) return;
  Process(core->OnPeerMessage(from, std::move(message), MonotonicMs()));
}

// ---- Impl: carrying out actions -------------------------------------------------------------

void NodeServer::Process(cluster::Actions actions) {
  {
    ++process_depth;
    KJ_DEFER(--process_depth);
    for (auto& action : actions) Carry(action);
  }
  if (process_depth == 0) DeliverOwnMessages();
}

// Drains self_messages iteratively: what the core answers to one of them is carried out here
// (nested Process calls only queue), and new messages to ourselves join the queue.
void NodeServer::DeliverOwnMessages() {
  ++process_depth;
  KJ_DEFER(--process_depth);
  while (!self_messages.empty() && !torn_down) {
    auto [from, message] = std::move(self_messages.front());
    self_messages.pop_front();
    for (auto& action : core->OnPeerMessage(from, std::move(message), MonotonicMs())) {
      Carry(action);
    }
  }
}

void NodeServer::Carry(cluster::Action& action) {
  if (auto* send = std::get_if<cluster::SendAction>(&action)) return Send(*send);
  if (auto* reply = std::get_if<cluster::ReplyAction>(&action)) {
    auto it = pending.find(reply->id);
    if (it != pending.end()) it->second.fulfiller->fulfill(std::move(reply->result));
    return;
  }
  if (auto* reply = std::get_if<cluster::ExplainReplyAction>(&action)) {
    auto it = pending_explain.find(reply->id);
    if (it != pending_explain.end()) it->second->fulfill(std::move(reply->result));
    return;
  }
  if (auto* storage = std::get_if<cluster::StorageAction>(&action)) {
    return RunStorage(std::move(*storage));
  }
  if (auto* persist = std::get_if<cluster::PersistMetaAction>(&action)) {
    return Persist(std::move(*persist));
  }
}

void NodeServer::Send(cluster::SendAction& send) {
  if (send.to == core->id()) {
    // Our own replica: delivered by the outermost Process(), never re-entering the core.
    self_messages.emplace_back(send.to, std::move(send.message));
    return;
  }
  RequestId response_id = 0;
  if (auto* r = std::get_if<cluster::ReplicateResponse>(&send.message)) response_id = r->id;
  if (auto* r = std::get_if<cluster::ReadResponse>(&send.message)) response_id = r->id;
  if (response_id != 0) {  // the answer to a call a peer made to us
    auto it = inbound.find(response_id);
    if (it != inbound.end()) it->second->fulfill(std::move(send.message));
    return;
  }
  peers->Send(send.to, send.address, std::move(send.message));
}

namespace {

struct StorageWork {
  uv_work_t req;
  NodeServer* impl;
  Engine* engine;
  cluster::StorageAction action;
  cluster::StorageResult result;
};

// The engine call a StorageAction asks for. Touches only the engine (thread-safe).
cluster::StorageResult ExecuteStorage(Engine* engine, const cluster::StorageAction& action) {
  cluster::StorageResult result;
  if (action.kind == cluster::StorageAction::Kind::kApply) {
    auto r = engine->Apply(action.key, action.version);
    if (!r.ok()) result.status = r.status();
  } else {
    auto r = engine->Get(action.key);
    if (r.ok()) {
      result.version = std::move(r).value();
    } else {
      result.status = r.status();
    }
  }
  return result;
}

// On a libuv pool thread.
void DoStorage(uv_work_t* req) {
  auto* w = static_cast<StorageWork*>(req->data);
  w->result = ExecuteStorage(w->engine, w->action);
}

}  // namespace

// Without a per-write fsync (`periodic`, `none`) an engine call is memtable work plus a page-cache
// WAL append, cheaper than the pool hop (a futex wake, an eventfd write, a loop wake-up and
// RocksDB write-group contention between pool threads), so it runs inline on the loop thread.
// `always` waits for fsync: the pool keeps those waits off the loop (docs/design.md).
void NodeServer::RunStorage(cluster::StorageAction action) {
  if (engine->sync_mode() != SyncMode::kAlways) {
    cluster::StorageResult result = ExecuteStorage(engine, action);
    Process(core->OnStorageDone(action.op_id, std::move(result), MonotonicMs()));
    return;
  }
  auto* w = new StorageWork{{}, this, engine, std::move(action), {}};
  w->req.data = w;
  ++storage_in_flight;
  uv_queue_work(&loop, &w->req, &DoStorage, [](uv_work_t* req, int status) {
    std::unique_ptr<StorageWork> w(static_cast<StorageWork*>(req->data));
    Impl* impl = w->impl;
    --impl->storage_in_flight;
    if (impl->torn_down) return;
    if (status != 0) w->result.status = Status::Internal("storage work cancelled");
    impl->Process(impl->core->OnStorageDone(w->action.op_id, std::move(w->result), MonotonicMs()));
  });
}

void NodeServer::Persist(cluster::PersistMetaAction action) {
  meta_pending[action.name] = std::move(action.value);
  if (!meta_writing) StoreNextMeta();
}

namespace {

struct MetaWork {
  uv_work_t req;
  NodeServer* impl;
  Engine* engine;
  std::string name, value;
  Status status;
};

}  // namespace

// Engine::StoreMeta syncs the WAL: on the pool, never on the loop.
void NodeServer::StoreNextMeta() {
  if (meta_pending.empty()) return;
  auto first = meta_pending.begin();
  auto* w = new MetaWork{{}, this, engine, first->first, std::move(first->second), {}};
  meta_pending.erase(first);
  w->req.data = w;
  meta_writing = true;
  ++storage_in_flight;
  uv_queue_work(
      &loop, &w->req,
      [](uv_work_t* req) {
        auto* w = static_cast<MetaWork*>(req->data);
        w->status = w->engine->StoreMeta(w->name, w->value);
      },
      [](uv_work_t* req, int status) {
        std::unique_ptr<MetaWork> w(static_cast<MetaWork*>(req->data));
        Impl* impl = w->impl;
        --impl->storage_in_flight;
        impl->meta_writing = false;
        if (status != 0 || !w->status.ok()) {
          impl->log->warn("event=persist_failed name={} error=\"{}\"", w->name,
                          status != 0 ? "cancelled" : w->status.ToString());
        }
        impl->StoreNextMeta();  // also during teardown: a leave's view is still stored
      });
}

// ---- Impl: connections ------------------------------------------------------------------------

kj::Promise<void> NodeServer::AcceptLoop() {
  return listener->accept().then(
      [this](kj::Own<kj::AsyncIoStream> stream) {
        OnAccepted(kj::mv(stream));
        return AcceptLoop();
      },
      [this](kj::Exception&& e) {
        log->warn("event=accept_failed error=\"{}\"", e.getDescription().cStr());
        return port_->timer().afterDelay(kAcceptRetryMs * kj::MILLISECONDS).then([this]() {
          return AcceptLoop();
        });
      });
}

void NodeServer::OnAccepted(kj::Own<kj::AsyncIoStream> stream) {
  if (connections.size() >= kClientConnectionsMax) {
    log->warn("event=connection_refused reason=too_many_connections max={}", kClientConnectionsMax);
    return;  // dropping the stream closes it
  }
  auto conn = kj::heap<Connection>();
  conn->id = ++next_conn_id;
  conn->stats = std::make_shared<ConnStats>();
  conn->stats->last_activity_ms = MonotonicMs();
  // One read syscall per batch of pipelined messages instead of two per message.
  conn->stream = kj::heap<rpc::BufferedStream>(kj::mv(stream));
  capnp::ReaderOptions reader;
  reader.traversalLimitInWords = kTraversalWordsMax;
  conn->network = kj::heap<capnp::TwoPartyVatNetwork>(*conn->stream,
                                                      capnp::rpc::twoparty::Side::SERVER, reader);
  conn->rpc =
      kj::heap(capnp::makeRpcServer(*conn->network, kj::heap<BootstrapImpl>(*this, conn->stats)));
  conn->rpc->setFlowLimit(kConnectionFlowBytesMax / sizeof(capnp::word));
  uint64_t id = conn->id;
  conn->watch = conn->network->onDisconnect()
                    .then([this, id]() {
                      // Not from inside the connection's own callback: a later turn.
                      tasks->add(kj::evalLater([this, id]() { connections.erase(id); }));
                    })
                    .eagerlyEvaluate(nullptr);
  connections.emplace(id, kj::mv(conn));
}

void NodeServer::SweepIdle(TimeMs now) {
  if (now - last_idle_sweep_ms < kIdleSweepIntervalMs) return;
  last_idle_sweep_ms = now;
  SweepOverdue(now);
  for (auto it = connections.begin(); it != connections.end();) {
    const auto& s = *it->second->stats;
    bool idle = s.in_flight == 0 && s.peer_node == 0 &&
                now - s.last_activity_ms >= options.idle_connection_timeout_ms;
    it = idle ? connections.erase(it) : std::next(it);
  }
}

// The driver's safety net: a call the core has not answered by its deadline plus the grace fails
// with kTimeout (its promise's teardown then removes it from `pending`).
void NodeServer::SweepOverdue(TimeMs now) {
  for (auto& [id, call] : pending) {
    if (now < call.deadline_ms || !call.fulfiller->isWaiting()) continue;
    log->warn("event=driver_deadline request={} timeout_ms={}", id, call.timeout_ms);
    call.fulfiller->reject(ToException(
        Status::Timeout("no answer within " + std::to_string(call.timeout_ms) + " ms")));
  }
}

void NodeServer::MaybeSetWatermark(TimeMs now) {
  if (last_watermark_ms != 0 && now - last_watermark_ms < kTombstoneWatermarkIntervalMs) return;
  last_watermark_ms = now;
  uint64_t physical = HlcPhysicalMs(clock->Last());
  if (physical > kTombstoneGraceMsDefault) {
    engine->SetTombstoneWatermark(HlcMake(physical - kTombstoneGraceMsDefault, 0));
  }
}

void NodeServer::OnTick() {
  TimeMs now = MonotonicMs();
  Process(core->Tick(now));
  SweepIdle(now);
  MaybeSetWatermark(now);
  if (stopping && (Drained() || now >= stop_deadline_ms)) {
    if (!Drained()) log->warn("event=stop_drain_timeout in_flight={}", pending.size());
    uv_stop(&loop);
  }
}

bool NodeServer::Drained() const {
  return pending.empty() && pending_explain.empty() && storage_in_flight == 0 &&
         peers->InFlight() == 0;
}

void NodeServer::BeginStop() {
  if (stopping || !port_) return;
  stopping = true;
  log->info("event=stopping in_flight={}", pending.size());
  accept_loop = nullptr;
  listener = nullptr;
  Process(core->Leave(MonotonicMs()));
  stop_deadline_ms = MonotonicMs() + options.node.request_timeout_ms + kStopDrainExtraMs;
}

// ---- Impl: loop setup and teardown -------------------------------------------------------------

void NodeServer::SetUpLoop() {
  port_ = kj::heap<rpc::UvEventPort>(&loop);
  low_io = kj::heap<rpc::UvIoProvider>(*port_);
  io = kj::newAsyncIoProvider(*low_io);
  task_errors = LogTaskErrors(log.get());
  tasks = kj::heap<kj::TaskSet>(task_errors);
  core = std::make_unique<cluster::NodeCore>(options.node, clock);
  peers = kj::heap<rpc::PeerLinks>(
      io->getNetwork(), port_->timer(), core->id(), options.node.name, options.node.address,
      options.node.peer_timeout_ms,
      [this](NodeId from, cluster::PeerMessage m) { Deliver(from, std::move(m)); },
      [this](NodeId to, cluster::PeerMessage m) {
        if (!torn_down) Process(core->OnSendFailed(to, m, MonotonicMs()));
      });
  listener = low_io->wrapListenSocketFd(
      listen_fd, kj::LowLevelAsyncIoProvider::NetworkFilter::getAllAllowed(),
      kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP | kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
          kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK);
  listen_fd = -1;  // owned by the listener now
  accept_loop = AcceptLoop().eagerlyEvaluate(nullptr);
  uv_timer_init(&loop, &tick_timer);
  tick_timer.data = this;
  uv_timer_start(
      &tick_timer, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->OnTick(); },
      options.tick_interval_ms, options.tick_interval_ms);
}

void NodeServer::TearDown() {
  torn_down = true;
  accept_loop = nullptr;
  listener = nullptr;
  connections.clear();
  peers = nullptr;
  pending.clear();
  pending_explain.clear();
  inbound.clear();
  tasks = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_timer), nullptr);
  {
    std::lock_guard<std::mutex> lock(stop_mu);
    stop_async_open = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&stop_async), nullptr);
  }
  // Storage work still on the pool must come back before the loop can close.
  while (storage_in_flight > 0) uv_run(&loop, UV_RUN_ONCE);
  core.reset();
  io = nullptr;
  low_io = nullptr;
  port_ = nullptr;
  uv_run(&loop, UV_RUN_NOWAIT);
}

// ---- Server -------------------------------------------------------------------------------------

struct Server::Impl final : NodeServer {};

Result<std::unique_ptr<Server>> Server::Create(ServerOptions options, Engine* engine,
                                               HybridClock* clock,
                                               std::shared_ptr<spdlog::logger> log) {
  if (options.listen.empty()) options.listen = options.node.address;
  auto fd = BindListen(options.listen);
  if (!fd.ok()) return fd.status();
  auto impl = std::make_unique<Impl>();
  impl->listen_fd = fd.value();
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(impl->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  impl->port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (options.node.address.empty() || options.node.address.ends_with(":0")) {
    std::string host, port;
    SplitHostPort(options.listen, &host, &port);
    options.node.address = host + ":" + std::to_string(impl->port);
  }
  impl->options = std::move(options);
  impl->engine = engine;
  impl->clock = clock;
  impl->log = log ? std::move(log)
                  : std::make_shared<spdlog::logger>(
                        "causeway", std::make_shared<spdlog::sinks::null_sink_mt>());
  uv_loop_init(&impl->loop);
  uv_async_init(&impl->loop, &impl->stop_async,
                [](uv_async_t* a) { static_cast<Impl*>(a->data)->BeginStop(); });
  impl->stop_async.data = impl.get();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  if (impl_->listen_fd >= 0) close(impl_->listen_fd);
  if (!impl_->torn_down) {
    uv_close(reinterpret_cast<uv_handle_t*>(&impl_->stop_async), nullptr);
    uv_run(&impl_->loop, UV_RUN_NOWAIT);
  }
  uv_loop_close(&impl_->loop);
}

int Server::port() const { return impl_->port; }

Status Server::Run() {
  Impl& impl = *impl_;
  if (impl.torn_down || impl.listen_fd < 0) return Status::Internal("Server::Run() called twice");
  auto setup = kj::runCatchingExceptions([&]() { impl.SetUpLoop(); });
  KJ_IF_MAYBE (e, setup) {
    return Status::Internal(e->getDescription().cStr());
  }
  impl.log->info("event=serving node={} address={} port={}", impl.options.node.name,
                 impl.options.node.address, impl.port);
  if (impl.stop_requested) impl.BeginStop();
  uv_run(&impl.loop, UV_RUN_DEFAULT);
  Status synced = impl.engine->SyncWal();
  if (!synced.ok()) impl.log->error("event=sync_failed error=\"{}\"", synced.ToString());
  impl.TearDown();
  impl.log->info("event=stopped node={}", impl.options.node.name);
  return synced;
}

void Server::Stop() {
  impl_->stop_requested = true;
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stop_async_open) uv_async_send(&impl_->stop_async);
}

}  // namespace causeway
