#include "rpc/resp/gateway.h"

#include <spdlog/spdlog.h>

#include "base/limits.h"
#include "rpc/internal/node_host.h"
#include "rpc/internal/tls_sniff.h"

namespace causeway::rpc::resp {
namespace {

// After a failed accept (out of file descriptors, say), the next one is tried this much later.
constexpr uint64_t kAcceptRetryMs = 100;

}  // namespace

Gateway::Gateway(NodeHost& host, kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, int listen_fd,
                 RespOptions options, std::function<size_t()> other_connections,
                 spdlog::logger* log, TlsSource tls)
    : timer_(timer),
      other_connections_(std::move(other_connections)),
      log_(log),
      receiver_(io.wrapListenSocketFd(listen_fd,
                                      kj::LowLevelAsyncIoProvider::NetworkFilter::getAllAllowed(),
                                      kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                                          kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                                          kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK)),
      tls_(std::move(tls)),
      tasks_(*this) {
  view_.host = &host;
  view_.options = std::move(options);
  if (!view_.options.authenticator && !view_.options.password.empty()) {
    view_.options.authenticator = PasswordAuthenticator(view_.options.password);
  }
  view_.clients = [this] { return connections_.size(); };
  view_.started_ms = MonotonicMs();
  view_.port = BoundPort(listen_fd);
  accept_loop_ = AcceptLoop().eagerlyEvaluate(nullptr);
}

Gateway::~Gateway() {
  accept_loop_ = nullptr;
  receiver_ = nullptr;
  handshakes_.clear();
  connections_.clear();
}

void Gateway::taskFailed(kj::Exception&& e) {
  log_->warn("event=resp_task_failed error=\"{}\"", e.getDescription().cStr());
}

kj::Promise<void> Gateway::AcceptLoop() {
  return receiver_->accept().then(
      [this](kj::Own<kj::AsyncIoStream> stream) {
        OnAccepted(kj::mv(stream));
        return AcceptLoop();
      },
      [this](kj::Exception&& e) -> kj::Promise<void> {
        log_->warn("event=resp_accept_failed error=\"{}\"", e.getDescription().cStr());
        return timer_.afterDelay(kAcceptRetryMs * kj::MILLISECONDS).then([this] {
          return AcceptLoop();
        });
      });
}

void Gateway::OnAccepted(kj::Own<kj::AsyncIoStream> stream) {
  std::shared_ptr<const TlsContexts> tls = tls_ ? tls_() : nullptr;
  if (tls == nullptr) return Admit(kj::mv(stream));
  if (handshakes_.size() >= kPreAuthConnectionsMax) {
    log_->warn("event=connection_refused reason=too_many_handshakes max={} protocol=resp",
               kPreAuthConnectionsMax);
    return;  // dropping the stream closes it
  }
  const uint64_t id = ++next_id_;
  auto source = kj::heap<SourceIdentity>("resp");
  auto deadline = timer_.afterDelay(kHandshakeDeadlineMs * kj::MILLISECONDS).then([]() {
    return kj::Promise<kj::AuthenticatedStream>(
        KJ_EXCEPTION(DISCONNECTED, "no TLS handshake within the deadline"));
  });
  auto handshake =
      tls->client_door->wrapServer(kj::AuthenticatedStream{kj::mv(stream), kj::mv(source)})
          .exclusiveJoin(kj::mv(deadline))
          .then(
              [this, id, tls](kj::AuthenticatedStream secured) {
                Admit(kj::mv(secured.stream));
                tasks_.add(kj::evalLater([this, id] { handshakes_.erase(id); }));
              },
              [this, id](kj::Exception&& e) {
                log_->warn("event=tls_handshake_failed protocol=resp error=\"{}\"",
                           e.getDescription().cStr());
                tasks_.add(kj::evalLater([this, id] { handshakes_.erase(id); }));
              })
          .eagerlyEvaluate(nullptr);
  handshakes_.emplace(id, kj::mv(handshake));
}

void Gateway::Admit(kj::Own<kj::AsyncIoStream> stream) {
  const uint64_t id = ++next_id_;
  auto conn = kj::heap<Connection>(view_, kj::mv(stream), id, [this](uint64_t closed) {
    // Not from inside the connection's own callbacks: a later turn.
    tasks_.add(kj::evalLater([this, closed] { connections_.erase(closed); }));
  });
  Connection* raw = conn.get();
  const size_t open = connections_.size() + (other_connections_ ? other_connections_() : 0);
  connections_.emplace(id, kj::mv(conn));
  if (open >= kClientConnectionsMax) {
    log_->warn("event=connection_refused reason=too_many_connections max={} protocol=resp",
               kClientConnectionsMax);
    raw->Start("ERR max number of clients reached");
    return;
  }
  raw->Start();
}

void Gateway::StopAccepting() {
  accept_loop_ = nullptr;
  receiver_ = nullptr;
}

void Gateway::SweepIdle(uint64_t now_ms) {
  for (auto it = connections_.begin(); it != connections_.end();) {
    it = it->second->Idle(now_ms, view_.options.idle_timeout_ms) ? connections_.erase(it)
                                                                 : std::next(it);
  }
}

void Gateway::CloseAll() {
  handshakes_.clear();
  connections_.clear();
}

}  // namespace causeway::rpc::resp
