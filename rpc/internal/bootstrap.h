// The bootstrap capability of a node's connection (schema Bootstrap): how a caller becomes a
// client or a peer, and the one place that decides who may (docs/design.md, "Threat model").
//
//   client()        without a users file: the ClientApi with every role (as before security);
//                   with one: refused, a client must login().
//   login()         checks the user's password off the loop (LoginGate), once per connection;
//                   the ClientApi it returns carries the user's role.
//   peer()          without a cluster secret: the Peer capability (as before); with one: refused.
//   peerChallenge / peerAuth   the HMAC challenge-response of rpc/cluster_secret.h; the Peer
//                   capability only after the caller's proof checks, with our proof back.
// With TLS (rpc/tls.h): client_tls refuses client() and login() on a plaintext connection (and
// with mutual, on one without a client certificate); peer_tls refuses peer(), peerChallenge and
// peerAuth unless the connection came through the peer door with a node certificate, whose node
// (CN "causeway-node-<node_id>") must be the one peerAuth and hello() claim; the cluster secret,
// when configured too, is checked as well.
// Refusals are logged (event=peer_refused / client_refused / login_failed, with the source) and
// counted in SecurityCounters. A successful handshake marks the connection authenticated
// (ConnStats), which lifts its pre-authentication limits.
//
// Loop-thread only; one instance per connection.
#pragma once

#include <cstdint>
#include <memory>

#include "rpc/cluster_secret.h"
#include "rpc/internal/listener.h"
#include "rpc/internal/login_gate.h"
#include "rpc/internal/node_host.h"
#include "schema/causeway.capnp.h"

namespace spdlog {
class logger;
}

namespace causeway::rpc {

// Monotonic since start; logged with each refusal.
struct SecurityCounters {
  uint64_t peer_refusals = 0;
  uint64_t client_refusals = 0;
  uint64_t login_failures = 0;
};

// What the node's security needs, borrowed by every connection's bootstrap.
struct SecurityContext {
  const ClusterSecret* secret = nullptr;   // null: peers are not authenticated
  LoginGate* logins = nullptr;             // null: no users file, clients are not authenticated
  ClientTls client_tls = ClientTls::kOff;  // kOn, kMutual: clients must use TLS
  bool peer_tls = false;                   // peers must use mutual TLS with a node certificate
  SecurityCounters counters;
  spdlog::logger* log = nullptr;
};

kj::Own<wire::Bootstrap::Server> NewBootstrap(NodeHost& host, SecurityContext& security,
                                              std::shared_ptr<ConnStats> conn);

}  // namespace causeway::rpc
