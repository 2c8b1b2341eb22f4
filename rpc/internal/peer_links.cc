#include "rpc/internal/peer_links.h"

#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>

#include <algorithm>

#include "base/limits.h"
#include "rpc/internal/convert.h"
#include "rpc/internal/errors.h"
#include "rpc/internal/tls_sniff.h"
#include "schema/causeway.capnp.h"

namespace causeway::rpc {
namespace {

class LogErrors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&& exception) override {}  // every task handles its own errors
};
LogErrors ignore_errors;

using Reply = kj::Maybe<cluster::PeerMessage>;

// The RequestId of a request message, for answering it with a status; 0 for gossip.
cluster::RequestId RequestIdOf(const cluster::PeerMessage& m) {
  if (auto* r = std::get_if<cluster::ReplicateRequest>(&m)) return r->id;
  if (auto* r = std::get_if<cluster::ReadRequest>(&m)) return r->id;
  if (auto* r = std::get_if<cluster::AaeHashRequest>(&m)) return r->id;
  if (auto* r = std::get_if<cluster::AaeDigestRequest>(&m)) return r->id;
  if (auto* r = std::get_if<cluster::StreamRequest>(&m)) return r->id;
  return 0;
}

// The response a request gets when the peer answered with an application error.
Reply ErrorReply(const cluster::PeerMessage& m, Status status) {
  if (auto* r = std::get_if<cluster::ReplicateRequest>(&m)) {
    return cluster::PeerMessage(cluster::ReplicateResponse{r->id, std::move(status)});
  }
  if (auto* r = std::get_if<cluster::ReadRequest>(&m)) {
    return cluster::PeerMessage(cluster::ReadResponse{r->id, std::move(status), std::nullopt});
  }
  if (auto* r = std::get_if<cluster::AaeHashRequest>(&m)) {
    return cluster::PeerMessage(cluster::AaeHashResponse{r->id, std::move(status), {}});
  }
  if (auto* r = std::get_if<cluster::AaeDigestRequest>(&m)) {
    return cluster::PeerMessage(cluster::AaeDigestResponse{r->id, std::move(status), {}, false});
  }
  if (auto* r = std::get_if<cluster::StreamRequest>(&m)) {
    return cluster::PeerMessage(cluster::StreamResponse{r->id, std::move(status), {}, false});
  }
  return nullptr;
}

}  // namespace

struct PeerLinks::Link {
  struct Conn {
    kj::Own<kj::AsyncIoStream> stream;
    kj::Own<capnp::TwoPartyVatNetwork> network;
    kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
    kj::Promise<void> watch = nullptr;  // destroyed first: it observes `network`
  };
  std::string address;
  uint64_t generation = 0;
  kj::Maybe<kj::Own<Conn>> conn;
  kj::Maybe<wire::Peer::Client> peer;  // set while connected or connecting
  size_t in_flight = 0;
  uint64_t backoff_ms = kPeerReconnectBackoffMsMin;
  kj::TimePoint retry_at = kj::origin<kj::TimePoint>();
};

PeerLinks::PeerLinks(kj::Network& network, kj::Timer& timer, NodeId self_id, std::string self_name,
                     std::string self_address, uint64_t call_timeout_ms, ReplyFn on_reply,
                     FailedFn on_failed, const ClusterSecret* secret, TlsSource tls)
    : network_(network),
      timer_(timer),
      self_id_(self_id),
      self_name_(std::move(self_name)),
      self_address_(std::move(self_address)),
      call_timeout_ms_(call_timeout_ms),
      on_reply_(std::move(on_reply)),
      on_failed_(std::move(on_failed)),
      secret_(secret),
      tls_(std::move(tls)),
      tasks_(kj::heap<kj::TaskSet>(ignore_errors)) {}

PeerLinks::~PeerLinks() {
  tasks_ = nullptr;  // cancels calls before the links they reference go
  links_.clear();
}

size_t PeerLinks::InFlight() const {
  size_t n = 0;
  for (const auto& [address, link] : links_) n += link->in_flight;
  return n;
}

void PeerLinks::CloseAll() {
  for (auto& [address, link] : links_) {
    ++link->generation;
    link->peer = nullptr;
    link->conn = nullptr;
  }
}

