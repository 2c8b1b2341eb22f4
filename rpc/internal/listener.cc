#include "rpc/internal/listener.h"

#include <arpa/inet.h>
#include <capnp/message.h>
#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "base/limits.h"
#include "base/strings.h"
#include "rpc/internal/buffered_stream.h"
#include "rpc/internal/tls_sniff.h"

namespace causeway::rpc {
namespace {

constexpr uint64_t kAcceptRetryMs = 100;

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

uint64_t MonotonicMs() { return uv_hrtime() / 1000000; }

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
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
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

int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

// The frame budget and pre-authentication size limit of one connection (FrameObserver).
class Listener::FrameGate final : public FrameObserver {
 public:
  FrameGate(Listener& listener, ConnStats& stats) : listener_(listener), stats_(stats) {}
  ~FrameGate() override { Release(); }
  FrameGate(const FrameGate&) = delete;
  FrameGate& operator=(const FrameGate&) = delete;

  Status OnFrameStart(size_t bytes) override {
    if (!stats_.authenticated && bytes > kPreAuthFrameBytesMax) {
      listener_.log_->warn("event=frame_refused reason=pre_auth_size bytes={} max={} source={}",
                           bytes, kPreAuthFrameBytesMax, stats_.source);
      return Status::InvalidArgument(StrCat("a frame of ", bytes,
                                            " bytes before authentication (at most ",
                                            kPreAuthFrameBytesMax, ")"));
    }
    if (bytes <= kRpcReadBufferBytes) return Status::Ok();
    if (listener_.partial_frame_bytes_ + bytes > kPartialFrameBudgetBytes) {
      listener_.log_->warn(
          "event=frame_refused reason=partial_frame_budget bytes={} reserved={} budget={} "
          "source={}",
          bytes, listener_.partial_frame_bytes_, kPartialFrameBudgetBytes, stats_.source);
      return Status::Overloaded("the node's budget for half-received frames is full");
    }
    listener_.partial_frame_bytes_ += bytes;
    reserved_ = bytes;
    started_ms_ = MonotonicMs();
    return Status::Ok();
  }
  void OnFrameEnd() override { Release(); }

  // A frame is arriving slower than kPartialFrameBytesPerSMin (after kPartialFrameMsMin).
  bool TooSlow(uint64_t now_ms) const {
    return reserved_ > 0 &&
           now_ms - started_ms_ > kPartialFrameMsMin + reserved_ * 1000 / kPartialFrameBytesPerSMin;
  }

 private:
  void Release() {
    listener_.partial_frame_bytes_ -= reserved_;
    reserved_ = 0;
  }

  Listener& listener_;
  ConnStats& stats_;
  size_t reserved_ = 0;
  uint64_t started_ms_ = 0;
};

struct Listener::Connection {
  std::shared_ptr<ConnStats> stats;
  kj::Own<FrameGate> gate;  // outlives the stream that reports to it
  kj::Own<kj::AsyncIoStream> stream;
  kj::Own<capnp::TwoPartyVatNetwork> network;  // null while TLS is being set up
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
  kj::Promise<void> watch = nullptr;  // removes the connection when it disconnects
  kj::Promise<void> setup = nullptr;  // the TLS sniff and handshake (destroyed first)
};

Listener::Listener(kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, int listen_fd,
                   uint64_t idle_timeout_ms, BootstrapFn bootstrap, spdlog::logger* log,
                   TlsSource tls)
    : timer_(timer),
      idle_timeout_ms_(idle_timeout_ms),
      bootstrap_(std::move(bootstrap)),
      log_(log),
      tls_(std::move(tls)),
      receiver_(io.wrapListenSocketFd(listen_fd,
                                      kj::LowLevelAsyncIoProvider::NetworkFilter::getAllAllowed(),
                                      kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                                          kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                                          kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK)) {
  task_errors_ = kj::heap<LogTaskErrors>(log_);
  tasks_ = kj::heap<kj::TaskSet>(*task_errors_);
  accept_loop_ = AcceptLoop().eagerlyEvaluate(nullptr);
}

Listener::~Listener() {
  accept_loop_ = nullptr;
  receiver_ = nullptr;
  connections_.clear();
  tasks_ = nullptr;
}

kj::Promise<void> Listener::AcceptLoop() {
  return receiver_->accept().then(
      [this](kj::Own<kj::AsyncIoStream> stream) {
        OnAccepted(kj::mv(stream));
        return AcceptLoop();
      },
      [this](kj::Exception&& e) {
        log_->warn("event=accept_failed error=\"{}\"", e.getDescription().cStr());
        return timer_.afterDelay(kAcceptRetryMs * kj::MILLISECONDS).then([this]() {
          return AcceptLoop();
        });
      });
}

namespace {

// The remote IP address of an accepted stream ("" if unknown).
std::string SourceOf(kj::AsyncIoStream& stream) {
  sockaddr_storage addr{};
  kj::uint len = sizeof(addr);
  KJ_IF_MAYBE (e, kj::runCatchingExceptions(
                      [&]() { stream.getpeername(reinterpret_cast<sockaddr*>(&addr), &len); })) {
    return "";
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, text, sizeof(text));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, text, sizeof(text));
  }
  return text;
}

// Logs the 1st, 2nd, 4th, ... and every 1000th of a flood's events, not each.
bool WorthLogging(uint64_t count) { return (count & (count - 1)) == 0 || count % 1000 == 0; }

}  // namespace

