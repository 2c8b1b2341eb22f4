#include "cluster/ring.h"

#include <algorithm>
#include <set>

namespace causeway::cluster {
namespace {

constexpr long double kTokenSpace = 18446744073709551616.0L;  // 2^64

// Size of the range (prev, t]; a ring of one token owns the whole space.
long double RangeSize(Token prev, Token t, size_t entries) {
  if (entries == 1) return kTokenSpace;
  return static_cast<long double>(t - prev);  // unsigned subtraction wraps around the ring
}

// Joiner-dependent jitter (AllocateTokens): how far a candidate's score or a slice may be
// scaled. Tuning, not limits: tests/cluster/ring_test.cc measures balance with them.
constexpr long double kDonorJitter = 1.0L;
constexpr long double kRangeJitter = 8.0L;
constexpr long double kSliceJitter = 0.5L;
constexpr uint64_t kSliceSalt = 0x5ca1ab1e;
// A slice is clamped to [min, max] of the range it splits, then jittered towards the floor, so
// it always lies strictly inside (floor, max] and two joiners' slices differ even when clamped.
constexpr long double kSliceFractionFloor = 1.0L / 64;
constexpr long double kSliceFractionMin = 1.0L / 32;
constexpr long double kSliceFractionMax = 31.0L / 32;

// splitmix64's finaliser: a well-mixed 64-bit function of x.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A number in [0, 1) from the bits of x.
long double Unit(uint64_t x) { return static_cast<long double>(Mix(x) >> 11) * 0x1.0p-53L; }

}  // namespace

void Ring::SetNode(NodeId node, std::vector<Token> tokens) {
  if (tokens.empty()) {
    RemoveNode(node);
    return;
  }
  nodes_[node] = std::move(tokens);
  Update({node});
}

void Ring::RemoveNode(NodeId node) {
  if (nodes_.erase(node) != 0) Update({node});
}

void Ring::Assign(std::map<NodeId, std::vector<Token>> nodes) {
  for (auto it = nodes.begin(); it != nodes.end();) {
    it = it->second.empty() ? nodes.erase(it) : std::next(it);
  }
  // The nodes whose tokens differ between the old and the new map (both sorted by id).
  std::vector<NodeId> changed;
  auto a = nodes_.begin(), b = nodes.begin();
  while (a != nodes_.end() || b != nodes.end()) {
    if (b == nodes.end() || (a != nodes_.end() && a->first < b->first)) {
      changed.push_back((a++)->first);
    } else if (a == nodes_.end() || b->first < a->first) {
      changed.push_back((b++)->first);
    } else {
      if (a->second != b->second) changed.push_back(a->first);
      ++a, ++b;
    }
  }
  nodes_ = std::move(nodes);
  Update(changed);
}

// Replaces the entries of the `changed` nodes (sorted ids) with their tokens in nodes_. When few
// nodes change (a join, a leave: the common case) this is two linear passes instead of a full
// sort of every token; the result is the same sorted vector either way.
void Ring::Update(const std::vector<NodeId>& changed) {
  if (changed.empty()) return;
  if (changed.size() * 4 > nodes_.size()) return Rebuild();
  auto is_changed = [&](const std::pair<Token, NodeId>& e) {
    return std::binary_search(changed.begin(), changed.end(), e.second);
  };
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(), is_changed), entries_.end());
  const size_t kept = entries_.size();
  for (NodeId node : changed) {
    auto it = nodes_.find(node);
    if (it == nodes_.end()) continue;
    for (Token t : it->second) entries_.emplace_back(t, node);
  }
  std::sort(entries_.begin() + static_cast<std::ptrdiff_t>(kept), entries_.end());
  std::inplace_merge(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(kept),
                     entries_.end());
}

void Ring::Rebuild() {
  entries_.clear();
  for (const auto& [node, tokens] : nodes_) {
    for (Token t : tokens) entries_.emplace_back(t, node);
  }
  std::sort(entries_.begin(), entries_.end());
}

std::vector<NodeId> Ring::PreferenceList(Token token, int rf) const {
  std::vector<NodeId> out;
  if (entries_.empty() || rf <= 0) return out;
  size_t start =
      std::lower_bound(entries_.begin(), entries_.end(), std::make_pair(token, NodeId{0})) -
      entries_.begin();
  const size_t want = std::min<size_t>(static_cast<size_t>(rf), nodes_.size());
  for (size_t step = 0; step < entries_.size() && out.size() < want; ++step) {
    NodeId node = entries_[(start + step) % entries_.size()].second;
    if (std::find(out.begin(), out.end(), node) == out.end()) out.push_back(node);
  }
  return out;
}

std::vector<Ring::Arc> Ring::ReplicaArcs(int rf) const {
  std::vector<Arc> arcs;
  if (entries_.empty()) return arcs;
  constexpr Token kTop = ~Token{0};
  // Entry i is the first entry at or after every token in (entries_[i-1].first, entries_[i].first]
  // (PreferenceList seeks with lower_bound), so that arc's list is entry i's.
  const Token first = entries_.front().first;
  const Token last = entries_.back().first;
  arcs.push_back({{0, first}, PreferenceList(first, rf)});
  for (size_t i = 1; i < entries_.size(); ++i) {
    const Token prev = entries_[i - 1].first;
    const Token t = entries_[i].first;
    if (t == prev) continue;  // two nodes on one token: the second's arc is empty
    arcs.push_back({{prev + 1, t}, PreferenceList(t, rf)});
  }
  if (last != kTop) arcs.push_back({{last + 1, kTop}, PreferenceList(first, rf)});
  return arcs;
}

