#include "rpc/internal/listener.h"

#include <arpa/inet.h>
#include <capnp/message.h>
#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>

#include "base/limits.h"
#include "rpc/internal/buffered_stream.h"

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

struct Listener::Connection {
  std::shared_ptr<ConnStats> stats;
  kj::Own<kj::AsyncIoStream> stream;
  kj::Own<capnp::TwoPartyVatNetwork> network;
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
  kj::Promise<void> watch = nullptr;  // removes the connection when it disconnects
};

Listener::Listener(kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, int listen_fd,
                   uint64_t idle_timeout_ms, BootstrapFn bootstrap, spdlog::logger* log)
    : timer_(timer),
      idle_timeout_ms_(idle_timeout_ms),
      bootstrap_(std::move(bootstrap)),
      log_(log),
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

void Listener::OnAccepted(kj::Own<kj::AsyncIoStream> stream) {
  if (connections_.size() >= kClientConnectionsMax) {
    log_->warn("event=connection_refused reason=too_many_connections max={}",
               kClientConnectionsMax);
    return;  // dropping the stream closes it
  }
  auto conn = kj::heap<Connection>();
  conn->stats = std::make_shared<ConnStats>();
  conn->stats->last_activity_ms = MonotonicMs();
  // One read syscall per batch of pipelined messages instead of two per message.
  conn->stream = kj::heap<BufferedStream>(kj::mv(stream));
  capnp::ReaderOptions reader;
  reader.traversalLimitInWords = kTraversalWordsMax;
  conn->network = kj::heap<capnp::TwoPartyVatNetwork>(*conn->stream,
                                                      capnp::rpc::twoparty::Side::SERVER, reader);
  conn->rpc = kj::heap(capnp::makeRpcServer(*conn->network, bootstrap_(conn->stats)));
  conn->rpc->setFlowLimit(kConnectionFlowBytesMax / sizeof(capnp::word));
  const uint64_t id = ++next_conn_id_;
  conn->watch = conn->network->onDisconnect()
                    .then([this, id]() {
                      // Not from inside the connection's own callback: a later turn.
                      tasks_->add(kj::evalLater([this, id]() { connections_.erase(id); }));
                    })
                    .eagerlyEvaluate(nullptr);
  connections_.emplace(id, kj::mv(conn));
}

void Listener::StopAccepting() {
  accept_loop_ = nullptr;
  receiver_ = nullptr;
}

void Listener::SweepIdle(uint64_t now_ms) {
  for (auto it = connections_.begin(); it != connections_.end();) {
    const ConnStats& s = *it->second->stats;
    const bool idle =
        s.in_flight == 0 && s.peer_node == 0 && now_ms - s.last_activity_ms >= idle_timeout_ms_;
    it = idle ? connections_.erase(it) : std::next(it);
  }
}

void Listener::CloseAll() { connections_.clear(); }

}  // namespace causeway::rpc