void PeerLinks::PeerIsBack(const std::string& address) {
  auto it = links_.find(address);
  if (it == links_.end() || it->second->peer != nullptr) return;
  it->second->retry_at = kj::origin<kj::TimePoint>();
  it->second->backoff_ms = kPeerReconnectBackoffMsMin;
}

PeerLinks::Link& PeerLinks::LinkFor(NodeId to, const std::string& address) {
  auto& slot = links_[address];
  if (!slot) {
    slot = std::make_unique<Link>();
    slot->address = address;
  }
  return *slot;
}

void PeerLinks::Send(NodeId to, const std::string& address, cluster::PeerMessage message) {
  Link& link = LinkFor(to, address);
  if (link.in_flight >= kPeerInFlightMax) return FailLater(to, std::move(message));
  if (link.peer == nullptr) {
    if (timer_.now() < link.retry_at) return FailLater(to, std::move(message));
    Connect(link, to);
  }
  ++link.in_flight;
  tasks_->add(Call(link, to, std::move(message)));
}

void PeerLinks::FailLater(NodeId to, cluster::PeerMessage message) {
  tasks_->add(kj::evalLater(
      [this, to, message = std::move(message)]() mutable { on_failed_(to, std::move(message)); }));
}

// Connects to `address`, with mutual TLS when configured (rpc/tls.h): the peer's certificate must
// be a node's from our CA and, when `to` is known, name that node. A failure is DISCONNECTED.
kj::Promise<kj::Own<kj::AsyncIoStream>> PeerLinks::Dial(const std::string& address, NodeId to) {
  auto stream = network_.parseAddress(address).then(
      [](kj::Own<kj::NetworkAddress> addr) { return addr->connect().attach(kj::mv(addr)); });
  std::shared_ptr<const TlsContexts> tls = tls_ ? tls_() : nullptr;
  if (tls == nullptr) return stream;
  return stream.then([tls, address, to](kj::Own<kj::AsyncIoStream> raw) {
    kj::AuthenticatedStream plain{kj::mv(raw), kj::heap<SourceIdentity>(address)};
    const kj::StringPtr server_name(kPeerServerName.data(), kPeerServerName.size());
    return tls->peer_door->wrapClient(kj::mv(plain), server_name)
        .then([tls, address, to](kj::AuthenticatedStream secured) -> kj::Own<kj::AsyncIoStream> {
          auto& identity = kj::downcast<kj::TlsPeerIdentity>(*secured.peerIdentity);
          const std::string cn = identity.hasCertificate() ? identity.getCommonName().cStr() : "";
          auto name = NodeNameFromCertName(cn);
          if (!name) {
            kj::throwFatalException(KJ_EXCEPTION(DISCONNECTED, "peer's certificate is not a node's",
                                                 address.c_str(), cn.c_str()));
          }
          if (to != 0 && NodeIdFromName(*name) != to) {
            kj::throwFatalException(KJ_EXCEPTION(DISCONNECTED,
                                                 "peer's certificate names another node",
                                                 address.c_str(), cn.c_str()));
          }
          return kj::mv(secured.stream);
        });
  });
}

void PeerLinks::Connect(Link& link, NodeId to) {
  uint64_t gen = ++link.generation;
  auto deadline = timer_.afterDelay(call_timeout_ms_ * kj::MILLISECONDS).then([]() {
    return kj::Promise<kj::Own<kj::AsyncIoStream>>(
        KJ_EXCEPTION(DISCONNECTED, "connect to peer timed out"));
  });
  auto connected = Dial(link.address, to).exclusiveJoin(kj::mv(deadline));
  auto peer = connected.then([this, &link, gen](kj::Own<kj::AsyncIoStream> stream) {
    auto conn = kj::heap<Link::Conn>();
    conn->stream = kj::mv(stream);
    capnp::ReaderOptions options;
    options.traversalLimitInWords = kTraversalWordsMax;
    conn->network = kj::heap<capnp::TwoPartyVatNetwork>(
        *conn->stream, capnp::rpc::twoparty::Side::CLIENT, options);
    conn->rpc = kj::heap(capnp::makeRpcClient(*conn->network));
    conn->rpc->setFlowLimit(kConnectionFlowBytesMax / sizeof(capnp::word));
    capnp::MallocMessageBuilder vat;
    auto vat_id = vat.initRoot<capnp::rpc::twoparty::VatId>();
    vat_id.setSide(capnp::rpc::twoparty::Side::SERVER);
    auto bootstrap = conn->rpc->bootstrap(vat_id).castAs<wire::Bootstrap>();
    wire::Peer::Client peer =
        secret_ == nullptr ? bootstrap.peerRequest().send().getPeer() : Authenticate(bootstrap);
    auto hello = peer.helloRequest();
    hello.setNodeId(self_id_);
    hello.setName(self_name_);
    hello.setAddress(self_address_);
    tasks_->add(hello.send().ignoreResult().catch_([](kj::Exception&&) {}));
    conn->watch = conn->network->onDisconnect()
                      .then([this, &link, gen]() { OnLinkFailure(link, gen); })
                      .eagerlyEvaluate(nullptr);
    if (gen == link.generation) link.conn = kj::mv(conn);
    return peer;
  });
  link.peer = wire::Peer::Client(kj::mv(peer));
}

