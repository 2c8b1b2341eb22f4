// Listener: the node's listening socket, its accept loop and its connections.
//
// Each accepted connection gets a read-buffering stream, a Cap'n Proto two-party network with the
// traversal and flow limits of base/limits.h, and the bootstrap capability the server hands it.
// At most kClientConnectionsMax connections are open; beyond that a new one is closed at once. A
// client connection with nothing in flight for idle_timeout_ms is closed (SweepIdle); peer
// connections (hello() called) are kept.
//
// Loop-thread only. Destroy before the KJ event loop.
#pragma once

#include <capnp/capability.h>
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/status.h"
#include "base/version.h"

namespace spdlog {
class logger;
}

namespace causeway::rpc {

// Milliseconds of the loop's monotonic clock (uv_hrtime).
uint64_t MonotonicMs();

// Splits "host:port" ("[v6]:port" too); false if it is not of that form.
bool SplitHostPort(const std::string& address, std::string* host, std::string* port);

// Binds and listens with plain syscalls, so that a busy port is reported at once. Returns the fd.
Result<int> BindListen(const std::string& address);
// The port a bound socket listens on.
int BoundPort(int fd);

// Per-connection accounting, shared with the calls that run on it (they may outlive it).
struct ConnStats {
  size_t in_flight = 0;
  uint64_t last_activity_ms = 0;
  NodeId peer_node = 0;  // from hello(); 0 for clients
};

class Listener {
 public:
  // Makes the bootstrap capability of a new connection.
  using BootstrapFn = std::function<capnp::Capability::Client(std::shared_ptr<ConnStats>)>;

  // Takes ownership of `listen_fd` (bound, listening, non-blocking).
  Listener(kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, int listen_fd,
           uint64_t idle_timeout_ms, BootstrapFn bootstrap, spdlog::logger* log);
  ~Listener();

  // Stops accepting (stop and teardown); open connections stay.
  void StopAccepting();
  // Closes client connections idle for idle_timeout_ms.
  void SweepIdle(uint64_t now_ms);
  // Closes every connection (teardown).
  void CloseAll();
  size_t connections() const { return connections_.size(); }

 private:
  struct Connection;
  kj::Promise<void> AcceptLoop();
  void OnAccepted(kj::Own<kj::AsyncIoStream> stream);

  kj::Timer& timer_;
  const uint64_t idle_timeout_ms_;
  BootstrapFn bootstrap_;
  spdlog::logger* log_;
  kj::Own<kj::ConnectionReceiver> receiver_;
  std::map<uint64_t, kj::Own<Connection>> connections_;
  uint64_t next_conn_id_ = 0;
  kj::Own<kj::TaskSet::ErrorHandler> task_errors_;
  kj::Own<kj::TaskSet> tasks_;
  kj::Promise<void> accept_loop_ = nullptr;
};

}  // namespace causeway::rpc