bool Listener::EvictOldestPreAuth(const std::string& source) {
  std::set<uint64_t>& ids = source.empty() ? preauth_ : preauth_by_source_[source];
  while (!ids.empty()) {
    const uint64_t id = *ids.begin();
    auto it = connections_.find(id);
    if (it == connections_.end() || it->second->stats->authenticated) {
      // Authenticated since: no longer a candidate.
      const std::string src = it == connections_.end() ? source : it->second->stats->source;
      preauth_.erase(id);
      preauth_by_source_[src].erase(id);
      ids.erase(id);
      continue;
    }
    Erase(id, nullptr);
    if (WorthLogging(++counters_.evicted)) {
      log_->warn(
          "event=connection_evicted reason=connection_bounds evicted={} connections={} "
          "pre_auth={} source={}",
          counters_.evicted, connections_.size(), preauth_.size(), source);
    }
    return true;
  }
  return false;
}

bool Listener::Admit(const std::string& source) {
  while (preauth_by_source_[source].size() >= kPreAuthConnectionsPerSourceMax) {
    if (!EvictOldestPreAuth(source)) break;
  }
  while (preauth_.size() >= kPreAuthConnectionsMax) {
    if (!EvictOldestPreAuth("")) break;
  }
  while (per_source_[source] >= kConnectionsPerSourceMax) {
    if (!EvictOldestPreAuth(source)) return false;
  }
  while (connections_.size() >= kClientConnectionsMax) {
    if (!EvictOldestPreAuth("")) return false;
  }
  return true;
}

void Listener::Erase(uint64_t id, const char* reason) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  const std::string source = it->second->stats->source;
  if (reason != nullptr) {
    log_->info("event=connection_closed reason={} source={} peer={:x}", reason, source,
               it->second->stats->peer_node);
  }
  if (auto ps = per_source_.find(source); ps != per_source_.end() && --ps->second == 0) {
    per_source_.erase(ps);
  }
  preauth_.erase(id);
  if (auto pa = preauth_by_source_.find(source); pa != preauth_by_source_.end()) {
    pa->second.erase(id);
    if (pa->second.empty()) preauth_by_source_.erase(pa);
  }
  connections_.erase(it);
}

void Listener::OnAccepted(kj::Own<kj::AsyncIoStream> stream) {
  std::string source = SourceOf(*stream);
  if (!Admit(source)) {
    if (WorthLogging(++counters_.refused)) {
      log_->warn("event=connection_refused reason=too_many_connections max={} refused={}",
                 kClientConnectionsMax, counters_.refused);
    }
    return;  // dropping the stream closes it
  }
  auto conn = kj::heap<Connection>();
  conn->stats = std::make_shared<ConnStats>();
  conn->stats->last_activity_ms = MonotonicMs();
  conn->stats->opened_ms = conn->stats->last_activity_ms;
  conn->stats->source = source;
  conn->gate = kj::heap<FrameGate>(*this, *conn->stats);
  const uint64_t id = ++next_conn_id_;
  Connection& c = *conn;
  connections_.emplace(id, kj::mv(conn));
  ++per_source_[source];
  preauth_.insert(id);
  preauth_by_source_[source].insert(id);
  std::shared_ptr<const TlsContexts> tls = tls_ ? tls_() : nullptr;
  if (tls == nullptr) return StartRpc(id, kj::mv(stream));
  // The handshake deadline (SweepIdle) bounds the sniff and the handshake as it does a login.
  c.setup = SetUpTls(id, tls, kj::mv(stream)).eagerlyEvaluate(nullptr);
}