// The challenge-response of rpc/cluster_secret.h: our proof for the peer's nonce, then the
// peer's proof for ours, checked before the capability is used. Any failure reads as a lost
// connection, so the link backs off and connects again (a peer being re-keyed comes back).
wire::Peer::Client PeerLinks::Authenticate(wire::Bootstrap::Client bootstrap) {
  const ClusterSecret* secret = secret_;
  const NodeId self = self_id_;
  auto authed =
      bootstrap.peerChallengeRequest()
          .send()
          .then([bootstrap, secret, self](auto challenge) mutable {
            auto server_nonce = challenge.getNonce();
            std::string server(reinterpret_cast<const char*>(server_nonce.begin()),
                               server_nonce.size());
            std::string client = ClusterSecret::NewNonce();
            auto req = bootstrap.peerAuthRequest();
            req.setNodeId(self);
            req.setNonce(BytesToWire(client));
            req.setProof(BytesToWire(
                secret->Proof(0, ClusterSecret::Direction::kClientToServer, self, server, client)));
            return req.send().then([secret, self, server, client](auto answer) {
              auto proof = answer.getProof();
              std::string_view got(reinterpret_cast<const char*>(proof.begin()), proof.size());
              if (secret->Verify(got, ClusterSecret::Direction::kServerToClient, self, server,
                                 client) < 0) {
                kj::throwFatalException(KJ_EXCEPTION(
                    DISCONNECTED, "peer failed to prove the cluster secret: not a member"));
              }
              return answer.getPeer();
            });
          })
          .catch_([](kj::Exception&& e) -> wire::Peer::Client {
            if (e.getType() == kj::Exception::Type::DISCONNECTED)
              kj::throwFatalException(kj::mv(e));
            kj::throwFatalException(
                KJ_EXCEPTION(DISCONNECTED, "peer authentication failed", e.getDescription()));
          });
  return wire::Peer::Client(kj::mv(authed));
}

void PeerLinks::OnLinkFailure(Link& link, uint64_t generation) {
  if (generation != link.generation) return;  // an older connection; already handled
  ++link.generation;
  link.peer = nullptr;
  KJ_IF_MAYBE (conn, link.conn) {
    // Not destroyed here: we may be inside one of its callbacks.
    tasks_->add(kj::evalLater([c = kj::mv(*conn)]() mutable { c = nullptr; }));
  }
  link.conn = nullptr;
  link.retry_at = timer_.now() + link.backoff_ms * kj::MILLISECONDS;
  link.backoff_ms = std::min(link.backoff_ms * 2, kPeerReconnectBackoffMsMax);
}

