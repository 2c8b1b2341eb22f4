// Ring: consistent hashing with virtual nodes (docs/design.md, "Ring").
//
// Each node owns a few tokens on the 64-bit ring. Token t of node n makes n the primary of the
// range (previous token, t]; a key belongs to the range holding TokenOf(key). The preference list
// of a key is the first rf distinct nodes met clockwise from its token. Ties between equal tokens
// of two nodes are broken by node id, so every node that holds the same view computes the same
// list.
//
// Token allocation (AllocateTokens) is deterministic given the ring and the joiner: with an empty
// ring the tokens are hashes of (name, i); otherwise each new token takes part of a range of the
// node that is furthest above its fair share, so shares stay balanced as nodes join one by one.
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

  // Tokens for a node named `name` joining this ring. Deterministic in (ring, name, count).
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
