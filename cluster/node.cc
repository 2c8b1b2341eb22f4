#include "cluster/node.h"

#include <map>

#include "cluster/internal/coordinator.h"
#include "cluster/internal/membership.h"
#include "cluster/ring.h"

namespace causeway::cluster {
namespace {

MemberState SelfState(const NodeConfig& config, NodeId id) {
  MemberState s;
  s.id = id;
  s.name = config.name;
  s.address = config.address;
  s.tokens = config.tokens;
  s.generation = config.generation;
  return s;
}

bool HasOtherSeed(const NodeConfig& config) {
  for (const auto& s : config.seeds) {
    if (s != config.address) return true;
  }
  return false;
}

}  // namespace

struct NodeCore::Impl final : internal::ClusterView {
  Impl(NodeConfig c, HybridClock* hlc)
      : config(std::move(c)),
        clock(hlc),
        id(NodeIdFromName(config.name)),
        membership(SelfState(config, id), config.seeds, config.gossip_interval_ms,
                   config.phi_convict, config.rng_seed != 0 ? config.rng_seed : id),
        coordinator(config, clock, this, &counters) {
    tokens = config.tokens;
    joining = tokens.empty();
    if (joining && !HasOtherSeed(config))
      FinishJoin(Ring::HashTokens(config.name, kTokensPerNodeDefault));
    SyncRing();
  }

  // ---- ClusterView
  NodeId self_id() const override { return id; }
  std::vector<NodeId> Replicas(std::string_view key) const override {
    return ring.PreferenceList(TokenOf(key), config.rf);
  }
  bool IsAlive(NodeId node, TimeMs now) const override { return membership.IsAlive(node, now); }
  std::string AddressOf(NodeId node) const override {
    return node == id ? config.address : membership.AddressOf(node);
  }

  void FinishJoin(std::vector<Token> chosen) {
    tokens = std::move(chosen);
    joining = false;
    membership.SetSelfTokens(tokens);
  }

  // Tokens for a node that joins a running cluster: those a previous incarnation announced, if
  // peers remember them; otherwise the balanced allocation, done for every tokenless joiner we
  // know in id order, so concurrent joiners that see the same view choose disjoint tokens.
  std::vector<Token> TokensFromView() const {
    if (!membership.remembered_tokens().empty()) return membership.remembered_tokens();
    std::map<NodeId, std::vector<Token>> placed;
    std::vector<const MemberState*> joiners;
    for (const auto& [mid, m] : membership.members()) {
      if (m.state.status == MemberStatus::kLeft) continue;
      if (!m.state.tokens.empty()) {
        placed[mid] = m.state.tokens;
      } else if (m.state.status == MemberStatus::kUp) {
        joiners.push_back(&m.state);
      }
    }
    Ring view;
    view.Assign(std::move(placed));
    for (const MemberState* j : joiners) {
      std::vector<Token> t = view.AllocateTokens(j->name, kTokensPerNodeDefault);
      if (j->id == id) return t;
      view.SetNode(j->id, std::move(t));
    }
    return Ring::HashTokens(config.name, kTokensPerNodeDefault);  // unreachable: we are a joiner
  }

  void MaybeJoin(TimeMs now) {
    if (!joining) return;
    if (!join_clock_started) join_clock_started = true, join_started_ms = now;
    const uint64_t settle = kJoinSettleIntervals * config.gossip_interval_ms;
    if (membership.contacted() && now >= membership.first_contact_ms() + settle) {
      FinishJoin(TokensFromView());
    } else if (now >= join_started_ms + kJoinWaitMsMax) {
      FinishJoin(Ring::HashTokens(config.name, kTokensPerNodeDefault));
    }
  }

  void SyncRing() {
    if (membership.ring_epoch() == ring_epoch_seen) return;
    ring_epoch_seen = membership.ring_epoch();
    std::map<NodeId, std::vector<Token>> nodes;
    for (const auto& [mid, m] : membership.members()) {
      if (m.state.status != MemberStatus::kLeft) nodes[mid] = m.state.tokens;
    }
    ring.Assign(std::move(nodes));
  }

  void Reply(NodeId to, PeerMessage message, Actions* out) const {
    out->push_back(SendAction{to, AddressOf(to), std::move(message)});
  }

  // ---- replica side
  void OnReplicate(NodeId from, const ReplicateRequest& r, Actions* out) {
    Status s = ValidateKey(r.key);
    if (s.ok()) s = ValidateVersion(r.version);
    if (s.ok()) {
      s = clock->Update(r.version.timestamp);
      if (s.code() == ErrorCode::kClockSkew) counters.clock_skew_rejections++;
    }
    if (s.ok() && storage_ops.size() >= kNodeInFlightRequestsMax) {
      s = Status::Overloaded("replica has too many storage operations in flight");
    }
    if (!s.ok()) return Reply(from, ReplicateResponse{r.id, std::move(s)}, out);
    uint64_t op = next_op_id++;
    storage_ops[op] = StorageOp{from, r.id, false};
    out->push_back(StorageAction{op, StorageAction::Kind::kApply, r.key, r.version});
  }

