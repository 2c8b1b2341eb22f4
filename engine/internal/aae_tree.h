// AaeTree: one node's anti-entropy hash tree over the whole token space (docs/design.md,
// "Anti-entropy trees"), in the spirit of Riak's Tictac AAE. Plain data, no RocksDB.
//
// Layout: kAaeSegments segments; a token's segment is its top kAaeSegmentBits bits, so a token
// range is a contiguous run of segments. A segment's hash is the XOR over the keys in it of
// EntryHash(key, winner's timestamp, writer, tombstone): it depends only on the set of (key,
// winning version) pairs, never on the history that produced them. A branch's hash is the XOR of
// its kAaeSegmentsPerBranch segments, a range root the XOR of its segments. XOR makes every level
// combinable (a range root from branches and segments) at the price of a 2^-64 chance that two
// differing segments cancel in a root; segment hashes still tell them apart.
//
// Exactness without a read before write: the engine's Apply is a RocksDB merge and does not know
// the key's previous winner, so it cannot XOR out the old entry. Instead Apply marks the key's
// segment dirty (one atomic OR); a hash query first recomputes the dirty segments it covers by
// scanning just their token ranges (the engine does that; this class only keeps the bits). The
// protocol that keeps a concurrent Apply from being missed: Apply marks *after* its write is
// visible; a refresh clears the bits (TakeDirty) *before* it opens its iterator. A write the
// iterator does not see therefore marks its segment again, after the clear.
//
// A new tree has every segment dirty: nothing is persisted, so after any restart (clean or a
// power loss) the first query of a range rebuilds it from the data itself.
//
// Thread safety: MarkDirty, MarkAllDirty, TakeDirty, IsDirty and DirtyCount are lock-free and may
// be called from any thread. Everything else (SetSegment and the hash getters) must be
// serialised by the caller (the engine holds one mutex around refresh-and-read).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "base/limits.h"
#include "base/token.h"
#include "base/version.h"

namespace causeway::internal {

using AaeSegment = uint32_t;

class AaeTree {
 public:
  // Compared across nodes (docs/formats.md, "Anti-entropy hashes"): never change it.
  // XXH3-64 (seed: XXH3-64 of the key) of timestamp(8 LE) + writer(8 LE) + tombstone(1).
  static uint64_t EntryHash(std::string_view key, Hlc timestamp, NodeId writer, bool tombstone);

  static constexpr AaeSegment SegmentOf(Token token) {
    return static_cast<AaeSegment>(token >> (64 - kAaeSegmentBits));
  }
  static constexpr Token SegmentFirstToken(AaeSegment segment) {
    return Token{segment} << (64 - kAaeSegmentBits);
  }
  // The last token of the segment (inclusive: the last segment ends at the top of the ring).
  static constexpr Token SegmentLastToken(AaeSegment segment) {
    return SegmentFirstToken(segment) | ((Token{1} << (64 - kAaeSegmentBits)) - 1);
  }

  AaeTree();  // every segment dirty, every hash 0

  // ---- dirty bits (lock-free) ----
  void MarkDirty(AaeSegment segment);
  void MarkAllDirty();
  bool IsDirty(AaeSegment segment) const;
  size_t DirtyCount() const;
  // Clears the dirty bits of [seg_begin, seg_end) and returns the segments that were set, in
  // order. The caller must recompute them or MarkDirty them again.
  std::vector<AaeSegment> TakeDirty(AaeSegment seg_begin, AaeSegment seg_end);

  // ---- hashes (caller serialises) ----
  // Requires segment < kAaeSegments; keeps the branch hash in step.
  void SetSegment(AaeSegment segment, uint64_t hash);
  uint64_t Segment(AaeSegment segment) const { return segments_[segment]; }
  // Ranges are half-open, seg_begin <= seg_end <= kAaeSegments (branches: <= kAaeBranches).
  uint64_t RangeRoot(AaeSegment seg_begin, AaeSegment seg_end) const;
  std::vector<uint64_t> BranchHashes(uint32_t branch_begin, uint32_t branch_end) const;
  std::vector<uint64_t> SegmentHashes(AaeSegment seg_begin, AaeSegment seg_end) const;

 private:
  static constexpr size_t kDirtyWords = kAaeSegments / 64;
  std::vector<uint64_t> segments_;
  std::vector<uint64_t> branches_;
  std::unique_ptr<std::atomic<uint64_t>[]> dirty_;
};

}  // namespace causeway::internal