kj::Promise<void> Listener::SetUpTls(uint64_t id, const std::shared_ptr<const TlsContexts>& tls,
                                     kj::Own<kj::AsyncIoStream> stream) {
  return SniffTls(kj::mv(stream))
      .then([this, id, tls](Sniffed sniffed) -> kj::Promise<void> {
        auto it = connections_.find(id);
        if (it == connections_.end()) return kj::READY_NOW;
        ConnStats& stats = *it->second->stats;
        if (!sniffed.tls) {
          StartRpc(id, kj::mv(sniffed.stream));
          return kj::READY_NOW;
        }
        stats.tls = true;
        stats.peer_door = sniffed.server_name == kPeerServerName;
        kj::TlsContext& door = stats.peer_door ? *tls->peer_door : *tls->client_door;
        kj::AuthenticatedStream raw{kj::mv(sniffed.stream), kj::heap<SourceIdentity>(stats.source)};
        return door.wrapServer(kj::mv(raw)).then([this, id, tls](kj::AuthenticatedStream wrapped) {
          auto found = connections_.find(id);
          if (found == connections_.end()) return;
          auto& identity = kj::downcast<kj::TlsPeerIdentity>(*wrapped.peerIdentity);
          if (identity.hasCertificate()) {
            found->second->stats->cert_name = identity.getCommonName().cStr();
          }
          StartRpc(id, kj::mv(wrapped.stream));
        });
      })
      .catch_([this, id](kj::Exception&& e) {
        auto it = connections_.find(id);
        if (it == connections_.end()) return;
        ++counters_.tls_failures;
        log_->warn("event=tls_handshake_failed source={} peer_door={} failures={} error=\"{}\"",
                   it->second->stats->source, it->second->stats->peer_door, counters_.tls_failures,
                   e.getDescription().cStr());
        // Not from inside the connection's own promise: a later turn.
        tasks_->add(kj::evalLater([this, id]() { Erase(id, nullptr); }));
      });
}

void Listener::StartRpc(uint64_t id, kj::Own<kj::AsyncIoStream> stream) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& conn = *it->second;
  // One read syscall per batch of pipelined messages instead of two per message.
  auto buffered = kj::heap<BufferedStream>(kj::mv(stream));
  buffered->set_frame_observer(conn.gate.get());
  conn.stream = kj::mv(buffered);
  capnp::ReaderOptions reader;
  reader.traversalLimitInWords = kTraversalWordsMax;
  conn.network =
      kj::heap<capnp::TwoPartyVatNetwork>(*conn.stream, capnp::rpc::twoparty::Side::SERVER, reader);
  conn.rpc = kj::heap(capnp::makeRpcServer(*conn.network, bootstrap_(conn.stats)));
  conn.rpc->setFlowLimit(kConnectionFlowBytesMax / sizeof(capnp::word));
  conn.watch = conn.network->onDisconnect()
                   .then([this, id]() {
                     // Not from inside the connection's own callback: a later turn.
                     tasks_->add(kj::evalLater([this, id]() { Erase(id, nullptr); }));
                   })
                   .eagerlyEvaluate(nullptr);
}

void Listener::StopAccepting() {
  accept_loop_ = nullptr;
  receiver_ = nullptr;
}

void Listener::SweepIdle(uint64_t now_ms) {
  std::vector<std::pair<uint64_t, const char*>> closing;
  for (const auto& [id, conn] : connections_) {
    const ConnStats& s = *conn->stats;
    if (s.close_wanted) {
      ++counters_.security;
      closing.emplace_back(id, "failed_authentication");
    } else if (!s.authenticated && now_ms - s.opened_ms >= kHandshakeDeadlineMs) {
      ++counters_.handshake_timeouts;
      closing.emplace_back(id, nullptr);  // a flood's worth: counted, logged in sum below
    } else if (conn->gate->TooSlow(now_ms)) {
      ++counters_.slow_frames;
      closing.emplace_back(id, "slow_frame");
    } else if (s.in_flight == 0 && s.peer_node == 0 &&
               now_ms - s.last_activity_ms >= idle_timeout_ms_) {
      closing.emplace_back(id, nullptr);
    }
  }
  const uint64_t timeouts_before = counters_.handshake_timeouts;
  for (const auto& [id, reason] : closing) Erase(id, reason);
  if (!closing.empty() && counters_.handshake_timeouts != timeouts_before) {
    log_->info("event=handshake_timeouts total={} connections={}", counters_.handshake_timeouts,
               connections_.size());
  }
  EnforceReplyBudget();
}

void Listener::EnforceReplyBudget() {
  std::vector<std::pair<size_t, uint64_t>> queued;  // (bytes, id)
  size_t total = 0;
  for (auto& [id, conn] : connections_) {
    if (!conn->network) continue;  // TLS still being set up
    size_t bytes = conn->network->getCurrentQueueSize();
    if (bytes == 0) continue;
    total += bytes;
    queued.emplace_back(bytes, id);
  }
  if (total <= kQueuedReplyBudgetBytes && queued.size() > 0 &&
      std::max_element(queued.begin(), queued.end())->first <= kConnectionQueuedReplyBytesMax) {
    return;
  }
  std::sort(queued.rbegin(), queued.rend());
  for (const auto& [bytes, id] : queued) {
    if (total <= kQueuedReplyBudgetBytes && bytes <= kConnectionQueuedReplyBytesMax) break;
    ++counters_.reply_budget;
    log_->warn("event=connection_closed reason=queued_replies bytes={} node_total={}", bytes,
               total);
    Erase(id, nullptr);
    total -= bytes;
  }
}

void Listener::CloseAll() {
  connections_.clear();
  per_source_.clear();
  preauth_.clear();
  preauth_by_source_.clear();
}

}  // namespace causeway::rpc
