// Engine on real RocksDB: LWW apply and its counters, threaded convergence, tombstone GC, token
// scans, meta records, validation and corruption handling.
#include "engine/engine.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "base/strings.h"
#include "engine/internal/keys.h"
#include "engine/internal/lww_merge.h"
#include "engine/internal/options.h"
#include "engine/internal/tombstone_filter.h"
#include "engine/record.h"
#include "support/temp_dir.h"

namespace causeway {
namespace {

using testing::TempDir;

Version MakeVersion(Hlc ts, NodeId writer, std::string value) {
  Version v;
  v.timestamp = ts;
  v.writer = writer;
  v.vv.Advance(writer, ts);
  v.value = std::move(value);
  return v;
}

std::unique_ptr<Engine> OpenEngine(const std::string& dir, SyncMode mode = SyncMode::kNone) {
  EngineOptions o;
  o.dir = dir;
  o.sync = mode;
  o.block_cache_bytes = 8 << 20;
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(*e) : nullptr;
}

ApplyResult MustApply(Engine* e, std::string_view key, const Version& v) {
  Result<ApplyResult> r = e->Apply(key, v);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : ApplyResult{};
}

TEST(EngineApply, KeepsWinnerAndCountsEachLoserOnceWhenCompacted) {
  // Goal: new, causally newer, duplicate, older-concurrent, causally older and newer-concurrent
  // versions are all accepted; reads return the LWW winner with every loser's vector absorbed
  // and count nothing; the flush/compaction that discards the losers counts each exactly once,
  // classified against the version that beat it.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  Version v1 = MakeVersion(100, 1, "v1");
  Version v2 = MakeVersion(200, 2, "v2");
  v2.vv.Advance(1, 100);                       // v2 has seen v1: overwrite, not a race
  Version late = MakeVersion(150, 3, "late");  // concurrent with v2 and older: loses
  Version v4 = MakeVersion(300, 4, "v4");      // concurrent with v2 and newer: wins
  for (const Version& v : {v1, v2, v2, late, v1, v4}) {
    ApplyResult r = MustApply(e.get(), "k", v);
    EXPECT_EQ(r.outcome, ApplyOutcome::kApplied);
    EXPECT_FALSE(r.concurrent);
  }
  auto check_winner = [&] {
    Result<std::optional<Version>> got = e->Get("k");
    ASSERT_TRUE(got.ok() && got->has_value()) << got.status().ToString();
    EXPECT_EQ((*got)->value, "v4");
    EXPECT_EQ((*got)->vv.Get(4), 300u);
    EXPECT_EQ((*got)->vv.Get(3), 150u);
    EXPECT_EQ((*got)->vv.Get(2), 200u);
    EXPECT_EQ((*got)->vv.Get(1), 100u);
  };
  check_winner();
  check_winner();
  EngineStats st = e->GetStats();
  EXPECT_EQ(st.applied, 6u);
  EXPECT_EQ(st.shadowed + st.overwritten + st.duplicates, 0u);  // reads discard nothing
  ASSERT_TRUE(e->CompactData().ok());
  check_winner();
  st = e->GetStats();
  EXPECT_EQ(st.overwritten, 2u);  // v1 by v2, v2 by v4
  EXPECT_EQ(st.shadowed, 2u);     // late and the second v1, both after v2
  EXPECT_EQ(st.concurrent, 2u);   // late vs v2, v2 vs v4
  EXPECT_EQ(st.duplicates, 1u);
  EXPECT_EQ(st.applied, 1 + st.shadowed + st.overwritten + st.duplicates);
}

TEST(EngineApply, LoserOverACompactedBaseIsCountedByTheCompactionThatDropsIt) {
  // Goal: a version arriving after the key's winner was compacted to a full value is classified
  // against that base (shadowed if it loses, base overwritten if it wins), once.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  Version base = MakeVersion(200, 2, "base");
  MustApply(e.get(), "k", base);
  ASSERT_TRUE(e->CompactData().ok());
  MustApply(e.get(), "k", MakeVersion(100, 1, "old"));  // concurrent and older: loses
  EXPECT_EQ((**e->Get("k")).value, "base");
  EXPECT_EQ(e->GetStats().shadowed, 0u);
  ASSERT_TRUE(e->CompactData().ok());
  EngineStats st = e->GetStats();
  EXPECT_EQ(st.shadowed, 1u);
  EXPECT_EQ(st.concurrent, 1u);
  Version next = MakeVersion(300, 3, "next");
  next.vv.MergeFrom((**e->Get("k")).vv);  // has read the stored version: an overwrite
  MustApply(e.get(), "k", next);
  ASSERT_TRUE(e->CompactData().ok());
  st = e->GetStats();
  EXPECT_EQ(st.overwritten, 1u);
  EXPECT_EQ(st.concurrent, 1u);
  EXPECT_EQ(st.shadowed, 1u);
  EXPECT_EQ((**e->Get("k")).value, "next");
  EXPECT_EQ(st.applied, 1 + st.shadowed + st.overwritten + st.duplicates);
}

TEST(EngineApply, LargeValuesKeepTheSameLwwResultAndCounts) {
  // Goal: values large enough for blob files (written as full values when they win) interleaved
  // with small ones (operands) give the same winner, vector and counters as merges alone.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  const std::string big(internal::kBlobValueBytesMin, 'b');
  MustApply(e.get(), "k", MakeVersion(100, 1, big));     // new key: a full value
  MustApply(e.get(), "k", MakeVersion(50, 2, "small"));  // loses: an operand
  Version v3 = MakeVersion(300, 3, big + "3");           // wins: hides both, counts them now
  MustApply(e.get(), "k", v3);
  EngineStats st = e->GetStats();
  EXPECT_EQ(st.shadowed, 1u);  // "small" lost to the version before it
  EXPECT_EQ(st.overwritten, 1u);
  EXPECT_EQ(st.concurrent, 2u);
  MustApply(e.get(), "k", MakeVersion(200, 4, big + "4"));  // loses: an operand
  for (int pass = 0; pass < 2; ++pass) {
    Version got = **e->Get("k");
    EXPECT_EQ(got.value, v3.value);
    EXPECT_EQ(got.vv.Get(1), 100u);
    EXPECT_EQ(got.vv.Get(2), 50u);
    EXPECT_EQ(got.vv.Get(3), 300u);
    EXPECT_EQ(got.vv.Get(4), 200u);
    ASSERT_TRUE(e->CompactData().ok());
  }
  st = e->GetStats();
  EXPECT_EQ(st.shadowed, 2u);
  EXPECT_EQ(st.applied, 1 + st.shadowed + st.overwritten + st.duplicates);
}

TEST(EngineApply, MergedVectorIsTruncatedKeepingTheWriter) {
  // Goal: merging a concurrent loser's vector never exceeds kVersionVectorEntriesMax and keeps
  // the winner's own dot.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  Version old = MakeVersion(1000, 500, "old");
  for (NodeId n = 1; n < kVersionVectorEntriesMax; ++n) old.vv.Advance(n, 900 + n);
  MustApply(e.get(), "k", old);
  Version win = MakeVersion(2000, 1000, "win");
  for (NodeId n = 100; n < 100 + kVersionVectorEntriesMax - 1; ++n) win.vv.Advance(n, 1);
  MustApply(e.get(), "k", win);
  for (int pass = 0; pass < 2; ++pass) {  // a read-path merge, then the compacted record
    Version got = **e->Get("k");
    EXPECT_EQ(got.value, "win");
    EXPECT_EQ(got.vv.size(), kVersionVectorEntriesMax);
    EXPECT_EQ(got.vv.Get(1000), 2000u);
    EXPECT_EQ(got.vv.Get(500), 1000u);  // the loser's dot has a high counter: kept
    ASSERT_TRUE(e->CompactData().ok());
  }
  EXPECT_EQ(e->GetStats().concurrent, 1u);
}

TEST(EngineApply, ThreadsConvergeToTheLwwWinnerAndCountersAddUp) {
  // Goal: 4 threads applying every version of 50 keys in their own shuffled order leave each key
  // at the LWW maximum (before and after compaction), and once compacted the counters add up:
  // applied == calls == one survivor per key + every loser counted once.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  constexpr int kKeys = 50, kVersionsPerKey = 20, kThreads = 4;
  std::mt19937_64 rng(7);
  std::vector<std::pair<std::string, Version>> all;
  std::map<std::string, Version> expected;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = "key" + std::to_string(k);
    for (int i = 0; i < kVersionsPerKey; ++i) {
      Version v = MakeVersion(1 + rng() % 1000, 1 + rng() % 5, "");
      v.value = key + "@" + std::to_string(v.timestamp) + "/" + std::to_string(v.writer);
      auto it = expected.find(key);
      if (it == expected.end() || LastWriteWins(v, it->second)) expected[key] = v;
      all.emplace_back(key, v);
    }
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto mine = all;
      std::shuffle(mine.begin(), mine.end(), std::mt19937_64(100 + t));
      for (const auto& [key, v] : mine) ASSERT_TRUE(e->Apply(key, v).ok());
    });
  }
  for (auto& th : threads) th.join();
  auto check = [&] {
    for (const auto& [key, v] : expected) {
      Version got = **e->Get(key);
      EXPECT_TRUE(got.SameDot(v)) << key;
      EXPECT_EQ(got.value, v.value);
    }
  };
  check();
  ASSERT_TRUE(e->CompactData().ok());
  check();
  EngineStats st = e->GetStats();
  const uint64_t calls = uint64_t{kThreads} * all.size();
  EXPECT_EQ(st.applied, calls);
  EXPECT_EQ(st.applied, kKeys + st.shadowed + st.overwritten + st.duplicates);
  // Versions carry only their own dot, so races are common; once a winner absorbed a loser's
  // vector, that loser arriving again is causally older, not a race.
  EXPECT_GT(st.concurrent, 0u);
  EXPECT_LE(st.concurrent, st.shadowed + st.overwritten);
  // Each key's winner was applied by every thread: its other copies are duplicates.
  EXPECT_GE(st.duplicates, uint64_t{kThreads - 1} * kKeys);
}

