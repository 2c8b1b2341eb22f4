#include "cluster/internal/membership.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "base/limits.h"

namespace causeway::cluster {

// Over a fixed little-endian encoding: every node must compute the same hash for the same state.
uint64_t MemberStateHash(const MemberState& m) {
  std::string bytes;
  bytes.reserve(m.name.size() + m.address.size() + 8 * m.tokens.size() + 32);
  auto put = [&](uint64_t v) { internal::PutU64(&bytes, v); };
  put(m.name.size());
  bytes += m.name;
  put(m.address.size());
  bytes += m.address;
  put(static_cast<uint64_t>(m.status));
  put(m.tokens.size());
  for (Token t : m.tokens) put(t);
  if (m.catching_up) put(1);  // absent when false: the hash of older nodes' states is unchanged
  if (m.bootstrapping) put(2);
  return TokenOf(bytes);
}

namespace internal {
namespace {

bool Newer(uint64_t generation, uint64_t heartbeat, const MemberState& b) {
  return generation != b.generation ? generation > b.generation : heartbeat > b.heartbeat;
}
bool Newer(const MemberState& a, const MemberState& b) {
  return Newer(a.generation, a.heartbeat, b);
}

// Whether the persisted part of a member's state differs (cluster/persist.h).
bool PersistedPartDiffers(const MemberState& a, const MemberState& b) {
  return a.tokens != b.tokens || a.status != b.status || a.address != b.address || a.name != b.name;
}

}  // namespace

Membership::Membership(MemberState self, std::vector<std::string> seeds,
                       uint64_t gossip_interval_ms, double phi_convict, uint64_t rng_seed)
    : self_id_(self.id),
      seeds_(std::move(seeds)),
      gossip_interval_ms_(std::max<uint64_t>(gossip_interval_ms, 1)),
      phi_convict_(phi_convict),
      rng_(rng_seed) {
  SetState(&members_[self_id_], std::move(self));
}

MemberDigest Membership::DigestOf(const Member& m) {
  return MemberDigest{m.state.id, m.state.generation, m.state.heartbeat, m.state_hash};
}

void Membership::SetState(Member* m, MemberState state) const {
  m->state = std::move(state);
  m->state_hash = MemberStateHash(m->state);
}

bool Membership::Valid(const MemberState& m) {
  return m.id != 0 && m.name.size() <= kNodeNameBytesMax &&
         m.address.size() <= kNodeAddressBytesMax &&
         m.tokens.size() <= static_cast<size_t>(kTokensPerNodeMax) &&
         static_cast<int>(m.status) >= 0 && m.status <= MemberStatus::kJoining;
}

bool Membership::Tick(TimeMs now, Actions* out) {
  if (!ticked_) ticked_ = true, first_tick_ms_ = now;
  if (now < next_round_ms_) return false;
  next_round_ms_ = now + gossip_interval_ms_;
  members_.at(self_id_).state.heartbeat++;
  ChooseTargets(now, out);
  return true;
}

void Membership::PushTo(NodeId id, Actions* out) const {
  auto it = members_.find(id);
  if (id == self_id_ || it == members_.end()) return;
  SendTo(id, it->second.state.address, true, out);
}

std::vector<NodeId> Membership::LivePeers(TimeMs now) const {
  std::vector<NodeId> live;
  for (const auto& [id, m] : members_) {
    if (id != self_id_ && IsAlive(id, now)) live.push_back(id);
  }
  return live;
}

// Cassandra's choice: a few random live peers; a down member with probability
// down/(live+1); a seed when we know no live peer, or with probability seeds/(live+down+1).
void Membership::ChooseTargets(TimeMs now, Actions* out) {
  std::vector<NodeId> live, down;
  for (const auto& [id, m] : members_) {
    if (id == self_id_ || m.state.status == MemberStatus::kLeft) continue;
    (IsAlive(id, now) ? live : down).push_back(id);
  }
  const size_t live_count = live.size();
  for (int i = 0; i < kGossipFanout && !live.empty(); ++i) {
    size_t pick = rng_.Below(live.size());
    SendTo(live[pick], members_.at(live[pick]).state.address, true, out);
    live.erase(live.begin() + static_cast<std::ptrdiff_t>(pick));
  }
  if (!down.empty() && rng_.Below(live_count + 1) < down.size()) {
    NodeId id = down[rng_.Below(down.size())];
    SendTo(id, members_.at(id).state.address, true, out);
  }
  std::vector<std::string> seeds;
  for (const auto& s : seeds_) {
    if (s != self().address) seeds.push_back(s);
  }
  if (seeds.empty()) return;
  if (live_count == 0 || rng_.Below(live_count + down.size() + 1) < seeds.size()) {
    const std::string& address = seeds[rng_.Below(seeds.size())];
    NodeId id = 0;  // a seed's id is unknown until it answers
    for (const auto& [mid, m] : members_) {
      if (mid != self_id_ && m.state.address == address) id = mid;
    }
    SendTo(id, address, true, out);
  }
}

// Our own state in full (the receiver learns our address from it, to reply), a digest of every
// other member: about 32 bytes a member instead of ~170 with 16 tokens.
GossipMessage Membership::Push(bool reply_wanted) const {
  GossipMessage msg;
  msg.reply_wanted = reply_wanted;
  msg.members.push_back(self());
  msg.digests.reserve(members_.size());
  for (const auto& [id, m] : members_) {
    if (id != self_id_) msg.digests.push_back(DigestOf(m));
  }
  return msg;
}

// What the pusher lacks (full), holds older with other content (full) or older with the same
// content (digest), and the ids it asked for; `wanted`: what we need from it. At most one entry
// per member we know, so bounded by kClusterNodesMax.
GossipMessage Membership::Reply(const GossipMessage& push, std::vector<NodeId> wanted) const {
  std::map<NodeId, MemberDigest> theirs;
  for (const MemberState& s : push.members) {
    theirs[s.id] = MemberDigest{s.id, s.generation, s.heartbeat, MemberStateHash(s)};
  }
  for (const MemberDigest& d : push.digests) theirs.emplace(d.id, d);
  std::set<NodeId> asked(push.wanted.begin(), push.wanted.end());
  GossipMessage reply;
  reply.wanted = std::move(wanted);
  reply.echo_ms = push.probe_ms;
  for (const auto& [id, m] : members_) {
    auto t = theirs.find(id);
    if (t == theirs.end() || asked.count(id) != 0) {
      reply.members.push_back(m.state);
    } else if (Newer(m.state, MemberState{id,
                                          {},
                                          {},
                                          {},
                                          t->second.generation,
                                          t->second.heartbeat,
                                          MemberStatus::kUp})) {
      if (t->second.state_hash == m.state_hash) {
        reply.digests.push_back(DigestOf(m));
      } else {
        reply.members.push_back(m.state);
      }
    }
  }
  return reply;
}

GossipMessage Membership::States(const std::vector<NodeId>& ids) const {
  GossipMessage msg;
  for (NodeId id : std::set<NodeId>(ids.begin(), ids.end())) {
    if (auto it = members_.find(id); it != members_.end()) msg.members.push_back(it->second.state);
  }
  return msg;
}

void Membership::SendTo(NodeId id, const std::string& address, bool reply_wanted,
                        Actions* out) const {
  out->push_back(SendAction{id, address, Push(reply_wanted)});
}

void Membership::OnGossip(NodeId from, const GossipMessage& message, TimeMs now, Actions* out) {
  if (from != self_id_ && !contacted_) {
    contacted_ = true;
    first_contact_ms_ = now;
  }
  size_t n = 0;
  for (const auto& m : message.members) {
    if (++n > kClusterNodesMax) break;  // a hostile or buggy peer: ignore the excess
    if (Valid(m)) MergeOne(m, now);
  }
  std::vector<NodeId> wanted;
  n = 0;
  for (const auto& d : message.digests) {
    if (++n > kClusterNodesMax) break;
    MergeDigest(d, now, &wanted);
  }
  if (from == 0 || from == self_id_) return;
  std::string address = AddressOf(from);
  if (address.empty()) return;
  if (message.reply_wanted) {
    out->push_back(SendAction{from, address, Reply(message, std::move(wanted))});
  } else if (!message.wanted.empty()) {
    std::vector<NodeId> ids = message.wanted;
    if (ids.size() > kClusterNodesMax) ids.resize(kClusterNodesMax);
    out->push_back(SendAction{from, address, States(ids)});
  }
}

// A digest newer than our copy updates it when only the heartbeat moved (same state hash);
// otherwise, or for a member we do not know, its full state goes on `wanted` (asked for only in
// the reply to a push). A digest of ourselves can tell that a peer saw a newer incarnation of us
// (we lost our generation: jump above it), or, while we have no tokens, an older one whose
// tokens we may take back (asked for in full).
void Membership::MergeDigest(const MemberDigest& d, TimeMs now, std::vector<NodeId>* wanted) {
  if (d.id == 0) return;
  if (d.id == self_id_) {
    const MemberState& me = self();
    if (me.tokens.empty() && d.generation <= me.generation && d.state_hash != MemberStateHash(me)) {
      // Peers may keep our tokens over a newer tokenless state of ours (MergeOne), at our own
      // generation: ask for it in full either way.
      wanted->push_back(d.id);
    } else if (d.generation >= me.generation && Newer(d.generation, d.heartbeat, me)) {
      MemberState claimed{d.id, {}, {}, {}, d.generation, d.heartbeat, MemberStatus::kUp};
      MergeSelf(claimed);
    }
    return;
  }
  auto it = members_.find(d.id);
  if (it == members_.end()) {
    if (members_.size() + wanted->size() < kClusterNodesMax) wanted->push_back(d.id);
    return;
  }
  const Member& m = it->second;
  if (!Newer(d.generation, d.heartbeat, m.state)) return;
  if (d.state_hash != m.state_hash) {
    wanted->push_back(d.id);
    return;
  }
  MemberState updated = m.state;
  updated.generation = d.generation;
  updated.heartbeat = d.heartbeat;
  MergeOne(updated, now);
}

void Membership::MergeOne(const MemberState& incoming, TimeMs now) {
  if (incoming.id == self_id_) {
    MergeSelf(incoming);
    return;
  }
  auto it = members_.find(incoming.id);
  if (it == members_.end()) {
    if (members_.size() >= kClusterNodesMax) return;
    Member& m = members_[incoming.id];
    SetState(&m, incoming);
    m.last_arrival_ms = now;
    ring_epoch_++;
    view_epoch_++;
    return;
  }
  Member& m = it->second;
  if (!Newer(incoming, m.state)) return;
  if (incoming.tokens.empty() && !m.state.tokens.empty() &&
      incoming.status != MemberStatus::kLeft) {
    // A member's tokens never vanish but by leaving: this is a new incarnation that lost its data
    // and has not taken its tokens back yet (it does: Membership::remembered_tokens). Dropping
    // them would move its ranges to nodes that hold none of their data.
    MemberState kept = incoming;
    kept.tokens = m.state.tokens;
    if (PersistedPartDiffers(m.state, kept)) view_epoch_++;
    if (m.state.status != kept.status) ring_epoch_++;
    SetState(&m, std::move(kept));
    if (m.heard) RecordArrival(&m, now);
    m.heard = true;
    return;
  }
  if (m.state.tokens != incoming.tokens || m.state.status != incoming.status) ring_epoch_++;
  if (PersistedPartDiffers(m.state, incoming)) view_epoch_++;
  SetState(&m, incoming);
  if (m.heard) {
    RecordArrival(&m, now);
  } else {
    m.heard = true;  // first news since the restore: alive from now, no interval to sample
    m.last_arrival_ms = now;
  }
}

void Membership::Restore(const std::vector<MemberState>& known) {
  for (const MemberState& k : known) {
    if (k.id == self_id_ || !Valid(k) || members_.count(k.id) != 0) continue;
    if (members_.size() >= kClusterNodesMax) break;
    Member& m = members_[k.id];
    SetState(&m, k);
    m.heard = false;
    ring_epoch_++;
  }
}

// Peers may remember an older incarnation of us: its tokens (useful if ours were never persisted)
// and, if the driver lost our generation, a higher one we must outbid.
void Membership::MergeSelf(const MemberState& incoming) {
  MemberState& self = members_.at(self_id_).state;
  if (!incoming.tokens.empty() && self.tokens.empty() && incoming.generation <= self.generation) {
    remembered_tokens_ = incoming.tokens;
  }
  if (incoming.generation >= self.generation && Newer(incoming, self)) {
    self.generation = incoming.generation + 1;
    self.heartbeat = 0;
  }
}

void Membership::RecordArrival(Member* m, TimeMs now) {
  const uint64_t cap = kPhiSampleMaxIntervals * gossip_interval_ms_;
  uint64_t interval = std::min<uint64_t>(now - std::min(now, m->last_arrival_ms), cap);
  m->intervals_ms.push_back(interval);
  m->intervals_sum_ms += interval;
  if (m->intervals_ms.size() > kPhiWindowSamples) {
    m->intervals_sum_ms -= m->intervals_ms.front();
    m->intervals_ms.pop_front();
  }
  m->last_arrival_ms = now;
}

double Membership::Phi(const Member& m, TimeMs now) const {
  // Until samples exist, assume heartbeats every two rounds (gossip relays add a round).
  double mean = 2.0 * static_cast<double>(gossip_interval_ms_);
  if (!m.intervals_ms.empty()) {
    mean = std::max(
        static_cast<double>(m.intervals_sum_ms) / static_cast<double>(m.intervals_ms.size()),
        static_cast<double>(gossip_interval_ms_));
  }
  double elapsed = static_cast<double>(now - std::min(now, m.last_arrival_ms));
  return elapsed / mean * std::log10(std::exp(1.0));
}

bool Membership::IsAlive(NodeId id, TimeMs now) const {
  if (id == self_id_) return true;
  auto it = members_.find(id);
  if (it == members_.end() || it->second.state.status == MemberStatus::kLeft) return false;
  if (!it->second.heard) return !ticked_ || now < first_tick_ms_ + kRestoredAliveMs;
  return Phi(it->second, now) < phi_convict_;
}

const Membership::Member* Membership::Find(NodeId id) const {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

std::string Membership::AddressOf(NodeId id) const {
  auto it = members_.find(id);
  return it == members_.end() ? std::string() : it->second.state.address;
}

void Membership::Announce(MemberStatus status, TimeMs now, Actions* out) {
  Member& me = members_.at(self_id_);
  if (me.state.status == status) return;
  MemberState next = me.state;
  next.status = status;
  next.heartbeat++;
  SetState(&me, std::move(next));
  ring_epoch_++;
  view_epoch_++;
  for (const auto& [id, m] : members_) {
    if (id != self_id_ && IsAlive(id, now)) SendTo(id, m.state.address, false, out);
  }
}

void Membership::SetSelfTokens(std::vector<Token> tokens) {
  Member& me = members_.at(self_id_);
  MemberState next = me.state;
  next.tokens = std::move(tokens);
  next.heartbeat++;
  SetState(&me, std::move(next));
  ring_epoch_++;
  view_epoch_++;
}

void Membership::SetSelfCatchingUp(bool catching_up) {
  Member& me = members_.at(self_id_);
  if (me.state.catching_up == catching_up) return;
  MemberState next = me.state;
  next.catching_up = catching_up;
  next.heartbeat++;
  SetState(&me, std::move(next));
}

void Membership::SetSelfBootstrapping(bool bootstrapping) {
  Member& me = members_.at(self_id_);
  if (me.state.bootstrapping == bootstrapping) return;
  MemberState next = me.state;
  next.bootstrapping = bootstrapping;
  next.heartbeat++;
  SetState(&me, std::move(next));
}

}  // namespace internal
}  // namespace causeway::cluster
