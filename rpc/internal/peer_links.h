// PeerLinks: the node's outbound connections to other nodes (issue 4, "peer drivers").
//
// One Cap'n Proto connection per peer address, opened on first use. Every call has a deadline
// (peer_timeout_ms): a paused peer still accepts connections, so only deadlines notice it. At most
// kPeerInFlightMax calls are outstanding per peer; beyond that a send fails at once. When a
// connection fails, the link waits (exponential backoff, kPeerReconnectBackoffMsMin..Max) before
// connecting again, and sends during the wait fail at once.
//
// Outcomes go back through two callbacks, always from a later KJ turn (never from inside Send()):
// `on_reply(from, message)` for a peer's answer (ReplicateResponse, ReadResponse, a gossip reply)
// and `on_failed(to, message)` when a message could not be delivered or answered in time.
// Application errors from the peer (e.g. its disk failed) arrive as responses carrying the status.
//
// Loop-thread only. Destroy before the KJ event loop.
#pragma once

#include <kj/async-io.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "cluster/messages.h"
#include "rpc/cluster_secret.h"
#include "rpc/tls.h"
#include "schema/causeway.capnp.h"

namespace causeway::rpc {

class PeerLinks {
 public:
  using ReplyFn = std::function<void(NodeId from, cluster::PeerMessage message)>;
  using FailedFn = std::function<void(NodeId to, cluster::PeerMessage message)>;

  // `secret` (borrowed; null: none): each connection first proves it and checks the peer's
  // proof (rpc/cluster_secret.h); a failed handshake is a connection failure (backoff, retry).
  // `tls` (null, or returning null: plaintext): each connection is mutual TLS through the peer
  // door (rpc/tls.h), presenting our node certificate; the other side's must be a node
  // certificate from our CA, naming the node sent to (when its id is known; a seed's is not).
  PeerLinks(kj::Network& network, kj::Timer& timer, NodeId self_id, std::string self_name,
            std::string self_address, uint64_t call_timeout_ms, ReplyFn on_reply,
            FailedFn on_failed, const ClusterSecret* secret = nullptr, TlsSource tls = nullptr);
  ~PeerLinks();

  // Sends a request (ReplicateRequest, ReadRequest or GossipMessage) to `to` at `address`.
  void Send(NodeId to, const std::string& address, cluster::PeerMessage message);
  // Calls outstanding across all peers.
  size_t InFlight() const;
  // Drops every connection (outstanding calls fail through on_failed).
  void CloseAll();
  // The peer at `address` just connected to us (its hello): a link to it waiting out a reconnect
  // backoff may connect again at once, so what we send it (gossip replies, which travel as our
  // own calls) does not wait for a backoff grown while it was down.
  void PeerIsBack(const std::string& address);

 private:
  struct Link;
  Link& LinkFor(NodeId to, const std::string& address);
  void Connect(Link& link, NodeId to);
  kj::Promise<kj::Own<kj::AsyncIoStream>> Dial(const std::string& address, NodeId to);
  wire::Peer::Client Authenticate(wire::Bootstrap::Client bootstrap);
  kj::Promise<void> Call(Link& link, NodeId to, cluster::PeerMessage message);
  void OnLinkFailure(Link& link, uint64_t generation);
  void FailLater(NodeId to, cluster::PeerMessage message);

  kj::Network& network_;
  kj::Timer& timer_;
  const NodeId self_id_;
  const std::string self_name_;
  const std::string self_address_;
  const uint64_t call_timeout_ms_;
  ReplyFn on_reply_;
  FailedFn on_failed_;
  const ClusterSecret* secret_;
  TlsSource tls_;
  std::map<std::string, std::unique_ptr<Link>> links_;  // by address
  kj::Own<kj::TaskSet> tasks_;
};

}  // namespace causeway::rpc