TEST(EngineApply, RejectsInvalidInput) {
  // Goal: bad keys and versions are kInvalidArgument and store nothing.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  EXPECT_EQ(e->Apply("", MakeVersion(1, 1, "v")).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(e->Apply(std::string(kKeyBytesMax + 1, 'k'), MakeVersion(1, 1, "v")).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(e->Apply("k", MakeVersion(1, 1, std::string(kValueBytesMax + 1, 'v'))).status().code(),
            ErrorCode::kInvalidArgument);
  Version tomb = MakeVersion(1, 1, "x");
  tomb.tombstone = true;
  EXPECT_EQ(e->Apply("k", tomb).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(e->Get("").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(e->Get("k")->has_value());
  EXPECT_TRUE(e->health().ok());
  // The limits themselves are accepted.
  EXPECT_TRUE(
      e->Apply(std::string(kKeyBytesMax, 'k'), MakeVersion(1, 1, std::string(kValueBytesMax, 'v')))
          .ok());
}

TEST(EngineTombstones, PurgedBelowWatermarkOnly) {
  // Goal: after CompactData(), tombstones older than the watermark are gone, newer ones and live
  // values stay; with no watermark set nothing is purged.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  for (int i = 0; i < 100; ++i) {
    Version v = MakeVersion(1000 + i * 10, 1, i % 2 == 0 ? "" : "live");
    v.tombstone = i % 2 == 0;
    MustApply(e.get(), StrCat("k", i), v);
  }
  ASSERT_TRUE(e->CompactData().ok());
  EXPECT_EQ(e->GetStats().tombstones_purged, 0u);
  e->SetTombstoneWatermark(1500);  // tombstones of i < 50 are older
  ASSERT_TRUE(e->CompactData().ok());
  for (int i = 0; i < 100; ++i) {
    std::optional<Version> got = *e->Get(StrCat("k", i));
    if (i % 2 == 1) {
      ASSERT_TRUE(got.has_value()) << i;
      EXPECT_EQ(got->value, "live");
    } else if (i < 50) {
      EXPECT_FALSE(got.has_value()) << i;
    } else {
      ASSERT_TRUE(got.has_value()) << i;
      EXPECT_TRUE(got->tombstone);
    }
  }
  EXPECT_EQ(e->GetStats().tombstones_purged, 25u);
}

