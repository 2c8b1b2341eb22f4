// Table tests of the anti-entropy tree on its own (engine/internal/aae_tree.h): no RocksDB.
#include "engine/internal/aae_tree.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace causeway::internal {
namespace {

TEST(AaeTree, SegmentIsTheTopBitsOfTheToken) {
  // Goal: a segment is a contiguous token interval, first and last tokens included, and the
  // segments tile the ring.
  EXPECT_EQ(AaeTree::SegmentOf(0), 0u);
  EXPECT_EQ(AaeTree::SegmentOf(~Token{0}), kAaeSegments - 1);
  for (AaeSegment s : {0u, 1u, 255u, 256u, kAaeSegments - 1}) {
    EXPECT_EQ(AaeTree::SegmentOf(AaeTree::SegmentFirstToken(s)), s);
    EXPECT_EQ(AaeTree::SegmentOf(AaeTree::SegmentLastToken(s)), s);
    if (s + 1 < kAaeSegments) {
      EXPECT_EQ(AaeTree::SegmentLastToken(s) + 1, AaeTree::SegmentFirstToken(s + 1));
    }
  }
  EXPECT_EQ(AaeTree::SegmentLastToken(kAaeSegments - 1), ~Token{0});
}

TEST(AaeTree, EntryHashCoversEveryField) {
  // Goal: key, timestamp, writer and tombstone flag each change the entry's hash; equal inputs
  // give equal hashes (it is compared across nodes).
  const uint64_t h = AaeTree::EntryHash("k", 100, 1, false);
  EXPECT_EQ(h, AaeTree::EntryHash("k", 100, 1, false));
  EXPECT_NE(h, AaeTree::EntryHash("k2", 100, 1, false));
  EXPECT_NE(h, AaeTree::EntryHash("k", 101, 1, false));
  EXPECT_NE(h, AaeTree::EntryHash("k", 100, 2, false));
  EXPECT_NE(h, AaeTree::EntryHash("k", 100, 1, true));
  EXPECT_NE(AaeTree::EntryHash("", 0, 0, false), 0u);
}

TEST(AaeTree, NewTreeIsAllDirtyAndTakeDirtyClearsExactlyTheRange) {
  // Goal: a fresh tree must be rebuilt entirely; TakeDirty returns and clears only the bits of
  // its half-open range, including ranges that start and end inside a bitmap word.
  AaeTree tree;
  EXPECT_EQ(tree.DirtyCount(), kAaeSegments);
  std::vector<AaeSegment> taken = tree.TakeDirty(3, 70);
  ASSERT_EQ(taken.size(), 67u);
  EXPECT_EQ(taken.front(), 3u);
  EXPECT_EQ(taken.back(), 69u);
  EXPECT_TRUE(tree.IsDirty(2));
  EXPECT_FALSE(tree.IsDirty(3));
  EXPECT_FALSE(tree.IsDirty(69));
  EXPECT_TRUE(tree.IsDirty(70));
  EXPECT_EQ(tree.DirtyCount(), kAaeSegments - 67);
  EXPECT_TRUE(tree.TakeDirty(3, 70).empty());
  EXPECT_TRUE(tree.TakeDirty(5, 5).empty());
  tree.MarkDirty(40);
  EXPECT_EQ(tree.TakeDirty(0, kAaeSegments).size(), kAaeSegments - 67 + 1);
  EXPECT_EQ(tree.DirtyCount(), 0u);
  tree.MarkAllDirty();
  EXPECT_EQ(tree.DirtyCount(), kAaeSegments);
}

TEST(AaeTree, RootsAndBranchesAreTheXorOfTheirSegments) {
  // Goal: RangeRoot over any range (aligned to branches or not) equals the XOR of its segment
  // hashes, branch hashes follow every SetSegment (including overwrites), and one changed segment
  // changes exactly its branch and every root that covers it.
  AaeTree tree;
  std::mt19937_64 rng(7);
  std::vector<uint64_t> model(kAaeSegments, 0);
  for (int i = 0; i < 20000; ++i) {
    const auto s = static_cast<AaeSegment>(rng() % kAaeSegments);
    model[s] = rng();
    tree.SetSegment(s, model[s]);
  }
  auto xor_of = [&](AaeSegment b, AaeSegment e) {
    uint64_t x = 0;
    for (AaeSegment s = b; s < e; ++s) x ^= model[s];
    return x;
  };
  for (auto [b, e] : std::vector<std::pair<AaeSegment, AaeSegment>>{
           {0, kAaeSegments}, {0, 0}, {5, 6}, {255, 257}, {256, 512}, {17, 60000}, {1000, 1000}}) {
    EXPECT_EQ(tree.RangeRoot(b, e), xor_of(b, e)) << b << ".." << e;
  }
  std::vector<uint64_t> branches = tree.BranchHashes(0, kAaeBranches);
  ASSERT_EQ(branches.size(), kAaeBranches);
  for (uint32_t br = 0; br < kAaeBranches; ++br) {
    EXPECT_EQ(branches[br], xor_of(br * kAaeSegmentsPerBranch, (br + 1) * kAaeSegmentsPerBranch));
  }
  EXPECT_EQ(tree.SegmentHashes(10, 13), (std::vector<uint64_t>{model[10], model[11], model[12]}));

  const uint64_t root = tree.RangeRoot(0, kAaeSegments);
  tree.SetSegment(300, model[300] ^ 0x5a5a);
  std::vector<uint64_t> after = tree.BranchHashes(0, kAaeBranches);
  for (uint32_t br = 0; br < kAaeBranches; ++br) {
    EXPECT_EQ(after[br] != branches[br], br == 300 / kAaeSegmentsPerBranch) << br;
  }
  EXPECT_NE(tree.RangeRoot(0, kAaeSegments), root);
  EXPECT_EQ(tree.RangeRoot(0, 300), xor_of(0, 300));
  EXPECT_EQ(tree.RangeRoot(301, kAaeSegments), xor_of(301, kAaeSegments));
}

}  // namespace
}  // namespace causeway::internal
