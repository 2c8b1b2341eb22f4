// Gateway: a node's RESP2 listener (`causeway serve --resp-listen`; docs/design.md, "RESP
// gateway"): its socket, accept loop and connections, on the node's own loop next to the Cap'n
// Proto listener. Commands go straight to the node's coordinator through NodeHost.
//
// Limits: RESP and Cap'n Proto connections together are at most kClientConnectionsMax (a new
// one beyond that is answered "-ERR max number of clients reached" and closed); a connection
// with nothing in flight for options.idle_timeout_ms is closed (SweepIdle).
// TLS (rpc/tls.h): with a TlsSource, every connection is TLS through the client door (a client
// that does not finish its handshake within kHandshakeDeadlineMs is closed; at most
// kPreAuthConnectionsMax handshakes at once).
//
// Loop-thread only. Destroy (or CloseAll) before the NodeHost and the KJ event loop.
#pragma once

#include <kj/async-io.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "rpc/resp/commands.h"
#include "rpc/resp/connection.h"
#include "rpc/resp/options.h"
#include "rpc/tls.h"

namespace spdlog {
class logger;
}

namespace causeway::rpc::resp {

class Gateway final : private kj::TaskSet::ErrorHandler {
 public:
  // Takes ownership of `listen_fd` (bound, listening, non-blocking). `other_connections` counts
  // the node's other client connections (the Cap'n Proto listener's), for the shared limit.
  Gateway(NodeHost& host, kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, int listen_fd,
          RespOptions options, std::function<size_t()> other_connections, spdlog::logger* log,
          TlsSource tls = nullptr);
  ~Gateway();

  void StopAccepting();
  void SweepIdle(uint64_t now_ms);
  void CloseAll();
  size_t connections() const { return connections_.size(); }

 private:
  void taskFailed(kj::Exception&& exception) override;
  kj::Promise<void> AcceptLoop();
  void OnAccepted(kj::Own<kj::AsyncIoStream> stream);
  void Admit(kj::Own<kj::AsyncIoStream> stream);

  kj::Timer& timer_;
  GatewayView view_;
  std::function<size_t()> other_connections_;
  spdlog::logger* log_;
  kj::Own<kj::ConnectionReceiver> receiver_;
  std::map<uint64_t, kj::Own<Connection>> connections_;
  TlsSource tls_;
  std::map<uint64_t, kj::Promise<void>> handshakes_;  // TLS handshakes under way
  uint64_t next_id_ = 0;
  kj::TaskSet tasks_;
  kj::Promise<void> accept_loop_ = nullptr;
};

}  // namespace causeway::rpc::resp
