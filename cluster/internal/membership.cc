#include "cluster/internal/membership.h"

#include <algorithm>
#include <cmath>

#include "engine/limits.h"

namespace causeway::cluster::internal {
namespace {

bool Newer(const MemberState& a, const MemberState& b) {
  return a.generation != b.generation ? a.generation > b.generation : a.heartbeat > b.heartbeat;
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
  members_[self_id_].state = std::move(self);
}

bool Membership::Valid(const MemberState& m) {
  return m.id != 0 && m.name.size() <= kNodeNameBytesMax &&
         m.address.size() <= kNodeAddressBytesMax &&
         m.tokens.size() <= static_cast<size_t>(kTokensPerNodeMax) &&
         static_cast<int>(m.status) >= 0 && m.status <= MemberStatus::kLeft;
}

void Membership::Tick(TimeMs now, Actions* out) {
  if (now < next_round_ms_) return;
  next_round_ms_ = now + gossip_interval_ms_;
  members_.at(self_id_).state.heartbeat++;
  ChooseTargets(now, out);
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

GossipMessage Membership::View(bool reply_wanted) const {
  GossipMessage msg;
  msg.reply_wanted = reply_wanted;
  msg.members.reserve(members_.size());
  for (const auto& [id, m] : members_) msg.members.push_back(m.state);
  return msg;
}

void Membership::SendTo(NodeId id, const std::string& address, bool reply_wanted,
                        Actions* out) const {
  out->push_back(SendAction{id, address, View(reply_wanted)});
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
  if (message.reply_wanted && from != 0 && from != self_id_) {
    std::string address = AddressOf(from);
    if (!address.empty()) SendTo(from, address, false, out);
  }
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
    m.state = incoming;
    m.last_arrival_ms = now;
    ring_epoch_++;
    view_epoch_++;
    return;
  }
  Member& m = it->second;
  if (!Newer(incoming, m.state)) return;
  if (m.state.tokens != incoming.tokens || m.state.status != incoming.status) ring_epoch_++;
  if (PersistedPartDiffers(m.state, incoming)) view_epoch_++;
  m.state = incoming;
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
    m.state = k;
    m.heard = false;
    ring_epoch_++;
  }
}

// Peers may remember an older incarnation of us: its tokens (useful if ours were never persisted)
// and, if the driver lost our generation, a higher one we must outbid.
void Membership::MergeSelf(const MemberState& incoming) {
  MemberState& self = members_.at(self_id_).state;
  if (!incoming.tokens.empty() && incoming.generation < self.generation) {
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
  if (!it->second.heard) return false;
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
  MemberState& self = members_.at(self_id_).state;
  if (self.status == status) return;
  self.status = status;
  self.heartbeat++;
  ring_epoch_++;
  view_epoch_++;
  for (const auto& [id, m] : members_) {
    if (id != self_id_ && IsAlive(id, now)) SendTo(id, m.state.address, false, out);
  }
}

void Membership::SetSelfTokens(std::vector<Token> tokens) {
  MemberState& self = members_.at(self_id_).state;
  self.tokens = std::move(tokens);
  self.heartbeat++;
  ring_epoch_++;
  view_epoch_++;
}

}  // namespace causeway::cluster::internal
