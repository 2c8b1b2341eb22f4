#include "rpc/internal/bootstrap.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "base/limits.h"
#include "rpc/internal/client_api.h"
#include "rpc/internal/convert.h"
#include "rpc/internal/errors.h"
#include "rpc/internal/peer_api.h"

namespace causeway::rpc {
namespace {

std::string_view AsView(capnp::Data::Reader d) {
  return {reinterpret_cast<const char*>(d.begin()), d.size()};
}

class Bootstrap final : public wire::Bootstrap::Server {
 public:
  Bootstrap(NodeHost& host, SecurityContext& security, std::shared_ptr<ConnStats> conn)
      : host_(host), security_(security), conn_(std::move(conn)) {}

  kj::Promise<void> client(ClientContext context) override {
    if (auto refused = RefusePlaintextClient()) return kj::mv(*refused);
    if (security_.logins != nullptr) {
      ++security_.counters.client_refusals;
      security_.log->warn("event=client_refused reason=no_credentials source={} refusals={}",
                          conn_->source, security_.counters.client_refusals);
      return ToException(Status::InvalidArgument(
          "authentication required: this node has users (pass --user NAME --password-file F)"));
    }
    conn_->authenticated = true;
    conn_->role = Role::kAdmin;
    context.getResults().setClient(NewClientApi(host_, conn_));
    return kj::READY_NOW;
  }

  kj::Promise<void> login(LoginContext context) override;

  kj::Promise<void> peer(PeerContext context) override {
    if (auto refused = CheckPeerCertificate(0)) return kj::mv(*refused);
    if (security_.secret != nullptr) {
      return RefusePeer("no_peer_auth", 0,
                        "peer authentication required: this node has a cluster secret");
    }
    conn_->authenticated = true;
    conn_->peer_authenticated = true;
    context.getResults().setPeer(NewPeerApi(host_, conn_));
    return kj::READY_NOW;
  }

  kj::Promise<void> peerChallenge(PeerChallengeContext context) override {
    if (auto refused = CheckPeerCertificate(0)) return kj::mv(*refused);
    if (security_.secret == nullptr) {
      return RefusePeer("no_secret_here", 0,
                        "this node has no cluster secret: configure the same "
                        "cluster_secret_file on every node");
    }
    conn_->server_nonce = ClusterSecret::NewNonce();
    context.getResults().setNonce(BytesToWire(conn_->server_nonce));
    return kj::READY_NOW;
  }

  kj::Promise<void> peerAuth(PeerAuthContext context) override {
    auto params = context.getParams();
    const NodeId caller = params.getNodeId();
    if (auto refused = CheckPeerCertificate(caller)) return kj::mv(*refused);
    if (security_.secret == nullptr) {
      return RefusePeer("no_secret_here", caller, "this node has no cluster secret");
    }
    std::string server_nonce = std::move(conn_->server_nonce);
    conn_->server_nonce.clear();  // one proof per challenge: a replay needs a new nonce
    std::string_view client_nonce = AsView(params.getNonce());
    if (server_nonce.empty() || client_nonce.size() != kPeerAuthNonceBytes || caller == 0) {
      return RefusePeer("bad_handshake", caller, "peerAuth without a challenge or a nonce");
    }
    int index = security_.secret->Verify(AsView(params.getProof()),
                                         ClusterSecret::Direction::kClientToServer, caller,
                                         server_nonce, client_nonce);
    if (index < 0) {
      conn_->close_wanted = true;
      return RefusePeer("wrong_secret", caller, "peer authentication failed");
    }
    conn_->authenticated = true;
    conn_->peer_authenticated = true;
    conn_->peer_node = caller;
    auto results = context.getResults();
    results.setProof(BytesToWire(security_.secret->Proof(static_cast<size_t>(index),
                                                         ClusterSecret::Direction::kServerToClient,
                                                         caller, server_nonce, client_nonce)));
    results.setPeer(NewPeerApi(host_, conn_));
    return kj::READY_NOW;
  }