std::map<NodeId, double> Ring::PrimaryShares() const {
  std::map<NodeId, double> shares;
  for (const auto& [node, tokens] : nodes_) shares[node] = 0.0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    Token prev = entries_[(i + entries_.size() - 1) % entries_.size()].first;
    shares[entries_[i].second] +=
        static_cast<double>(RangeSize(prev, entries_[i].first, entries_.size()) / kTokenSpace);
  }
  return shares;
}

std::map<NodeId, double> Ring::ReplicaShares(int rf) const {
  std::map<NodeId, double> shares;
  for (const auto& [node, tokens] : nodes_) shares[node] = 0.0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    Token prev = entries_[(i + entries_.size() - 1) % entries_.size()].first;
    double size =
        static_cast<double>(RangeSize(prev, entries_[i].first, entries_.size()) / kTokenSpace);
    for (NodeId node : PreferenceList(entries_[i].first, rf)) shares[node] += size;
  }
  return shares;
}

std::vector<Token> Ring::HashTokens(std::string_view name, int count) {
  std::vector<Token> out;
  std::set<Token> seen;
  for (int i = 0; static_cast<int>(out.size()) < count; ++i) {
    Token t = TokenOf(std::string(name) + "/" + std::to_string(i));
    if (seen.insert(t).second) out.push_back(t);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Greedy balancing with joiner-dependent choices (the contract is in ring.h). The joiner's fair
// share is 1/(n+1) of the space. Each of its `count` tokens takes a slice at the low end of one
// range of a donor: the donor is the node furthest above the fair share, and the range its
// largest, each score scaled by a jitter drawn from (name, k, candidate), so joiners that
// allocate from the same view mostly pick different ranges. The slice is the joiner's remaining
// quota, at most the donor's excess, scaled by a jitter of its own and kept inside the middle of
// the range, so even two joiners that split one range cut it at different points, both away
// from its ends.
std::vector<Token> Ring::AllocateTokens(std::string_view name, int count) const {
  if (entries_.empty()) return HashTokens(name, count);
  const NodeId self = NodeIdFromName(name);
  const uint64_t name_hash = TokenOf(name);
  std::vector<std::pair<Token, NodeId>> work = entries_;
  std::map<NodeId, long double> share;
  for (size_t i = 0; i < work.size(); ++i) {
    Token prev = work[(i + work.size() - 1) % work.size()].first;
    share[work[i].second] += RangeSize(prev, work[i].first, work.size());
  }
  share.erase(self);  // a ring that already places the joiner: its old tokens donate like others
  const long double target = kTokenSpace / static_cast<long double>(share.size() + 1);
  long double mine = 0;
  std::vector<Token> out;
  for (int k = 0; k < count; ++k) {
    const uint64_t round = Mix(name_hash ^ Mix(static_cast<uint64_t>(k) + 1));
    // The donor: the largest excess, jittered.
    NodeId donor = 0;
    long double excess = 0, best_score = 0;
    bool found = false;
    for (const auto& [node, s] : share) {
      const long double e = s - target;
      const long double score = e > 0 ? e * (1 + kDonorJitter * Unit(round ^ node)) : e;
      if (!found || score > best_score) donor = node, excess = e, best_score = score, found = true;
    }
    // Its largest range, jittered (a donor whose ranges are all of one token is skipped below).
    size_t best = 0;
    long double best_size = 0, best_range_score = -1;
    for (size_t i = 0; i < work.size(); ++i) {
      if (work[i].second != donor) continue;
      const long double size =
          RangeSize(work[(i + work.size() - 1) % work.size()].first, work[i].first, work.size());
      const long double score = size * (1 + kRangeJitter * Unit(round ^ Mix(work[i].first)));
      if (score > best_range_score) best = i, best_size = size, best_range_score = score;
    }
    const long double quota = std::max<long double>((target - mine) / (count - k), 1);
    long double take = std::min(quota, std::max<long double>(excess, 1));
    // The slice as a fraction of the range, kept in the middle, then jittered towards the
    // middle's low end (after the clamp, so that clamped slices of two joiners differ too).
    long double fraction = std::clamp(take / std::max<long double>(best_size, 1), kSliceFractionMin,
                                      kSliceFractionMax);
    fraction -= (fraction - kSliceFractionFloor) * kSliceJitter * Unit(Mix(round ^ kSliceSalt));
    const Token prev = work[(best + work.size() - 1) % work.size()].first;
    Token t = prev + static_cast<Token>(std::max<long double>(fraction * best_size, 1));
    // Never a token already on the ring (ours or another's): ties would leave one owner empty.
    auto taken = [&](Token x) {
      auto it = std::lower_bound(work.begin(), work.end(), std::make_pair(x, NodeId{0}));
      return it != work.end() && it->first == x;
    };
    while (taken(t)) ++t;
    out.push_back(t);
    share[donor] -= static_cast<long double>(t - prev);
    mine += static_cast<long double>(t - prev);
    auto entry = std::make_pair(t, self);
    work.insert(std::upper_bound(work.begin(), work.end(), entry), entry);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace causeway::cluster
