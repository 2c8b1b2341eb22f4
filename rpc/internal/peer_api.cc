#include "rpc/internal/peer_api.h"

#include <spdlog/spdlog.h>

#include "base/limits.h"
#include "base/strings.h"
#include "rpc/internal/convert.h"
#include "rpc/internal/errors.h"

namespace causeway::rpc {
namespace {

void ThrowIfError(const Status& s) {
  if (!s.ok()) ThrowStatus(s);
}

class PeerApi final : public wire::Peer::Server {
 public:
  PeerApi(NodeHost& host, std::shared_ptr<ConnStats> conn) : host_(host), conn_(std::move(conn)) {}

  kj::Promise<void> hello(HelloContext context) override {
    auto params = context.getParams();
    if (conn_->cert_node != 0 && params.getNodeId() != conn_->cert_node) {
      // Mutual TLS pinned the node its certificate names (rpc/internal/bootstrap.h): a peer
      // cannot claim another. The listener closes the connection and counts it.
      conn_->close_wanted = true;
      host_.log()->warn(
          "event=peer_refused reason=hello_names_another_node node_id={} cert_node={} source={}",
          params.getNodeId(), conn_->cert_node, conn_->source);
      ThrowStatus(Status::InvalidArgument(
          "permission denied: hello() claims a node other than the one the certificate names"));
    }
    conn_->peer_node = params.getNodeId();
    if (params.getAddress().size() <= kNodeAddressBytesMax) {
      host_.PeerConnected(std::string(params.getAddress().cStr()));
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> replicate(ReplicateContext context) override {
    NodeId from = From();
    auto params = context.getParams();
    auto key = KeyFromWire(params.getKey());
    if (!key.ok()) return ToException(key.status());
    auto version = VersionFromWire(params.getVersion());
    if (!version.ok()) return ToException(version.status());
    cluster::ReplicateRequest req{0, std::move(key).value(), std::move(version).value(),
                                  params.getHintFor(), params.getReplayedHint()};
    return host_.Inbound(from, std::move(req), conn_).then([](cluster::PeerMessage m) {
      auto* r = std::get_if<cluster::ReplicateResponse>(&m);
      if (r == nullptr) ThrowStatus(Status::Internal("wrong response type for replicate"));
      ThrowIfError(r->status);
    });
  }

  kj::Promise<void> read(ReadContext context) override {
    NodeId from = From();
    auto key = KeyFromWire(context.getParams().getKey());
    if (!key.ok()) return ToException(key.status());
    cluster::ReadRequest req{0, std::move(key).value()};
    return host_.Inbound(from, std::move(req), conn_)
        .then([context](cluster::PeerMessage m) mutable {
          auto* r = std::get_if<cluster::ReadResponse>(&m);
          if (r == nullptr) ThrowStatus(Status::Internal("wrong response type for read"));
          ThrowIfError(r->status);
          context.getResults().setFound(r->version.has_value());
          if (r->version) VersionToWire(*r->version, context.getResults().initVersion());
        });
  }

  kj::Promise<void> aaeHashes(AaeHashesContext context) override {
    NodeId from = From();
    auto spans = SpansFromWire(context.getParams().getSpans());
    if (!spans.ok()) return ToException(spans.status());
    cluster::AaeHashRequest req{0, std::move(spans).value()};
    return host_.Inbound(from, std::move(req), conn_)
        .then([context](cluster::PeerMessage m) mutable {
          auto* r = std::get_if<cluster::AaeHashResponse>(&m);
          if (r == nullptr) ThrowStatus(Status::Internal("wrong response type for aaeHashes"));
          ThrowIfError(r->status);
          auto hashes = context.getResults().initHashes(r->hashes.size());
          for (size_t i = 0; i < r->hashes.size(); ++i) hashes.set(i, r->hashes[i]);
        });
  }

  kj::Promise<void> aaeDigests(AaeDigestsContext context) override {
    NodeId from = From();
    auto params = context.getParams();
    auto spans = SpansFromWire(params.getSpans());
    if (!spans.ok()) return ToException(spans.status());
    std::string after;
    if (params.getAfterKey().size() != 0) {
      auto key = KeyFromWire(params.getAfterKey());
      if (!key.ok()) return ToException(key.status());
      after = std::move(key).value();
    }
    if (params.getLimit() > kAaeDigestsPerResponseMax) {
      return ToException(Status::InvalidArgument(
          StrCat("aaeDigests limit ", params.getLimit(), " over ", kAaeDigestsPerResponseMax)));
    }
    cluster::AaeDigestRequest req{0, std::move(spans).value(), std::move(after), params.getLimit()};
    return host_.Inbound(from, std::move(req), conn_)
        .then([context](cluster::PeerMessage m) mutable {
          auto* r = std::get_if<cluster::AaeDigestResponse>(&m);
          if (r == nullptr) ThrowStatus(Status::Internal("wrong response type for aaeDigests"));
          ThrowIfError(r->status);
          DigestsToWire(r->digests, context.getResults().initDigests(r->digests.size()));
          context.getResults().setMore(r->more);
        });
  }

  kj::Promise<void> stream(StreamContext context) override {
    NodeId from = From();
    auto params = context.getParams();
    auto spans = SpansFromWire(params.getSpans());
    if (!spans.ok()) return ToException(spans.status());
    std::string after;
    if (params.getAfterKey().size() != 0) {
      auto key = KeyFromWire(params.getAfterKey());
      if (!key.ok()) return ToException(key.status());
      after = std::move(key).value();
    }
    if (params.getLimitBytes() > kStreamPageBytesMax) {
      return ToException(Status::InvalidArgument(
          StrCat("stream page limit ", params.getLimitBytes(), " over ", kStreamPageBytesMax)));
    }
    cluster::StreamRequest req{0, std::move(spans).value(), std::move(after),
                               params.getLimitBytes()};
    return host_.Inbound(from, std::move(req), conn_)
        .then([context](cluster::PeerMessage m) mutable {
          auto* r = std::get_if<cluster::StreamResponse>(&m);
          if (r == nullptr) ThrowStatus(Status::Internal("wrong response type for stream"));
          ThrowIfError(r->status);
          KeyedVersionsToWire(r->versions, context.getResults().initVersions(r->versions.size()));
          context.getResults().setMore(r->more);
        });
  }

  kj::Promise<void> gossip(GossipContext context) override {
    NodeId from = From();
    auto message = GossipFromWire(context.getParams().getState());
    if (!message.ok()) return ToException(message.status());
    // Push-pull replies travel as our own gossip call to the sender (a SendAction), not here.
    host_.Deliver(from, std::move(message).value());
    return kj::READY_NOW;
  }

 private:
  NodeId From() const {
    if (conn_->peer_node == 0) {
      ThrowStatus(Status::InvalidArgument("peer call before hello() on this connection"));
    }
    return conn_->peer_node;
  }

  NodeHost& host_;
  std::shared_ptr<ConnStats> conn_;
};

}  // namespace

kj::Own<wire::Peer::Server> NewPeerApi(NodeHost& host, std::shared_ptr<ConnStats> conn) {
  return kj::heap<PeerApi>(host, std::move(conn));
}

}  // namespace causeway::rpc