 private:
  // With client_tls: a refusal for a plaintext connection (or, mutual, one without a client
  // certificate); nullopt if the client may go on.
  std::optional<kj::Promise<void>> RefusePlaintextClient() {
    if (security_.client_tls == ClientTls::kOff) return std::nullopt;
    const bool mutual = security_.client_tls == ClientTls::kMutual;
    if (conn_->tls && (!mutual || !conn_->cert_name.empty())) return std::nullopt;
    ++security_.counters.client_refusals;
    security_.log->warn("event=client_refused reason={} source={} refusals={}",
                        conn_->tls ? "no_client_certificate" : "plaintext", conn_->source,
                        security_.counters.client_refusals);
    return ToException(Status::InvalidArgument(
        conn_->tls ? "permission denied: this node needs a client certificate (--tls-cert, "
                     "--tls-key)"
                   : "permission denied: this node requires TLS (pass --tls-ca FILE)"));
  }

  // With peer_tls: the connection must have come through the peer door with a node certificate
  // from our CA, naming the node `claimed` (0: not claimed yet; hello() checks it then). Pins
  // the certificate's node on the connection; nullopt if the peer may go on.
  std::optional<kj::Promise<void>> CheckPeerCertificate(NodeId claimed) {
    if (!security_.peer_tls) return std::nullopt;
    if (!conn_->tls || !conn_->peer_door || conn_->cert_name.empty()) {
      conn_->close_wanted = true;
      return RefusePeer(conn_->tls ? "no_peer_certificate" : "plaintext", claimed,
                        "this node requires peers to use mutual TLS with a node certificate");
    }
    auto name = NodeNameFromCertName(conn_->cert_name);
    if (!name) {
      conn_->close_wanted = true;
      return RefusePeer("not_a_node_certificate", claimed,
                        "the certificate '" + conn_->cert_name + "' is not a node's");
    }
    const NodeId cert_node = NodeIdFromName(*name);
    if (claimed != 0 && claimed != cert_node) {
      conn_->close_wanted = true;
      return RefusePeer("certificate_names_another_node", claimed,
                        "the certificate names node " + *name + ", not the node claimed");
    }
    conn_->cert_node = cert_node;
    return std::nullopt;
  }

  kj::Promise<void> RefusePeer(std::string_view reason, NodeId caller, std::string_view message) {
    ++security_.counters.peer_refusals;
    security_.log->warn("event=peer_refused reason={} node_id={} source={} refusals={}", reason,
                        caller, conn_->source, security_.counters.peer_refusals);
    return ToException(Status::InvalidArgument("permission denied: " + std::string(message)));
  }

  NodeHost& host_;
  SecurityContext& security_;
  std::shared_ptr<ConnStats> conn_;
};

kj::Promise<void> Bootstrap::login(LoginContext context) {
  auto params = context.getParams();
  if (security_.logins == nullptr) {
    // No users file: credentials are not needed, so they are not checked.
    conn_->authenticated = true;
    conn_->role = Role::kAdmin;
    context.getResults().setClient(NewClientApi(host_, conn_));
    context.getResults().setRole(std::string(RoleName(Role::kAdmin)));
    return kj::READY_NOW;
  }
  if (auto refused = RefusePlaintextClient()) return kj::mv(*refused);
  if (conn_->login_in_progress || conn_->authenticated) {
    return ToException(Status::InvalidArgument("one login per connection"));
  }
  if (params.getUser().size() > kUserNameBytesMax ||
      params.getPassword().size() > kPasswordBytesMax) {
    return ToException(Status::InvalidArgument("user name or password too long"));
  }
  conn_->login_in_progress = true;
  std::string user(params.getUser().cStr());
  return security_.logins->Authenticate(user, std::string(AsView(params.getPassword())))
      .then([this, context, user](Result<Role> role) mutable {
        conn_->login_in_progress = false;
        if (!role.ok()) {
          if (role.status().code() == ErrorCode::kInvalidArgument) {
            ++security_.counters.login_failures;
            if (++conn_->login_failures >= kLoginFailuresPerConnectionMax) {
              conn_->close_wanted = true;
            }
            security_.log->warn("event=login_failed user=\"{}\" source={} failures={}", user,
                                conn_->source, security_.counters.login_failures);
          }
          ThrowStatus(role.status());
        }
        conn_->authenticated = true;
        conn_->role = *role;
        context.getResults().setClient(NewClientApi(host_, conn_));
        context.getResults().setRole(std::string(RoleName(*role)));
      });
}

}  // namespace

kj::Own<wire::Bootstrap::Server> NewBootstrap(NodeHost& host, SecurityContext& security,
                                              std::shared_ptr<ConnStats> conn) {
  return kj::heap<Bootstrap>(host, security, std::move(conn));
}

}  // namespace causeway::rpc
