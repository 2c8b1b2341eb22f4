// Ring: consistent hashing with virtual nodes (docs/design.md, "Ring").
//
// Each node owns a few tokens on the 64-bit ring. Token t of node n makes n the primary of the
// range (previous token, t]; a key belongs to the range holding TokenOf(key). The preference list
// of a key is the first rf distinct nodes met clockwise from its token. Ties between equal tokens
// of two nodes are broken by node id, so every node that holds the same view computes the same
// list.
//
// Token allocation (AllocateTokens) is deterministic in (ring, name, count): with an empty ring
// the tokens are hashes of (name, i); otherwise each new token takes a slice at the low end of a
// range of the node furthest above its fair share, so shares stay balanced as nodes join one by
// one. Joiners that allocate from the same or a stale view (concurrent joins) do not see each
// other, so every choice also depends on the joiner's name: the donor's and the range's scores
// are scaled by a jitter drawn from (name, i, candidate), and the slice, kept between 1/64 and
// 31/32 of its range, by one of its own. Guarantees:
//  - a token already on the ring is never chosen, and joiners with different names choose
//    different split points even in one range (they coincide only on a 64-bit hash collision),
//    so no two nodes share a token and every node is primary for part of the ring, however many
//    allocate at once from one view;
//  - balance (tests/cluster/ring_test.cc, 100 nodes x 16 tokens, 20 seeds each): primary share
//    max/mean < 1.25 and min/mean >= 0.5 whether joiners see each other, arrive in waves of up to
//    4 from one view, or miss up to the last 4 joiners. Larger waves from one view overlap
//    their slices and lose balance (never ownership); NodeCore allocates its whole join cohort
//    in one view to avoid them.
//
// A plain value; not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/token.h"
#include "base/version.h"

namespace causeway::cluster {

class Ring {
 public:
  // Replaces the tokens of `node` (an empty list removes it).
  void SetNode(NodeId node, std::vector<Token> tokens);
  void RemoveNode(NodeId node);
  // Replaces the whole ring at once (one rebuild instead of one per node).
  void Assign(std::map<NodeId, std::vector<Token>> nodes);
  bool Contains(NodeId node) const { return nodes_.count(node) != 0; }
  size_t node_count() const { return nodes_.size(); }
  bool empty() const { return entries_.empty(); }

  // The first `rf` distinct nodes clockwise from `token` (fewer if the ring has fewer nodes).
  std::vector<NodeId> PreferenceList(Token token, int rf) const;

  // Fraction of the token space each node is primary for (sums to 1 for a non-empty ring).
  std::map<NodeId, double> PrimaryShares() const;
  // Fraction of the token space each node holds a replica of with replication factor rf
  // (sums to min(rf, nodes)).
  std::map<NodeId, double> ReplicaShares(int rf) const;

  // The ring cut into arcs that each have one preference list: spans that never wrap (the arc
  // across the top of the ring is two), in token order, covering the whole ring once. Empty for
  // an empty ring.
  struct Arc {
    TokenSpan span;
    std::vector<NodeId> replicas;  // PreferenceList of every token in the span
  };
  std::vector<Arc> ReplicaArcs(int rf) const;

  // `count` distinct tokens, none already on this ring, for a node named `name` joining it
  // (the algorithm and its guarantees are above). Deterministic in (ring, name, count).
  std::vector<Token> AllocateTokens(std::string_view name, int count) const;
  // The empty-view allocation: hashes of (name, i), distinct.
  static std::vector<Token> HashTokens(std::string_view name, int count);

 private:
  void Rebuild();
  void Update(const std::vector<NodeId>& changed);  // sorted ids whose tokens changed

  std::map<NodeId, std::vector<Token>> nodes_;
  std::vector<std::pair<Token, NodeId>> entries_;  // sorted by (token, node)
};

}  // namespace causeway::cluster
