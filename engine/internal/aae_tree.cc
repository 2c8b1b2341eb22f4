#include "engine/internal/aae_tree.h"

#include <xxhash.h>

#include <bit>
#include <cstring>

#include "base/assert.h"

namespace causeway::internal {

namespace {

void PutLe64(uint64_t v, unsigned char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(v >> (8 * i));
}

// Bits [from, to) of a 64-bit word, from <= to <= 64.
uint64_t BitMask(unsigned from, unsigned to) {
  const uint64_t upto = to == 64 ? ~uint64_t{0} : (uint64_t{1} << to) - 1;
  return upto & ~((uint64_t{1} << from) - 1);
}

}  // namespace

uint64_t AaeTree::EntryHash(std::string_view key, Hlc timestamp, NodeId writer, bool tombstone) {
  unsigned char fields[17];
  PutLe64(timestamp, fields);
  PutLe64(writer, fields + 8);
  fields[16] = tombstone ? 1 : 0;
  return XXH3_64bits_withSeed(fields, sizeof(fields), XXH3_64bits(key.data(), key.size()));
}

AaeTree::AaeTree()
    : segments_(kAaeSegments, 0),
      branches_(kAaeBranches, 0),
      dirty_(std::make_unique<std::atomic<uint64_t>[]>(kDirtyWords)) {
  MarkAllDirty();
}

void AaeTree::MarkDirty(AaeSegment segment) {
  CW_ASSERT(segment < kAaeSegments, "segment out of range");
  dirty_[segment / 64].fetch_or(uint64_t{1} << (segment % 64), std::memory_order_seq_cst);
}

void AaeTree::MarkAllDirty() {
  for (size_t i = 0; i < kDirtyWords; ++i) dirty_[i].store(~uint64_t{0}, std::memory_order_seq_cst);
}

bool AaeTree::IsDirty(AaeSegment segment) const {
  CW_ASSERT(segment < kAaeSegments, "segment out of range");
  return (dirty_[segment / 64].load(std::memory_order_seq_cst) >> (segment % 64) & 1) != 0;
}

size_t AaeTree::DirtyCount() const {
  size_t count = 0;
  for (size_t i = 0; i < kDirtyWords; ++i) {
    count += static_cast<size_t>(std::popcount(dirty_[i].load(std::memory_order_relaxed)));
  }
  return count;
}

std::vector<AaeSegment> AaeTree::TakeDirty(AaeSegment seg_begin, AaeSegment seg_end) {
  CW_ASSERT(seg_begin <= seg_end && seg_end <= kAaeSegments, "bad segment range");
  std::vector<AaeSegment> taken;
  for (AaeSegment word = seg_begin / 64; word * 64 < seg_end; ++word) {
    const unsigned from = word * 64 < seg_begin ? seg_begin % 64 : 0;
    const unsigned to = (word + 1) * 64 > seg_end ? seg_end % 64 : 64;
    const uint64_t mask = BitMask(from, to);
    if ((dirty_[word].load(std::memory_order_relaxed) & mask) == 0) continue;
    uint64_t bits = dirty_[word].fetch_and(~mask, std::memory_order_seq_cst) & mask;
    while (bits != 0) {
      taken.push_back(word * 64 + static_cast<AaeSegment>(std::countr_zero(bits)));
      bits &= bits - 1;
    }
  }
  return taken;
}

void AaeTree::SetSegment(AaeSegment segment, uint64_t hash) {
  CW_ASSERT(segment < kAaeSegments, "segment out of range");
  branches_[segment / kAaeSegmentsPerBranch] ^= segments_[segment] ^ hash;
  segments_[segment] = hash;
}

uint64_t AaeTree::RangeRoot(AaeSegment seg_begin, AaeSegment seg_end) const {
  CW_ASSERT(seg_begin <= seg_end && seg_end <= kAaeSegments, "bad segment range");
  uint64_t root = 0;
  AaeSegment s = seg_begin;
  for (; s < seg_end && s % kAaeSegmentsPerBranch != 0; ++s) root ^= segments_[s];
  for (; s + kAaeSegmentsPerBranch <= seg_end; s += kAaeSegmentsPerBranch) {
    root ^= branches_[s / kAaeSegmentsPerBranch];
  }
  for (; s < seg_end; ++s) root ^= segments_[s];
  return root;
}

std::vector<uint64_t> AaeTree::BranchHashes(uint32_t branch_begin, uint32_t branch_end) const {
  CW_ASSERT(branch_begin <= branch_end && branch_end <= kAaeBranches, "bad branch range");
  return {branches_.begin() + branch_begin, branches_.begin() + branch_end};
}

std::vector<uint64_t> AaeTree::SegmentHashes(AaeSegment seg_begin, AaeSegment seg_end) const {
  CW_ASSERT(seg_begin <= seg_end && seg_end <= kAaeSegments, "bad segment range");
  return {segments_.begin() + seg_begin, segments_.begin() + seg_end};
}

}  // namespace causeway::internal