TEST(EngineTombstones, PerSpanWatermarksPurgeOnlyTheirSpanAndUpdateTheAaeTree) {
  // Goal: with watermarks per token span (the cluster's ranges), a tombstone is purged only when
  // its key's span has a watermark above it; keys in no span keep theirs. A purge changes the
  // anti-entropy hash: the tree then equals a fresh rebuild of what is left.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  std::vector<std::string> keys;
  for (int i = 0; i < 200; ++i) {
    Version v = MakeVersion(1000, 1, "");
    v.tombstone = true;
    keys.push_back(StrCat("t", i));
    MustApply(e.get(), keys.back(), v);
  }
  const Token half = Token{1} << 63;
  ASSERT_TRUE(e->CompactData().ok());
  const uint64_t root_before = *e->AaeRangeRoot(0, 0);
  // Low half: watermark above the tombstones. High half: no span at all.
  e->SetTombstoneWatermarks({{{0, half - 1}, 5000}});
  ASSERT_TRUE(e->CompactData().ok());
  size_t purged = 0, kept = 0;
  for (const std::string& k : keys) {
    const bool low = TokenOf(k) < half;
    const bool present = e->Get(k)->has_value();
    EXPECT_EQ(present, !low) << k;
    (low ? purged : kept)++;
  }
  EXPECT_GT(purged, 50u);
  EXPECT_GT(kept, 50u);
  EXPECT_EQ(e->GetStats().tombstones_purged, purged);
  const uint64_t root_after = *e->AaeRangeRoot(0, 0);
  EXPECT_NE(root_after, root_before);
  EXPECT_EQ(*e->AaeRangeRoot(0, half), 0u);  // nothing left below half
  e.reset();
  auto reopened = OpenEngine(tmp.path());  // a rebuild from the data alone
  EXPECT_EQ(*reopened->AaeRangeRoot(0, 0), root_after);
}

