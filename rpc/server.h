// Server: one Causeway node's event loop -- Cap'n Proto RPC on libuv, serving clients and peers,
// driving the sans-IO cluster core, running engine work on libuv's thread pool.
//
// Run() blocks on the calling thread until Stop(). Stop() may be called from any thread or from
// a signal handler's deferred callback. It drains, and is not a leave (docs/operations.md,
// "Restarting a node"): the node stops accepting, stores its member view, finishes in-flight
// calls (bounded by their deadlines plus kStopDrainExtraMs), syncs the engine's WAL, and Run()
// returns; the node stays a member, which its peers see down until it is back. A node whose
// decommission has ended (it left) drains and stops the same way by itself. Each stop is logged
// as "event=draining" and "event=stopped" with its reason.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "cluster/ceiling.h"
#include "cluster/node.h"
#include "engine/engine.h"
#include "rpc/resp/options.h"
#include "rpc/tls.h"

namespace spdlog {
class logger;
}

namespace causeway {
namespace rpc {
class ClusterSecret;
class Users;
}  // namespace rpc

struct ServerOptions {
  cluster::NodeConfig node;  // name, address (= listen), seeds, rf, timeouts
  std::string listen;        // "host:port" to bind (port 0: any free port, see port())
  // A client connection with nothing in flight for this long is closed.
  uint64_t idle_connection_timeout_ms = kIdleConnectionTimeoutMs;
  // How often the node ticks its core (timeouts, gossip, failure detection).
  uint64_t tick_interval_ms = 25;
  // The RESP2 gateway (rpc/resp/gateway.h): listens when resp.listen is set.
  rpc::resp::RespOptions resp;
  // "host:port" of the internal HTTP endpoint (/metrics, /livez, /readyz; rpc/internal/
  // http_listener.h), on the same loop; "" for none. Bound by Create(), like `listen`.
  std::string http_listen = "";
  // Called on the loop thread once the node serves (after the "serving" log line), and once when
  // it begins to drain: `causeway serve` tells systemd (sd_notify READY=1 / STOPPING=1).
  std::function<void(bool serving)> on_lifecycle = nullptr;
  // Security (docs/design.md, "Threat model"). With a cluster secret, peers must prove it
  // (rpc/cluster_secret.h); with users, clients must log in (rpc/users.h). Null: not required.
  std::shared_ptr<const rpc::ClusterSecret> cluster_secret = nullptr;
  std::shared_ptr<const rpc::Users> users = nullptr;
  // TLS (rpc/tls.h; docs/operations.md, "TLS"): with client or peer TLS on, Create() loads the
  // certificate, key and CA files (an error names the file) and the listener sniffs each
  // connection; ReloadTls() loads them again for new connections.
  rpc::TlsSettings tls = {};
};

class Server {
 public:
  // `engine`, `clock`, `log` and `ceiling` are borrowed and must outlive the server. `ceiling`:
  // the started CeilingStore `clock` was opened on (cluster/ceiling.h), so that the node driver
  // renews the clock's durable ceiling off the loop thread; `causeway serve` always passes it.
  // Null: `clock` renews through whatever store it was opened on (tests).
  static Result<std::unique_ptr<Server>> Create(ServerOptions options, Engine* engine,
                                                HybridClock* clock,
                                                std::shared_ptr<spdlog::logger> log,
                                                cluster::CeilingStore* ceiling = nullptr);
  ~Server();
  // The TCP port bound by Create() (useful with port 0).
  int port() const;
  // The RESP port bound by Create() (0: no gateway).
  int resp_port() const;
  // The HTTP endpoint's port bound by Create() (0: none).
  int http_port() const;
  Status Run();
  // Thread-safe. `reason` is logged ("SIGTERM", "SIGINT", ...); a second Stop changes nothing.
  void Stop(std::string reason = "stop requested");
  // Thread-safe (SIGHUP): reads the TLS files again off the loop; new connections use them, open
  // ones keep theirs. A failed reload is logged (event=tls_reload_failed) and changes nothing.
  void ReloadTls();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace causeway
