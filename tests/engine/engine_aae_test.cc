// The engine's anti-entropy tree on real RocksDB (docs/design.md, "Anti-entropy trees"): equal
// winners give equal trees whatever the history, one differing key changes one segment, the tree
// stays exact under concurrent Apply, and after a restart (clean or a power loss on the
// fault-injecting file system) it equals a fresh rebuild of what the data holds.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "base/strings.h"
#include "engine/engine.h"
#include "engine/internal/aae_tree.h"
#include "support/fault_fs.h"
#include "support/temp_dir.h"

namespace causeway {
namespace {

using internal::AaeSegment;
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

std::unique_ptr<Engine> OpenEngine(const std::string& dir, rocksdb::Env* env = nullptr,
                                   SyncMode mode = SyncMode::kNone) {
  EngineOptions o;
  o.dir = dir;
  o.sync = mode;
  o.block_cache_bytes = 8 << 20;
  o.env = env;
  o.periodic_sync_ms = kSyncerOffPeriodMs;  // the test syncs (SyncWal)
  o.disk_reserve_bytes = 0;
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(*e) : nullptr;
}

void MustApply(Engine* e, const std::string& key, const Version& v) {
  Result<ApplyResult> r = e->Apply(key, v);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

std::vector<uint64_t> Segments(Engine* e) {
  Result<std::vector<uint64_t>> h = e->AaeSegmentHashes(0, kAaeSegments);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? *h : std::vector<uint64_t>();
}

uint64_t Root(Engine* e, Token begin, Token end) {
  Result<uint64_t> r = e->AaeRangeRoot(begin, end);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : 0;
}

// The tree a full scan of the data gives: what a rebuild from nothing must produce.
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

uint64_t ScannedRoot(Engine* e, Token begin, Token end) {
  uint64_t root = 0;
  Status s = e->ScanTokenRange(begin, end, [&](std::string_view key, const Version& v) {
    root ^= AaeTree::EntryHash(key, v.timestamp, v.writer, v.tombstone);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return root;
}

TEST(EngineAae, SameWinnersThroughDifferentHistoriesGiveEqualTrees) {
  // Goal: two replicas that hold the same winners agree on every segment, branch and root, though
  // one got only the winners and the other every version in shuffled order, with duplicates,
  // overwrites, tombstones and resurrections, and a flush/compaction in the middle.
  TempDir tmp;
  auto a = OpenEngine(tmp.Sub("a"));
  auto b = OpenEngine(tmp.Sub("b"));
  std::mt19937_64 rng(11);
  std::map<std::string, Version> winners;
  std::vector<std::pair<std::string, Version>> history;
  for (int k = 0; k < 3000; ++k) {
    const std::string key = StrCat("key", k);
    const int versions = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < versions; ++i) {
      Version v = MakeVersion(1000 + rng() % 100000, 1 + rng() % 3, StrCat("v", i), rng() % 5 == 0);
      history.emplace_back(key, v);
      if (rng() % 4 == 0) history.emplace_back(key, v);  // a duplicate
      auto it = winners.find(key);
      if (it == winners.end() || LastWriteWins(v, it->second)) winners[key] = v;
    }
  }
  std::shuffle(history.begin(), history.end(), rng);
  for (size_t i = 0; i < history.size(); ++i) {
    MustApply(a.get(), history[i].first, history[i].second);
    if (i == history.size() / 2) {
      ASSERT_TRUE(a->CompactData().ok());
      Segments(a.get());  // a refresh halfway: later writes must dirty their segments again
    }
  }
  for (const auto& [key, v] : winners) MustApply(b.get(), key, v);

  EXPECT_EQ(Segments(a.get()), Segments(b.get()));
  EXPECT_EQ(*a->AaeBranchHashes(0, kAaeBranches), *b->AaeBranchHashes(0, kAaeBranches));
  EXPECT_EQ(Root(a.get(), 0, 0), Root(b.get(), 0, 0));
  EXPECT_NE(Root(a.get(), 0, 0), 0u);
  EXPECT_EQ(Segments(a.get()), RebuiltFromScan(a.get()));
  for (int i = 0; i < 20; ++i) {
    const Token begin = rng(), end = rng();
    EXPECT_EQ(Root(a.get(), begin, end), Root(b.get(), begin, end));
  }
}

TEST(EngineAae, OneDifferingKeyChangesExactlyOneSegmentAndTheRootsAboveIt) {
  // Goal: a newer version of one key on one replica changes that key's segment and branch and
  // every root over a range holding its token, and nothing else; a range that excludes just that
  // token (boundaries inside its segment) still agrees.
  TempDir tmp;
  auto a = OpenEngine(tmp.Sub("a"));
  auto b = OpenEngine(tmp.Sub("b"));
  for (int k = 0; k < 2000; ++k) {
    const std::string key = StrCat("k", k);
    MustApply(a.get(), key, MakeVersion(100 + k, 1, "v"));
    MustApply(b.get(), key, MakeVersion(100 + k, 1, "v"));
  }
  const std::vector<uint64_t> before = Segments(b.get());
  const std::string key = "k777";
  const Token token = TokenOf(key);
  MustApply(b.get(), key, MakeVersion(5000, 2, "newer"));

  const std::vector<uint64_t> sa = Segments(a.get()), sb = Segments(b.get());
  for (uint32_t s = 0; s < kAaeSegments; ++s) {
    ASSERT_EQ(sa[s] != sb[s], s == AaeTree::SegmentOf(token)) << s;
    ASSERT_EQ(before[s], sa[s]) << s;
  }
  const std::vector<uint64_t> ba = *a->AaeBranchHashes(0, kAaeBranches);
  const std::vector<uint64_t> bb = *b->AaeBranchHashes(0, kAaeBranches);
  for (uint32_t br = 0; br < kAaeBranches; ++br) {
    EXPECT_EQ(ba[br] != bb[br], br == AaeTree::SegmentOf(token) / kAaeSegmentsPerBranch) << br;
  }
  EXPECT_NE(Root(a.get(), 0, 0), Root(b.get(), 0, 0));
  EXPECT_NE(Root(a.get(), token, token + 1), Root(b.get(), token, token + 1));
  EXPECT_NE(Root(a.get(), token - 12345, token + 99), Root(b.get(), token - 12345, token + 99));
  EXPECT_EQ(Root(a.get(), token + 1, token), Root(b.get(), token + 1, token));  // all but it
  EXPECT_EQ(Root(a.get(), token + 1, token + 1000), Root(b.get(), token + 1, token + 1000));
}

TEST(EngineAae, RangeRootEqualsAScanOfTheRange) {
  // Goal: AaeRangeRoot is exact for arbitrary token ranges: inside one segment, across segment
  // and branch boundaries, segment-aligned, wrapping, ending at 0, and the whole ring.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  for (int k = 0; k < 5000; ++k) {
    MustApply(e.get(), StrCat("r", k), MakeVersion(100 + k, 1, "v", k % 7 == 0));
  }
  std::mt19937_64 rng(3);
  std::vector<std::pair<Token, Token>> ranges = {
      {0, 0},
      {5, 5},
      {0, 1},
      {AaeTree::SegmentFirstToken(9), AaeTree::SegmentFirstToken(300)},
      {AaeTree::SegmentFirstToken(9), 0},
      {AaeTree::SegmentFirstToken(40000), 17},
      {AaeTree::SegmentLastToken(8), AaeTree::SegmentFirstToken(9) + 1}};
  for (int i = 0; i < 40; ++i) ranges.emplace_back(rng(), rng());
  for (int i = 0; i < 10; ++i) {
    const Token t = rng();
    ranges.emplace_back(t, t + (rng() >> 50));  // within a segment or two
  }
  for (const auto& [begin, end] : ranges) {
    EXPECT_EQ(Root(e.get(), begin, end), ScannedRoot(e.get(), begin, end)) << begin << " " << end;
  }
}

TEST(EngineAae, DigestsListExactlyTheKeysOfTheSegment) {
  // Goal: AaeSegmentDigests returns every key of the segment (tombstones too) with its winner's
  // dot, in token order, and no key of another segment; their hashes XOR to the segment hash.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  std::map<std::string, Version> winners;
  for (int k = 0; k < 200000 / 40; ++k) {
    const std::string key = StrCat("d", k);
    MustApply(e.get(), key, MakeVersion(100, 1, "old"));
    winners[key] = MakeVersion(200 + k, 2, "", k % 3 == 0);
    MustApply(e.get(), key, winners[key]);
  }
  const AaeSegment segment = AaeTree::SegmentOf(TokenOf("d42"));
  std::set<std::string> expected;
  for (const auto& [key, v] : winners) {
    if (AaeTree::SegmentOf(TokenOf(key)) == segment) expected.insert(key);
  }
  std::set<std::string> listed;
  uint64_t xored = 0;
  Token last_token = 0;
  ASSERT_TRUE(e->AaeSegmentDigests(segment, [&](std::string_view key, Hlc ts, NodeId writer,
                                                bool tombstone) {
                 const Version& w = winners.at(std::string(key));
                 EXPECT_EQ(ts, w.timestamp);
                 EXPECT_EQ(writer, w.writer);
                 EXPECT_EQ(tombstone, w.tombstone);
                 EXPECT_GE(TokenOf(key), last_token);
                 last_token = TokenOf(key);
                 listed.emplace(key);
                 xored ^= AaeTree::EntryHash(key, ts, writer, tombstone);
                 return true;
               }).ok());
  EXPECT_EQ(listed, expected);
  EXPECT_FALSE(listed.empty());
  EXPECT_EQ(xored, (*e->AaeSegmentHashes(segment, segment + 1))[0]);
}

TEST(EngineAae, RejectsRangesOutsideTheTree) {
  // Goal: arguments come from peers: out of range is kInvalidArgument, never a crash.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  EXPECT_EQ(e->AaeSegmentHashes(0, kAaeSegments + 1).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(e->AaeSegmentHashes(5, 4).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(e->AaeBranchHashes(0, kAaeBranches + 1).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(e->AaeSegmentDigests(kAaeSegments, [](auto, auto, auto, auto) { return true; }).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_TRUE(e->AaeSegmentHashes(kAaeSegments, kAaeSegments)->empty());
}

TEST(EngineAae, SpanHashesAndPagedDigestsCoverASpanExactly) {
  // Goal: the exchange's two queries (AaeSpanHashes, AaeSpanDigests) agree with the range root
  // and with each other: paging digests `limit` at a time from a cursor lists every key of the
  // span once, in (token, key) order, and their hashes XOR to the span's hash.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  for (int k = 0; k < 3000; ++k) {
    MustApply(e.get(), StrCat("s", k), MakeVersion(100 + k, 1 + k % 3, "v", k % 5 == 0));
  }
  const Token lo = AaeTree::SegmentFirstToken(1000) + 77;
  const Token hi = AaeTree::SegmentLastToken(9000) - 5;
  const std::vector<TokenSpan> spans = {{lo, hi}, {0, ~Token{0}}, {hi, hi}};
  Result<std::vector<uint64_t>> hashes = e->AaeSpanHashes(spans);
  ASSERT_TRUE(hashes.ok()) << hashes.status().ToString();
  ASSERT_EQ(hashes->size(), 3u);
  EXPECT_EQ((*hashes)[0], Root(e.get(), lo, hi + 1));
  EXPECT_EQ((*hashes)[1], Root(e.get(), 0, 0));
  std::string cursor;
  std::set<std::string> listed;
  uint64_t xored = 0;
  std::pair<Token, std::string> last{0, ""};
  for (int page = 0; page < 1000; ++page) {
    size_t n = 0;
    Result<bool> more = e->AaeSpanDigests(
        {lo, hi}, cursor, 37, [&](std::string_view key, Hlc ts, NodeId writer, bool tombstone) {
          const std::pair<Token, std::string> at{TokenOf(key), std::string(key)};
          EXPECT_LT(last, at);
          EXPECT_TRUE(TokenSpan({lo, hi}).Contains(at.first));
          last = at;
          cursor = at.second;
          listed.insert(at.second);
          xored ^= AaeTree::EntryHash(key, ts, writer, tombstone);
          ++n;
          return true;
        });
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    EXPECT_LE(n, 37u);
    if (!*more) break;
  }
  EXPECT_GT(listed.size(), 100u);
  EXPECT_EQ(xored, (*hashes)[0]);
  // Bad arguments from a peer are errors.
  EXPECT_EQ(e->AaeSpanHashes({{5, 4}}).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(e->AaeSpanHashes(std::vector<TokenSpan>(kAaeSpansPerRequestMax + 1)).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(e->AaeSpanDigests({lo, hi}, "not-in-span-probably", 5,
                              [](auto, auto, auto, auto) { return true; })
                    .status()
                    .code() == ErrorCode::kInvalidArgument,
            !TokenSpan({lo, hi}).Contains(TokenOf("not-in-span-probably")));
}

TEST(EngineAae, StaysExactUnderConcurrentApplyAndQueries) {
  // Goal: queries racing with Apply never leave a segment stale: once the writers stop, the tree
  // equals a rebuild from the data.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(w);
      for (int i = 0; i < 20000; ++i) {
        const std::string key = StrCat("c", rng() % 3000);
        ASSERT_TRUE(e->Apply(key, MakeVersion(1 + rng() % 1000000, w + 1, "v")).ok());
      }
    });
  }
  std::thread reader([&] {
    while (!stop.load()) {
      ASSERT_TRUE(e->AaeRangeRoot(0, 0).ok());
      ASSERT_TRUE(e->AaeSegmentHashes(0, kAaeSegments / 2).ok());
    }
  });
  for (std::thread& t : writers) t.join();
  stop.store(true);
  reader.join();
  EXPECT_EQ(Segments(e.get()), RebuiltFromScan(e.get()));
}

TEST(EngineAae, CleanRestartRebuildsTheSameTree) {
  // Goal: nothing is persisted, yet after a clean restart the tree equals the one before it
  // and a fresh rebuild from the data.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  for (int k = 0; k < 3000; ++k) MustApply(e.get(), StrCat("s", k), MakeVersion(9 + k, 1, "v"));
  const std::vector<uint64_t> before = Segments(e.get());
  const uint64_t root = Root(e.get(), 0, 0);
  e.reset();
  e = OpenEngine(tmp.path());
  EXPECT_EQ(Segments(e.get()), before);
  EXPECT_EQ(Root(e.get(), 0, 0), root);
  EXPECT_EQ(Segments(e.get()), RebuiltFromScan(e.get()));
}

TEST(EngineAae, PowerLossLeavesATreeThatMatchesTheSurvivingData) {
  // Goal: after a power loss that drops unsynced writes (which the tree had already hashed), the
  // restarted engine's tree describes what survived, not what was lost.
  TempDir tmp;
  auto fs = std::make_shared<testing::FaultInjectionFs>();
  std::unique_ptr<rocksdb::Env> env = testing::NewFaultEnv(fs);
  auto e = OpenEngine(tmp.Sub("db"), env.get(), SyncMode::kNone);
  for (int k = 0; k < 2000; ++k) MustApply(e.get(), StrCat("p", k), MakeVersion(10, 1, "v"));
  ASSERT_TRUE(e->SyncWal().ok());
  const std::vector<uint64_t> synced = Segments(e.get());
  for (int k = 0; k < 2000; k += 2) {
    MustApply(e.get(), StrCat("p", k), MakeVersion(20, 2, "lost"));
  }
  const std::vector<uint64_t> with_lost = Segments(e.get());
  ASSERT_NE(with_lost, synced);

  fs->SetActive(false);
  e.reset();
  fs->DropUnsyncedData();
  fs->SetActive(true);
  e = OpenEngine(tmp.Sub("db"), env.get(), SyncMode::kNone);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(Segments(e.get()), RebuiltFromScan(e.get()));
  EXPECT_EQ(Segments(e.get()), synced);
}

}  // namespace
}  // namespace causeway