TEST(EngineTombstones, OlderVersionPendingOverAPurgedTombstoneDoesNotResurrect) {
  // Goal: a tombstone below the watermark is purged, and a version older than it that was
  // applied later (still a merge operand over it when GC runs) never becomes the value.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  Version tomb = MakeVersion(1000, 1, "");
  tomb.tombstone = true;
  MustApply(e.get(), "k", tomb);
  ASSERT_TRUE(e->CompactData().ok());  // the tombstone is now a full value at the bottom
  MustApply(e.get(), "k", MakeVersion(500, 2, "zombie"));  // concurrent, older: pending
  EXPECT_TRUE((**e->Get("k")).tombstone);
  e->SetTombstoneWatermark(2000);
  ASSERT_TRUE(e->CompactData().ok());
  EXPECT_FALSE(e->Get("k")->has_value());
  EXPECT_EQ(e->GetStats().tombstones_purged, 1u);
  EXPECT_EQ(e->GetStats().shadowed, 1u);
  ASSERT_TRUE(e->CompactData().ok());
  EXPECT_FALSE(e->Get("k")->has_value());
}

TEST(EngineTombstones, FilterKeepsATombstoneWithAnOperandPendingAboveIt) {
  // Goal: compacting only the file that holds an old tombstone (while an older version waits
  // above it in an upper level) keeps the tombstone, so the pending version cannot resurface;
  // once nothing is pending the tombstone is purged. Real RocksDB with the engine's layout,
  // merge operator and filter; CompactFiles picks exactly the bottom file.
  TempDir tmp;
  EngineOptions o;
  o.dir = tmp.path();
  internal::DbLayout layout = internal::MakeDbLayout(o);
  internal::TombstoneFilter filter;
  layout.column_families[internal::kDataCfIndex].options.compaction_filter = &filter;
  layout.db.max_background_jobs = 2;
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  ASSERT_TRUE(rocksdb::DB::Open(layout.db, o.dir, layout.column_families, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::ColumnFamilyHandle* cf = handles[internal::kDataCfIndex];
  filter.Attach(db.get(), cf);
  const std::string key = internal::DataKey("k");
  Version tomb = MakeVersion(1000, 1, "");
  tomb.tombstone = true;
  ASSERT_TRUE(db->Merge(rocksdb::WriteOptions(), cf, key, EncodeVersion(tomb)).ok());
  ASSERT_TRUE(db->CompactRange(rocksdb::CompactRangeOptions(), cf, nullptr, nullptr).ok());
  const std::string zombie = EncodeVersion(MakeVersion(500, 2, "zombie"));
  ASSERT_TRUE(db->Merge(rocksdb::WriteOptions(), cf, key, zombie).ok());
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions(), cf).ok());
  auto bottom_files = [&] {
    rocksdb::ColumnFamilyMetaData meta;
    db->GetColumnFamilyMetaData(cf, &meta);
    std::vector<std::string> names;
    for (const auto& f : meta.levels.back().files) names.push_back(f.name);
    return names;
  };
  ASSERT_EQ(bottom_files().size(), 1u);
  filter.SetWatermark(2000);
  const int bottom =
      static_cast<int>(layout.column_families[internal::kDataCfIndex].options.num_levels) - 1;
  ASSERT_TRUE(db->CompactFiles(rocksdb::CompactionOptions(), cf, bottom_files(), bottom).ok());
  EXPECT_EQ(filter.purged(), 0u);  // the zombie is pending above: kept
  std::string value;
  {
    internal::ReadingScope reading;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cf, key, &value).ok());
  }
  EXPECT_TRUE(DecodeVersion(value)->tombstone);
  // Merging them leaves the tombstone alone as a full value; then it goes.
  ASSERT_TRUE(db->CompactRange(rocksdb::CompactRangeOptions(), cf, nullptr, nullptr).ok());
  rocksdb::CompactRangeOptions force;
  force.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  ASSERT_TRUE(db->CompactRange(force, cf, nullptr, nullptr).ok());
  EXPECT_EQ(filter.purged(), 1u);
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), cf, key, &value).IsNotFound());
  filter.Detach();
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  ASSERT_TRUE(db->Close().ok());
}