namespace {

kj::Promise<Reply> SendOne(wire::Peer::Client& peer, const cluster::PeerMessage& message) {
  if (auto* r = std::get_if<cluster::ReplicateRequest>(&message)) {
    auto req = peer.replicateRequest();
    req.setKey(BytesToWire(r->key));
    VersionToWire(r->version, req.initVersion());
    req.setHintFor(r->hint_for);
    req.setReplayedHint(r->replayed_hint);
    return req.send().then([id = r->id](auto) -> Reply {
      return cluster::PeerMessage(cluster::ReplicateResponse{id, Status::Ok()});
    });
  }
  if (auto* r = std::get_if<cluster::ReadRequest>(&message)) {
    auto req = peer.readRequest();
    req.setKey(BytesToWire(r->key));
    return req.send().then([id = r->id](auto response) -> Reply {
      cluster::ReadResponse out{id, Status::Ok(), std::nullopt};
      if (response.getFound()) {
        auto v = VersionFromWire(response.getVersion());
        if (v.ok()) {
          out.version = std::move(v).value();
        } else {
          out.status = v.status();
        }
      }
      return cluster::PeerMessage(std::move(out));
    });
  }
  if (auto* r = std::get_if<cluster::AaeHashRequest>(&message)) {
    auto req = peer.aaeHashesRequest();
    SpansToWire(r->spans, req.initSpans(r->spans.size()));
    return req.send().then([id = r->id](auto response) -> Reply {
      cluster::AaeHashResponse out{id, Status::Ok(), {}};
      if (response.getHashes().size() > kAaeSpansPerRequestMax) {
        out.status = Status::InvalidArgument("aaeHashes answer longer than any request");
      } else {
        for (uint64_t h : response.getHashes()) out.hashes.push_back(h);
      }
      return cluster::PeerMessage(std::move(out));
    });
  }
  if (auto* r = std::get_if<cluster::AaeDigestRequest>(&message)) {
    auto req = peer.aaeDigestsRequest();
    SpansToWire(r->spans, req.initSpans(r->spans.size()));
    req.setAfterKey(BytesToWire(r->after_key));
    req.setLimit(r->limit);
    return req.send().then([id = r->id](auto response) -> Reply {
      cluster::AaeDigestResponse out{id, Status::Ok(), {}, response.getMore()};
      auto digests = DigestsFromWire(response.getDigests());
      if (digests.ok()) {
        out.digests = std::move(digests).value();
      } else {
        out.status = digests.status();
      }
      return cluster::PeerMessage(std::move(out));
    });
  }
  if (auto* r = std::get_if<cluster::StreamRequest>(&message)) {
    auto req = peer.streamRequest();
    SpansToWire(r->spans, req.initSpans(r->spans.size()));
    req.setAfterKey(BytesToWire(r->after_key));
    req.setLimitBytes(r->limit_bytes);
    return req.send().then([id = r->id](auto response) -> Reply {
      cluster::StreamResponse out{id, Status::Ok(), {}, response.getMore()};
      auto versions = KeyedVersionsFromWire(response.getVersions());
      if (versions.ok()) {
        out.versions = std::move(versions).value();
      } else {
        out.status = versions.status();
      }
      return cluster::PeerMessage(std::move(out));
    });
  }
  if (auto* g = std::get_if<cluster::GossipMessage>(&message)) {
    auto req = peer.gossipRequest();
    GossipToWire(*g, req.initState());
    return req.send().then([](auto response) -> Reply {
      auto reply = GossipFromWire(response.getState());
      if (!reply.ok() || reply->members.empty()) return nullptr;
      return cluster::PeerMessage(std::move(reply).value());
    });
  }
  return ToException(Status::Internal("responses are not sent over peer links"));
}

}  // namespace

kj::Promise<void> PeerLinks::Call(Link& link, NodeId to, cluster::PeerMessage message) {
  uint64_t gen = link.generation;
  auto deadline = timer_.afterDelay(call_timeout_ms_ * kj::MILLISECONDS).then([]() {
    return kj::Promise<Reply>(ToException(Status::Timeout("peer call deadline passed")));
  });
  auto call = SendOne(KJ_ASSERT_NONNULL(link.peer), message).exclusiveJoin(kj::mv(deadline));
  return call.then(
      [this, &link, to](Reply reply) {
        --link.in_flight;
        link.backoff_ms = kPeerReconnectBackoffMsMin;
        KJ_IF_MAYBE (m, reply) {
          on_reply_(to, kj::mv(*m));
        }
      },
      [this, &link, to, gen, message = std::move(message)](kj::Exception&& e) mutable {
        --link.in_flight;
        Status status = FromException(e);
        bool app_error = status.code() != ErrorCode::kTimeout && !IsConnectionFailure(e) &&
                         RequestIdOf(message) != 0;
        if (app_error) {
          KJ_IF_MAYBE (m, ErrorReply(message, status)) {
            return on_reply_(to, kj::mv(*m));
          }
        }
        if (IsConnectionFailure(e)) OnLinkFailure(link, gen);
        on_failed_(to, std::move(message));
      });
}

}  // namespace causeway::rpc