  void OnRead(NodeId from, const ReadRequest& r, Actions* out) {
    Status s = ValidateKey(r.key);
    if (s.ok() && storage_ops.size() >= kNodeInFlightRequestsMax) {
      s = Status::Overloaded("replica has too many storage operations in flight");
    }
    if (!s.ok()) return Reply(from, ReadResponse{r.id, std::move(s), std::nullopt}, out);
    uint64_t op = next_op_id++;
    storage_ops[op] = StorageOp{from, r.id, true};
    out->push_back(StorageAction{op, StorageAction::Kind::kRead, r.key, Version{}});
  }

  struct StorageOp {
    NodeId from = 0;
    RequestId peer_id = 0;
    bool read = false;
  };

  NodeConfig config;
  HybridClock* clock;
  NodeId id;
  std::vector<Token> tokens;
  bool joining = false;
  bool join_clock_started = false;
  TimeMs join_started_ms = 0;
  Counters counters;
  internal::Membership membership;
  Ring ring;
  uint64_t ring_epoch_seen = 0;
  internal::Coordinator coordinator;
  std::map<uint64_t, StorageOp> storage_ops;
  uint64_t next_op_id = 1;
};

NodeCore::NodeCore(NodeConfig config, HybridClock* clock)
    : impl_(std::make_unique<Impl>(std::move(config), clock)) {}
NodeCore::~NodeCore() = default;

NodeId NodeCore::id() const { return impl_->id; }
const NodeConfig& NodeCore::config() const { return impl_->config; }
const std::vector<Token>& NodeCore::tokens() const { return impl_->tokens; }

Actions NodeCore::StartWrite(RequestId id, ClientWrite request, TimeMs now) {
  Actions out;
  impl_->coordinator.StartWrite(id, std::move(request), now, &out);
  return out;
}

Actions NodeCore::StartRead(RequestId id, ClientRead request, TimeMs now) {
  Actions out;
  impl_->coordinator.StartRead(id, std::move(request), now, &out);
  return out;
}

Actions NodeCore::StartExplain(RequestId id, std::string key, TimeMs now) {
  Actions out;
  impl_->coordinator.StartExplain(id, std::move(key), now, &out);
  return out;
}

Actions NodeCore::OnPeerMessage(NodeId from, PeerMessage message, TimeMs now) {
  Actions out;
  Impl& n = *impl_;
  if (auto* m = std::get_if<ReplicateRequest>(&message)) {
    n.OnReplicate(from, *m, &out);
  } else if (auto* m = std::get_if<ReplicateResponse>(&message)) {
    n.coordinator.OnReplicateResponse(from, *m, now, &out);
  } else if (auto* m = std::get_if<ReadRequest>(&message)) {
    n.OnRead(from, *m, &out);
  } else if (auto* m = std::get_if<ReadResponse>(&message)) {
    n.coordinator.OnReadResponse(from, *m, now, &out);
  } else if (auto* m = std::get_if<GossipMessage>(&message)) {
    n.membership.OnGossip(from, *m, now, &out);
    n.SyncRing();
  }
  return out;
}

Actions NodeCore::OnSendFailed(NodeId to, const PeerMessage& message, TimeMs now) {
  Actions out;
  if (auto* m = std::get_if<ReplicateRequest>(&message)) {
    impl_->coordinator.OnSendFailed(to, m->id, now, &out);
  } else if (auto* m = std::get_if<ReadRequest>(&message)) {
    impl_->coordinator.OnSendFailed(to, m->id, now, &out);
  }
  return out;
}

Actions NodeCore::OnStorageDone(uint64_t op_id, StorageResult result, TimeMs now) {
  Actions out;
  auto it = impl_->storage_ops.find(op_id);
  if (it == impl_->storage_ops.end()) return out;
  Impl::StorageOp op = it->second;
  impl_->storage_ops.erase(it);
  if (op.read) {
    impl_->Reply(op.from,
                 ReadResponse{op.peer_id, std::move(result.status), std::move(result.version)},
                 &out);
  } else {
    impl_->Reply(op.from, ReplicateResponse{op.peer_id, std::move(result.status)}, &out);
  }
  return out;
}

Actions NodeCore::Tick(TimeMs now) {
  Actions out;
  impl_->MaybeJoin(now);
  impl_->membership.Tick(now, &out);
  impl_->SyncRing();
  impl_->coordinator.Tick(now, &out);
  return out;
}

// Without data streaming (a later issue) there is nothing to hand over while kLeaving, so the
// node announces kLeft at once: peers take it off their rings and route around it.
Actions NodeCore::Leave(TimeMs now) {
  Actions out;
  impl_->membership.Announce(MemberStatus::kLeft, now, &out);
  impl_->SyncRing();
  return out;
}

std::vector<MemberView> NodeCore::Members(TimeMs now) const {
  std::vector<MemberView> views;
  std::map<NodeId, double> shares = impl_->ring.PrimaryShares();
  for (const auto& [mid, m] : impl_->membership.members()) {
    MemberView v;
    v.state = m.state;
    v.alive = impl_->membership.IsAlive(mid, now);
    auto s = shares.find(mid);
    v.ring_share = s == shares.end() ? 0.0 : s->second;
    views.push_back(std::move(v));
  }
  return views;
}

std::vector<NodeId> NodeCore::PreferenceList(std::string_view key) const {
  return impl_->Replicas(key);
}

size_t NodeCore::InFlightRequests() const { return impl_->coordinator.InFlight(); }

NodeCore::Counters NodeCore::counters() const { return impl_->counters; }

}  // namespace causeway::cluster