TEST(EngineScan, ReturnsMergedWinners) {
  // Goal: a scan over keys with several pending versions returns each key once, as its LWW
  // winner, before and after compaction, and counts nothing itself.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  for (int i = 0; i < 20; ++i) {
    const std::string key = StrCat("m", i);
    MustApply(e.get(), key, MakeVersion(300, 3, "win"));
    MustApply(e.get(), key, MakeVersion(100, 1, "lose"));
    MustApply(e.get(), key, MakeVersion(200, 2, "lose"));
  }
  for (int pass = 0; pass < 2; ++pass) {
    int seen = 0;
    Status s = e->ScanTokenRange(0, 0, [&](std::string_view, const Version& v) {
      EXPECT_EQ(v.value, "win");
      EXPECT_EQ(v.vv.size(), 3u);
      ++seen;
      return true;
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(seen, 20);
    if (pass == 0) {
      EXPECT_EQ(e->GetStats().shadowed, 0u);
      ASSERT_TRUE(e->CompactData().ok());
    }
  }
  EXPECT_EQ(e->GetStats().shadowed, 40u);
}

TEST(EngineScan, TokenRangesInOrderWithWraparound) {
  // Goal: ScanTokenRange returns exactly the keys whose token is in [begin, end), in token
  // order, wraps when begin > end, and stops when fn returns false.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  std::vector<std::pair<Token, std::string>> keys;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "scan" + std::to_string(i);
    MustApply(e.get(), key, MakeVersion(10 + i, 1, key));
    keys.emplace_back(TokenOf(key), key);
  }
  std::sort(keys.begin(), keys.end());
  auto scan = [&](Token b, Token end) {
    std::vector<std::string> out;
    EXPECT_TRUE(e->ScanTokenRange(b, end, [&](std::string_view k, const Version& v) {
                   EXPECT_EQ(v.value, k);
                   out.emplace_back(k);
                   return true;
                 }).ok());
    return out;
  };
  const Token a = keys[100].first, b = keys[200].first;
  std::vector<std::string> mid = scan(a, b);
  ASSERT_EQ(mid.size(), 100u);
  for (size_t i = 0; i < mid.size(); ++i) EXPECT_EQ(mid[i], keys[100 + i].second);
  std::vector<std::string> wrap = scan(b, a);
  ASSERT_EQ(wrap.size(), 200u);
  EXPECT_EQ(wrap.front(), keys[200].second);
  EXPECT_EQ(wrap[99], keys[299].second);
  EXPECT_EQ(wrap[100], keys[0].second);
  EXPECT_EQ(scan(a, a).size(), 300u);  // begin == end: the whole ring
  int seen = 0;
  ASSERT_TRUE(
      e->ScanTokenRange(0, 0, [&](std::string_view, const Version&) { return ++seen < 5; }).ok());
  EXPECT_EQ(seen, 5);
}

