#include "cluster/node.h"

#include <algorithm>
#include <map>

#include "cluster/internal/node_impl.h"
#include "cluster/ports.h"

namespace causeway::cluster {

NodeCore::NodeCore(NodeConfig config, HybridClock* clock)
    : impl_(std::make_unique<Impl>(std::move(config), clock)) {}
NodeCore::~NodeCore() = default;

NodeId NodeCore::id() const { return impl_->id; }
const NodeConfig& NodeCore::config() const { return impl_->config; }
const std::vector<Token>& NodeCore::tokens() const { return impl_->tokens; }

Actions NodeCore::StartWrite(RequestId id, ClientWrite request, TimeMs now) {
  Actions out;
  impl_->ObserveClock(now);
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
  n.ObserveClock(now);
  if (auto* m = std::get_if<ReplicateRequest>(&message)) {
    n.OnReplicate(from, *m, now, &out);
  } else if (auto* m = std::get_if<ReplicateResponse>(&message)) {
    if ((m->id & internal::kHintIdBit) != 0) {
      n.hints.OnReplicateResponse(from, *m, &out);
    } else if ((m->id & internal::kAaeIdBit) != 0) {
      n.aae.OnReplicateResponse(from, *m, now, &out);
    } else {
      n.coordinator.OnReplicateResponse(from, *m, now, &out);
    }
  } else if (auto* m = std::get_if<ReadRequest>(&message)) {
    n.OnRead(from, *m, &out);
  } else if (auto* m = std::get_if<ReadResponse>(&message)) {
    if ((m->id & internal::kAaeIdBit) != 0) {
      n.aae.OnReadResponse(from, std::move(*m), now, &out);
    } else {
      n.coordinator.OnReadResponse(from, *m, now, &out);
    }
  } else if (auto* m = std::get_if<GossipMessage>(&message)) {
    n.OnGossip(from, *m, now, &out);
  } else if (auto* m = std::get_if<AaeHashRequest>(&message)) {
    n.aae.OnHashRequest(from, *m, &out);
  } else if (auto* m = std::get_if<AaeDigestRequest>(&message)) {
    n.aae.OnDigestRequest(from, *m, &out);
  } else if (auto* m = std::get_if<AaeHashResponse>(&message)) {
    n.aae.OnHashResponse(from, std::move(*m), now, &out);
  } else if (auto* m = std::get_if<AaeDigestResponse>(&message)) {
    n.aae.OnDigestResponse(from, std::move(*m), now, &out);
  } else if (auto* m = std::get_if<StreamRequest>(&message)) {
    n.streamer.OnRequest(from, *m, &out);
  } else if (auto* m = std::get_if<StreamResponse>(&message)) {
    n.streamer.OnResponse(from, std::move(*m), now, &out);
  }
  return out;
}

Actions NodeCore::OnSendFailed(NodeId to, const PeerMessage& message, TimeMs now) {
  Actions out;
  const uint64_t id = std::visit(
      [](const auto& m) -> uint64_t {
        if constexpr (requires { m.id; }) {
          return m.id;
        } else {
          return 0;
        }
      },
      message);
  if ((id & internal::kAaeIdBit) != 0 && ResponseId(message) == std::nullopt) {
    impl_->aae.OnSendFailed(to, id, now, &out);
    return out;
  }
  if ((id & internal::kStreamIdBit) != 0 && ResponseId(message) == std::nullopt) {
    impl_->streamer.OnSendFailed(to, id, now);
    return out;
  }
  if (auto* m = std::get_if<ReplicateRequest>(&message)) {
    if ((m->id & internal::kHintIdBit) != 0) {
      impl_->hints.OnSendFailed(to, m->id);
    } else {
      impl_->coordinator.OnSendFailed(to, m->id, now, &out);
    }
  } else if (auto* m = std::get_if<ReadRequest>(&message)) {
    impl_->coordinator.OnSendFailed(to, m->id, now, &out);
  }
  return out;
}

Actions NodeCore::OnStorageDone(uint64_t op_id, StorageResult result, TimeMs now) {
  Actions out;
  if ((op_id & internal::kHintIdBit) != 0) {
    impl_->hints.OnStorageDone(op_id, std::move(result), &out);
    return out;
  }
  if ((op_id & internal::kAaeIdBit) != 0) {
    impl_->aae.OnStorageDone(op_id, std::move(result), now, &out);
    return out;
  }
  if ((op_id & internal::kStreamIdBit) != 0) {
    impl_->streamer.OnStorageDone(op_id, std::move(result), now, &out);
    return out;
  }
  auto it = impl_->storage_ops.find(op_id);
  if (it == impl_->storage_ops.end()) return out;
  Impl::StorageOp op = it->second;
  impl_->storage_ops.erase(it);
  if (op.kind == Impl::StorageOp::kHint) {
    Status s = std::move(result.status);
    if (s.ok() && result.over_budget) {
      impl_->counters.hints_over_budget++;
      s = Status::Overloaded(StrCat("the hints kept for node ", op.hint_for,
                                    " are at their budget; the write is not held here"));
    } else if (s.ok()) {
      impl_->counters.hints_stored++;
      impl_->hints.NoteTarget(op.hint_for);
    }
    impl_->Reply(op.from, ReplicateResponse{op.peer_id, std::move(s)}, &out);
    return out;
  }
  if (op.kind == Impl::StorageOp::kRead) {
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
  impl_->ObserveClock(now);
  impl_->MaybeJoin(now, &out);
  impl_->MaybeCaughtUp(now);
  if (impl_->membership.Tick(now, &out)) impl_->ProbeClocks(now, &out);
  impl_->StampGossip(&out, 0, now);
  impl_->SyncRing();
  impl_->MaybeStream(now, &out);
  impl_->UpdateReady(now);
  impl_->JudgeClock(now);
  impl_->coordinator.Tick(now, &out);
  impl_->MaybePersist(now, false, &out);
  impl_->MaybeMoveWatermark(now, &out);
  auto alive = [&](NodeId n) { return impl_->membership.IsAlive(n, now); };
  // Hints wait while their target streams its ranges in: they follow the rebuild.
  impl_->hints.Tick(
      now,
      [&](NodeId n) {
        const internal::Membership::Member* m = impl_->membership.Find(n);
        return alive(n) && (m == nullptr || !m->state.bootstrapping);
      },
      &out);
  impl_->streamer.Tick(now, alive, &out);
  // A peer back from being down is exchanged with first (AntiEntropy::Prioritize).
  for (const auto& [mid, m] : impl_->membership.members()) {
    if (mid == impl_->id || m.state.status == MemberStatus::kLeft) continue;
    if (!alive(mid)) {
      impl_->seen_down.insert(mid);
    } else if (impl_->seen_down.erase(mid) != 0) {
      impl_->aae.Prioritize(mid);
    }
  }
  impl_->aae.Tick(now, impl_->clock->Last(), impl_->clock->PhysicalNowMs(), alive, &out);
  return out;
}

Actions NodeCore::PrepareStop(TimeMs now) {
  Actions out;
  impl_->MaybePersist(now, true, &out);
  return out;
}

std::vector<TokenSpan> NodeCore::OwnedSpans() const {
  std::vector<TokenSpan> spans;
  for (const auto& range : impl_->OurRanges()) {
    spans.insert(spans.end(), range.spans.begin(), range.spans.end());
  }
  std::sort(spans.begin(), spans.end(),
            [](const TokenSpan& a, const TokenSpan& b) { return a.first < b.first; });
  std::vector<TokenSpan> merged;
  for (const TokenSpan& t : spans) {
    if (!merged.empty() && merged.back().last != UINT64_MAX && merged.back().last + 1 == t.first) {
      merged.back().last = t.last;
    } else {
      merged.push_back(t);
    }
  }
  return merged;
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

bool NodeCore::Coordinating() const { return impl_->ready && !impl_->joining; }

std::string_view MemberStateName(const MemberState& m, bool alive) {
  if (m.status == MemberStatus::kLeft) return "left";
  if (!alive) return "down";
  if (m.status == MemberStatus::kJoining) return "joining";
  if (m.status == MemberStatus::kLeaving) return "leaving";
  if (m.bootstrapping) return "bootstrapping";
  if (m.catching_up) return "catching up";
  return "up";
}

uint64_t NodeCore::StartRepair(const std::vector<TokenSpan>& spans, TimeMs now) {
  return impl_->aae.StartRepair(spans, now);
}

NodeCore::RepairStatus NodeCore::repair_status(uint64_t repair_id, TimeMs now) const {
  return impl_->aae.repair_status(repair_id, now);
}

NodeCore::Counters NodeCore::counters() const {
  Counters c = impl_->counters;
  const auto& a = impl_->aae.counters();
  c.aae_exchanges = a.exchanges;
  c.aae_exchange_failures = a.failures;
  c.aae_keys_differed = a.keys_differed;
  c.aae_keys_pushed = a.keys_pushed;
  c.aae_keys_pulled = a.keys_pulled;
  c.aae_bytes = a.bytes;
  c.aae_protocol_bytes = a.protocol_bytes;
  const auto& h = impl_->hints.counters();
  c.hints_replayed = h.replayed;
  c.hint_replay_failures = h.replay_failures;
  const auto& st = impl_->streamer.counters();
  c.stream_pages = st.pages;
  c.stream_keys = st.keys;
  c.stream_bytes = st.bytes;
  c.stream_pages_served = st.pages_served;
  return c;
}

NodeCore::ClockStatus NodeCore::clock_status() const { return impl_->clock_monitor.Report(); }

bool NodeCore::ClockTrusted() const { return impl_->clock_monitor.trusted(); }

NodeCore::CatchUpStatus NodeCore::catch_up_status() const {
  return CatchUpStatus{impl_->catching_up, impl_->caught_up_by_bound, impl_->caught_up_after_ms};
}

uint64_t NodeCore::CeilingBaseMs() const {
  const uint64_t last_ms = HlcPhysicalMs(impl_->clock->Last());
  if (impl_->clock_monitor.trusted()) return std::max(impl_->clock->PhysicalNowMs(), last_ms);
  return std::max(impl_->max_replicated_ms, last_ms);
}

}  // namespace causeway::cluster
