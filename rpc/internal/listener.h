// Listener: the node's listening socket, its accept loop and its connections.
//
// Each accepted connection gets a read-buffering stream, a Cap'n Proto two-party network with the
// traversal and flow limits of base/limits.h, and the bootstrap capability the server hands it.
// A client connection with nothing in flight for idle_timeout_ms is closed (SweepIdle); peer
// connections (hello() called) are kept.
//
// Budgets (docs/design.md, "Threat model"), so that floods and slow senders cost bounded memory
// and never lock a well-behaved client out for long:
// - connections: at most kClientConnectionsMax in total and kConnectionsPerSourceMax per source
//   address; of them, pre-authentication ones (ConnStats::authenticated false) at most
//   kPreAuthConnectionsMax and kPreAuthConnectionsPerSourceMax per source. At a bound, the oldest
//   pre-authentication connection (of the same source when that bound is the one reached) is
//   closed for the newcomer; only when none is left is the newcomer refused.
// - a pre-authentication connection is closed after kHandshakeDeadlineMs, and may not send a
//   frame over kPreAuthFrameBytesMax;
// - frames over one read buffer reserve their size from a node-wide budget while they arrive
//   (kPartialFrameBudgetBytes; refused beyond it) and must arrive at a minimum pace;
// - replies queued in capnp for slow readers: over kConnectionQueuedReplyBytesMax on one
//   connection, or kQueuedReplyBudgetBytes across all, the connection with most is closed.
// Every closure for a budget is logged (event=connection_closed reason=...) and counted.
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
#include <set>
#include <string>

#include "base/status.h"
#include "base/version.h"
#include "rpc/tls.h"
#include "rpc/users.h"

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
  NodeId peer_node = 0;  // from hello() or peerAuth; 0 for clients
  // Security (rpc/internal/bootstrap.h). `authenticated`: the handshake is done (client() without
  // a users file, login, peerAuth, or peer() without a secret); until then the connection is
  // pre-authentication (frames at most kPreAuthFrameBytesMax, closed after kHandshakeDeadlineMs,
  // the first to go when a connection bound is reached).
  bool authenticated = false;
  bool peer_authenticated = false;  // proved the cluster secret (or none is configured)
  Role role = Role::kNone;          // what the client may call
  std::string server_nonce;         // the open peerChallenge's, once
  bool login_in_progress = false;
  size_t login_failures = 0;
  bool close_wanted = false;  // the listener closes it at its next sweep
  uint64_t opened_ms = 0;
  std::string source;  // the remote IP address
  // TLS (rpc/tls.h): whether the connection is TLS, through which door, and the common name of
  // the certificate the other side presented and our CA verified ("" for none).
  bool tls = false;
  bool peer_door = false;
  std::string cert_name;
  NodeId cert_node = 0;  // the node the certificate names, once a peer call checked it
};

// What the node refused or closed for its budgets and its handshakes, for /metrics: the
// listener's connection counters and the bootstraps' (rpc/internal/bootstrap.h) refusals.
struct RefusalCounts {
  uint64_t connections_evicted = 0, connections_refused = 0, handshake_timeouts = 0;
  uint64_t slow_frames = 0, reply_budget = 0, security_closes = 0, tls_failures = 0;
  uint64_t peer_refusals = 0, client_refusals = 0, login_failures = 0;
};

class Listener {
 public:
  // Makes the bootstrap capability of a new connection.
  using BootstrapFn = std::function<capnp::Capability::Client(std::shared_ptr<ConnStats>)>;

  // Takes ownership of `listen_fd` (bound, listening, non-blocking).
  Listener(kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, int listen_fd,
           uint64_t idle_timeout_ms, BootstrapFn bootstrap, spdlog::logger* log,
           TlsSource tls = nullptr);
  ~Listener();

  // Stops accepting (stop and teardown); open connections stay.
  void StopAccepting();
  // Closes client connections idle for idle_timeout_ms.
  void SweepIdle(uint64_t now_ms);
  // Closes every connection (teardown).
  void CloseAll();
  size_t connections() const { return connections_.size(); }
  size_t partial_frame_bytes() const { return partial_frame_bytes_; }

  struct Counters {
    uint64_t evicted = 0;             // pre-authentication connections closed for a newcomer
    uint64_t refused = 0;             // newcomers refused (no one left to close)
    uint64_t handshake_timeouts = 0;  // closed: no handshake within kHandshakeDeadlineMs
    uint64_t slow_frames = 0;         // closed: a frame arrived too slowly
    uint64_t reply_budget = 0;        // closed: too many replies queued
    uint64_t security = 0;            // closed after a failed login or peer proof
    uint64_t tls_failures = 0;        // closed: the TLS handshake failed
  };
  const Counters& counters() const { return counters_; }

 private:
  struct Connection;
  class FrameGate;
  kj::Promise<void> AcceptLoop();
  void OnAccepted(kj::Own<kj::AsyncIoStream> stream);
  // Sniffs a TLS connection's first bytes and wraps it (rpc/tls.h, "Doors"), then StartRpc.
  kj::Promise<void> SetUpTls(uint64_t id, const std::shared_ptr<const TlsContexts>& tls,
                             kj::Own<kj::AsyncIoStream> stream);
  void StartRpc(uint64_t id, kj::Own<kj::AsyncIoStream> stream);
  // Makes room for a newcomer from `source`; false if it must be refused.
  bool Admit(const std::string& source);
  // Closes the oldest pre-authentication connection (of `source` if not empty); false if none.
  bool EvictOldestPreAuth(const std::string& source);
  void Erase(uint64_t id, const char* reason);
  void EnforceReplyBudget();

  kj::Timer& timer_;
  const uint64_t idle_timeout_ms_;
  BootstrapFn bootstrap_;
  spdlog::logger* log_;
  TlsSource tls_;
  kj::Own<kj::ConnectionReceiver> receiver_;
  std::map<uint64_t, kj::Own<Connection>> connections_;
  // Connections by source address, and those still pre-authentication (ids ascend with age; an
  // entry that has authenticated since is dropped when met).
  std::map<std::string, size_t> per_source_;
  std::map<std::string, std::set<uint64_t>> preauth_by_source_;
  std::set<uint64_t> preauth_;
  size_t partial_frame_bytes_ = 0;  // reserved by half-received frames, node-wide
  Counters counters_;
  uint64_t next_conn_id_ = 0;
  kj::Own<kj::TaskSet::ErrorHandler> task_errors_;
  kj::Own<kj::TaskSet> tasks_;
  kj::Promise<void> accept_loop_ = nullptr;
};

}  // namespace causeway::rpc