TEST(EngineMeta, StoresNamedRecordsAndGuardsItsOwn) {
  // Goal: meta records survive a reopen; the engine's own names cannot be overwritten.
  TempDir tmp;
  {
    auto e = OpenEngine(tmp.path());
    ASSERT_TRUE(e->StoreMeta("node_name", "n1").ok());
    EXPECT_EQ(e->StoreMeta("format_version", "9").code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(e->StoreMeta("hlc_ceiling", "x").code(), ErrorCode::kInvalidArgument);
  }
  auto e = OpenEngine(tmp.path());
  EXPECT_EQ(**e->LoadMeta("node_name"), "n1");
  EXPECT_EQ(**e->LoadMeta("format_version"), "2");
  EXPECT_FALSE(e->LoadMeta("absent")->has_value());
}

// Writes raw bytes into one column family, bypassing the engine.
void RawPut(const std::string& dir, size_t cf_index, const std::string& key,
            const std::string& value) {
  EngineOptions o;
  o.dir = dir;
  internal::DbLayout layout = internal::MakeDbLayout(o);
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  ASSERT_TRUE(rocksdb::DB::Open(layout.db, dir, layout.column_families, &handles, &db).ok());
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[cf_index], key, value).ok());
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  delete db;
}

TEST(EngineFormat, RefusesNewerDatabaseFormat) {
  // Goal: a database whose format_version is newer than ours is refused, not misread.
  TempDir tmp;
  OpenEngine(tmp.path()).reset();
  RawPut(tmp.path(), internal::kClockCfIndex, "format_version", "3");  // ours is 2
  EngineOptions o;
  o.dir = tmp.path();
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  EXPECT_EQ(e.status().code(), ErrorCode::kInvalidArgument);
}

TEST(EngineFormat, CorruptRecordIsCorruptionNotACrash) {
  // Goal: a stored record that does not decode gives kCorruption on Get and Scan, also when a
  // merge has to read it; a compaction that must merge it fails with kCorruption and fail-stops
  // writes; reads of other keys keep working.
  TempDir tmp;
  OpenEngine(tmp.path()).reset();
  RawPut(tmp.path(), internal::kDataCfIndex, internal::DataKey("bad"), "\x01garbage");
  auto e = OpenEngine(tmp.path());
  EXPECT_EQ(e->Get("bad").status().code(), ErrorCode::kCorruption);
  EXPECT_EQ(e->ScanTokenRange(0, 0, [](std::string_view, const Version&) { return true; }).code(),
            ErrorCode::kCorruption);
  ASSERT_TRUE(e->Apply("bad", MakeVersion(5, 1, "v")).ok());         // no read: accepted
  EXPECT_EQ(e->Get("bad").status().code(), ErrorCode::kCorruption);  // the merge refuses it
  EXPECT_TRUE(e->health().ok());
  EXPECT_EQ(e->CompactData().code(), ErrorCode::kCorruption);
  EXPECT_EQ(e->health().code(), ErrorCode::kCorruption);
  EXPECT_EQ(e->Apply("other", MakeVersion(5, 1, "v")).status().code(), ErrorCode::kCorruption);
  EXPECT_TRUE(e->Get("other").ok());  // reads keep working
}

TEST(EngineDurability, AlwaysModeConcurrentWritersAllComplete) {
  // Goal: in `always` mode many writers progress together (group commit shares the fsync).
  TempDir tmp;
  auto e = OpenEngine(tmp.path(), SyncMode::kAlways);
  constexpr int kThreads = 8, kWrites = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        ASSERT_TRUE(e->Apply(StrCat("t", t, "-", i), MakeVersion(1 + i, 1 + t, "v")).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(e->GetStats().applied, uint64_t{kThreads * kWrites});
  EXPECT_EQ(e->sync_mode(), SyncMode::kAlways);
}

}  // namespace
}  // namespace causeway
