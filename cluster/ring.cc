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

// Greedy balancing: the joiner's fair share is 1/(n+1) of the space. Each of its `count` tokens
// takes a slice from the node furthest above that share, at the low end of that node's largest
// range, never more than the donor's excess, so no donor drops below the fair share.
std::vector<Token> Ring::AllocateTokens(std::string_view name, int count) const {
  if (entries_.empty()) return HashTokens(name, count);
  const NodeId self = NodeIdFromName(name);
  std::vector<std::pair<Token, NodeId>> work = entries_;
  std::map<NodeId, long double> share;
  for (size_t i = 0; i < work.size(); ++i) {
    Token prev = work[(i + work.size() - 1) % work.size()].first;
    share[work[i].second] += RangeSize(prev, work[i].first, work.size());
  }
  const long double target = kTokenSpace / static_cast<long double>(share.size() + 1);
  long double mine = 0;
  std::vector<Token> out;
  for (int k = 0; k < count; ++k) {
    // The donor: the node with the largest excess (map order breaks ties by id).
    NodeId donor = 0;
    long double excess = -1;
    for (const auto& [node, s] : share) {
      if (node != self && s - target > excess) donor = node, excess = s - target;
    }
    // Its largest range.
    size_t best = 0;
    long double best_size = -1;
    for (size_t i = 0; i < work.size(); ++i) {
      if (work[i].second != donor) continue;
      long double size =
          RangeSize(work[(i + work.size() - 1) % work.size()].first, work[i].first, work.size());
      if (size > best_size) best = i, best_size = size;
    }
    long double quota = std::max<long double>((target - mine) / (count - k), 1);
    long double take = std::min({quota, std::max<long double>(excess, 1), best_size - 1});
    if (take < 1) take = best_size / 2;
    Token prev = work[(best + work.size() - 1) % work.size()].first;
    Token t = prev + static_cast<Token>(take);
    out.push_back(t);
    share[donor] -= take;
    mine += take;
    auto entry = std::make_pair(t, self);
    work.insert(std::upper_bound(work.begin(), work.end(), entry), entry);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace causeway::cluster
