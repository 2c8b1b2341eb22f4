// Engine::RemoveOutside (docs/operations.md, "Cleanup") on real RocksDB: keys whose token is
// outside the kept spans go (and stay gone after a restart), keys inside stay with their winners,
// the counts are exact, and the anti-entropy tree, queried before the cleanup, still equals a fresh
// rebuild from the data after it.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "base/strings.h"
#include "engine/engine.h"
#include "engine/internal/aae_tree.h"
#include "support/temp_dir.h"

namespace causeway {
namespace {

using internal::AaeTree;
using testing::TempDir;

Version MakeVersion(Hlc ts, NodeId writer, std::string value, bool tombstone = false) {
  Version v;
  v.timestamp = ts;
  v.writer = writer;
  v.vv.Advance(writer, ts);
  v.tombstone = tombstone;
  if (!tombstone) v.value = std::move(value);
  return v;
}

std::unique_ptr<Engine> OpenEngine(const std::string& dir) {
  EngineOptions o;
  o.dir = dir;
  o.sync = SyncMode::kNone;
  o.block_cache_bytes = 8 << 20;
  o.periodic_sync_ms = kSyncerOffPeriodMs;
  o.disk_reserve_bytes = 0;
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(*e) : nullptr;
}

std::vector<uint64_t> Segments(Engine* e) {
  Result<std::vector<uint64_t>> h = e->AaeSegmentHashes(0, kAaeSegments);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? *h : std::vector<uint64_t>();
}

std::vector<uint64_t> RebuiltFromScan(Engine* e) {
  std::vector<uint64_t> segments(kAaeSegments, 0);
  Status s = e->ScanTokenRange(0, 0, [&](std::string_view key, const Version& v) {
    segments[AaeTree::SegmentOf(TokenOf(key))] ^=
        AaeTree::EntryHash(key, v.timestamp, v.writer, v.tombstone);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return segments;
}

std::set<std::string> ScannedKeys(Engine* e) {
  std::set<std::string> keys;
  Status s = e->ScanTokenRange(0, 0, [&](std::string_view key, const Version&) {
    keys.emplace(key);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return keys;
}

bool InAny(const std::vector<TokenSpan>& spans, Token t) {
  for (const TokenSpan& s : spans) {
    if (s.Contains(t)) return true;
  }
  return false;
}

// Goal: after RemoveOutside(keep), exactly the keys inside `keep` remain (values and tombstones,
// each with its winner), the reported counts are those of the removed keys, the tree (built before
// the cleanup) equals a rebuild from the data, and a restart changes none of it.
TEST(EngineCleanup, RemovesKeysOutsideKeptSpansOnly) {
  TempDir dir;
  auto e = OpenEngine(dir.path());
  ASSERT_NE(e, nullptr);
  // Kept: the bottom of the ring (from token 0), two middle spans, not the top.
  const Token q = ~Token{0} / 8;
  const std::vector<TokenSpan> keep = {{0, q}, {3 * q, 4 * q}, {5 * q + 7, 6 * q}};
  std::map<std::string, Version> winners;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 3000; ++i) {
    const std::string key = StrCat("key", i);
    const bool tombstone = i % 10 == 0;
    Version v = MakeVersion(1000 + i, 1 + i % 3, StrCat("v", i), tombstone);
    ASSERT_TRUE(e->Apply(key, v).ok());
    if (i % 7 == 0) {  // a second, newer version: the winner is a merge of two operands
      v = MakeVersion(100000 + i, 2, StrCat("w", i));
      ASSERT_TRUE(e->Apply(key, v).ok());
    }
    winners[key] = v;
  }
  ASSERT_TRUE(e->CompactData().ok());  // some keys in SSTs, some (below) in the memtable
  for (int i = 3000; i < 3500; ++i) {
    Version v = MakeVersion(1000 + i, 1, StrCat("v", i));
    ASSERT_TRUE(e->Apply(StrCat("key", i), v).ok());
    winners[StrCat("key", i)] = v;
  }
  (void)Segments(e.get());  // the whole tree is clean now: the cleanup must mark what it removes

  uint64_t outside = 0;
  for (const auto& [key, v] : winners) outside += InAny(keep, TokenOf(key)) ? 0 : 1;
  ASSERT_GT(outside, 0u);
  ASSERT_LT(outside, winners.size());

  Result<CleanupResult> r = e->RemoveOutside(keep);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->keys, outside);
  EXPECT_GT(r->bytes, outside * 8);
  EXPECT_TRUE(r->compaction.ok()) << r->compaction.ToString();

  auto check = [&](Engine* engine) {
    for (const auto& [key, v] : winners) {
      Result<std::optional<Version>> got = engine->Get(key);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      if (InAny(keep, TokenOf(key))) {
        ASSERT_TRUE(got->has_value()) << key;
        EXPECT_TRUE((*got)->SameDot(v)) << key;
      } else {
        EXPECT_FALSE(got->has_value()) << key << " token " << TokenOf(key);
      }
    }
    EXPECT_EQ(ScannedKeys(engine).size(), winners.size() - outside);
    EXPECT_EQ(Segments(engine), RebuiltFromScan(engine));
  };
  check(e.get());
  // A second cleanup finds nothing left to remove.
  Result<CleanupResult> again = e->RemoveOutside(keep);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->keys, 0u);
  e.reset();
  e = OpenEngine(dir.path());
  ASSERT_NE(e, nullptr);
  check(e.get());
}

// Goal: keeping the whole ring removes nothing, and spans that are empty, overlapping, out of
// order, or no spans at all are refused (kInvalidArgument) without touching a key.
TEST(EngineCleanup, KeepsEverythingOrRefusesBadSpans) {
  TempDir dir;
  auto e = OpenEngine(dir.path());
  ASSERT_NE(e, nullptr);
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(e->Apply(StrCat("k", i), MakeVersion(10 + i, 1, "v")).ok());
  Result<CleanupResult> all = e->RemoveOutside({{0, ~Token{0}}});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->keys, 0u);
  for (const std::vector<TokenSpan>& bad :
       {std::vector<TokenSpan>{}, std::vector<TokenSpan>{{10, 5}},
        std::vector<TokenSpan>{{0, 100}, {50, 200}}, std::vector<TokenSpan>{{500, 600}, {0, 10}}}) {
    Result<CleanupResult> r = e->RemoveOutside(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().ToString();
  }
  EXPECT_EQ(ScannedKeys(e.get()).size(), 200u);
}

}  // namespace
}  // namespace causeway
