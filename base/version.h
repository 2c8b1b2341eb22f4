// The versioned value: what every replica stores for a key, and the rules that order versions.
//
// A version's identity is its dot (writer, timestamp): the writer's node id and the HLC timestamp
// it was stamped with. HLC timestamps strictly increase per node, so a dot is unique and the HLC
// doubles as the dot's counter.
//
// Two orders, on purpose (docs/design.md, "LWW and version vectors"):
//  * Which version wins is decided by LastWriteWins(): the larger (timestamp, writer) pair. It is
//    a total order, so replicas converge whatever order versions arrive in.
//  * Whether the loser was *overwritten* (causally older) or *lost a race* (concurrent) is decided
//    by the version vectors. A writer's coordinator advances its HLC past every version its
//    causal context covers, so "A covers B" implies A's timestamp is larger: the two orders agree
//    whenever causality is known, and the vectors only add detection and counting.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace causeway {

using NodeId = uint64_t;
using Hlc = uint64_t;  // (physical ms << kHlcLogicalBits) | logical; see base/hlc.h

// Node id from the operator's name for the node ("n1"): a stable 64-bit hash, never 0.
NodeId NodeIdFromName(std::string_view name);

// node -> highest counter (an HLC timestamp) of that node's writes this version has seen.
// Entries are kept sorted by node id; at most kVersionVectorEntriesMax of them.
class VersionVector {
 public:
  using Entry = std::pair<NodeId, uint64_t>;

  uint64_t Get(NodeId node) const;  // 0 if absent
  // Raises node's counter to at least `counter`.
  void Advance(NodeId node, uint64_t counter);
  // Pointwise maximum.
  void MergeFrom(const VersionVector& other);
  // True if this vector has seen the write identified by the dot (node, counter).
  bool Covers(NodeId node, uint64_t counter) const { return Get(node) >= counter; }
  // Drops the entries with the smallest counters until at most `max_entries` remain, but never
  // the entry of `keep` (a version's own dot).
  void Truncate(size_t max_entries, NodeId keep);

  const std::vector<Entry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  bool operator==(const VersionVector&) const = default;

 private:
  std::vector<Entry> entries_;
};

struct Version {
  Hlc timestamp = 0;
  NodeId writer = 0;
  VersionVector vv;  // causal context, including this version's own dot (writer, timestamp)
  bool tombstone = false;
  std::string value;  // empty for tombstones

  // Same write (same dot). Two versions with the same dot carry the same value by construction.
  bool SameDot(const Version& o) const { return timestamp == o.timestamp && writer == o.writer; }
};

// The LWW order: true if `a` beats `b`. Total: exactly one of a>b, b>a, a.SameDot(b) holds.
inline bool LastWriteWins(const Version& a, const Version& b) {
  return a.timestamp != b.timestamp ? a.timestamp > b.timestamp : a.writer > b.writer;
}

enum class Causality {
  kSame,        // same dot
  kAfter,       // a's context covers b's dot: a happened after b
  kBefore,      // b's context covers a's dot
  kConcurrent,  // neither covers the other: a race, resolved by LWW and counted
};
Causality CompareCausality(const Version& a, const Version& b);

// Checks a version that came from outside (client or peer) against the limits.
Status ValidateKey(std::string_view key);
Status ValidateVersion(const Version& v);

}  // namespace causeway
