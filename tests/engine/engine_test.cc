// Engine on real RocksDB: LWW apply and its counters, threaded convergence, tombstone GC, token
// scans, hints, meta records, validation and corruption handling.
#include "engine/engine.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "engine/internal/keys.h"
#include "engine/internal/options.h"
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

TEST(EngineApply, KeepsWinnerAndCountsEveryOutcome) {
  // Goal: new, causally newer, older-concurrent, newer-concurrent and duplicate versions each
  // give the right outcome, stored winner and counter.
  TempDir tmp;
  auto e = OpenEngine(tmp.path());
  Version v1 = MakeVersion(100, 1, "v1");
  EXPECT_EQ(MustApply(e.get(), "k", v1).outcome, ApplyOutcome::kApplied);
  Version v2 = MakeVersion(200, 2, "v2");
  v2.vv.Advance(1, 100);  // v2 has seen v1: overwrite, not a race
  ApplyResult r = MustApply(e.get(), "k", v2);
  EXPECT_EQ(r.outcome, ApplyOutcome::kApplied);
  EXPECT_FALSE(r.concurrent);
  EXPECT_EQ(MustApply(e.get(), "k", v2).outcome, ApplyOutcome::kDuplicate);
  r = MustApply(e.get(), "k", MakeVersion(150, 3, "late"));  // concurrent, older: loses
  EXPECT_EQ(r.outcome, ApplyOutcome::kShadowed);
  EXPECT_TRUE(r.concurrent);
  r = MustApply(e.get(), "k", v1);  // causally older: loses, not a race
  EXPECT_EQ(r.outcome, ApplyOutcome::kShadowed);
  EXPECT_FALSE(r.concurrent);
  Version v4 = MakeVersion(300, 4, "v4");  // concurrent, newer: wins and absorbs v2's vector
  r = MustApply(e.get(), "k", v4);
  EXPECT_EQ(r.outcome, ApplyOutcome::kApplied);
  EXPECT_TRUE(r.concurrent);
  Result<std::optional<Version>> got = e->Get("k");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->value, "v4");
  EXPECT_EQ((*got)->vv.Get(4), 300u);
  EXPECT_EQ((*got)->vv.Get(2), 200u);
  EXPECT_EQ((*got)->vv.Get(1), 100u);
  EngineStats st = e->GetStats();
  EXPECT_EQ(st.applied, 3u);
  EXPECT_EQ(st.overwritten, 2u);
  EXPECT_EQ(st.shadowed, 2u);
  EXPECT_EQ(st.concurrent, 2u);
  EXPECT_EQ(st.duplicates, 1u);
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
  EXPECT_TRUE(MustApply(e.get(), "k", win).concurrent);
  Version got = **e->Get("k");
  EXPECT_EQ(got.value, "win");
  EXPECT_EQ(got.vv.size(), kVersionVectorEntriesMax);
  EXPECT_EQ(got.vv.Get(1000), 2000u);
  EXPECT_EQ(got.vv.Get(500), 1000u);  // the loser's dot has a high counter: kept
}

TEST(EngineApply, ThreadsConvergeToTheLwwWinnerAndCountersAddUp) {
  // Goal: 4 threads applying every version of 50 keys in their own shuffled order leave each key
  // at the LWW maximum, and applied + shadowed + duplicates equals the number of calls.
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
  for (const auto& [key, v] : expected) {
    Version got = **e->Get(key);
    EXPECT_TRUE(got.SameDot(v)) << key;
    EXPECT_EQ(got.value, v.value);
  }
  EngineStats st = e->GetStats();
  const uint64_t calls = uint64_t{kThreads} * all.size();
  EXPECT_EQ(st.applied + st.shadowed + st.duplicates, calls);
  EXPECT_EQ(st.applied, st.overwritten + kKeys);
  // Versions carry only their own dot, so races are common; once a winner absorbed a loser's
  // vector, that loser arriving again is causally older, not a race.
  EXPECT_GT(st.concurrent, 0u);
  EXPECT_LE(st.concurrent, st.shadowed + st.overwritten);
  // Exactly one apply stores each key's winner; every other thread then sees its dot.
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
    MustApply(e.get(), "k" + std::to_string(i), v);
  }
  ASSERT_TRUE(e->CompactData().ok());
  EXPECT_EQ(e->GetStats().tombstones_purged, 0u);
  e->SetTombstoneWatermark(1500);  // tombstones of i < 50 are older
  ASSERT_TRUE(e->CompactData().ok());
  for (int i = 0; i < 100; ++i) {
    std::optional<Version> got = *e->Get("k" + std::to_string(i));
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

TEST(EngineHints, StoredPerTargetInOrderAndSeqSurvivesRestart) {
  // Goal: hints come back per target in arrival order, deletes are exact, and after a reopen the
  // sequence continues above every stored hint.
  TempDir tmp;
  uint64_t last_seq = 0;
  {
    auto e = OpenEngine(tmp.path());
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(e->PutHint(i % 2 == 0 ? 7 : 9, "h" + std::to_string(i),
                             MakeVersion(100 + i, 1, "v" + std::to_string(i)))
                      .ok());
    }
    std::vector<std::string> seen;
    ASSERT_TRUE(e->ScanHints(7, [&](uint64_t seq, std::string_view key, const Version& v) {
                   EXPECT_GT(seq, last_seq);
                   last_seq = seq;
                   seen.emplace_back(key);
                   EXPECT_EQ(v.value, "v" + std::string(key.substr(1)));
                   return true;
                 }).ok());
    EXPECT_EQ(seen, (std::vector<std::string>{"h0", "h2", "h4", "h6", "h8"}));
    ASSERT_TRUE(e->DeleteHint(7, last_seq).ok());
    ASSERT_TRUE(e->DeleteHint(7, last_seq).ok());  // twice: harmless, counted once
    EXPECT_EQ(e->GetStats().hints, 9u);
  }
  auto e = OpenEngine(tmp.path());
  EXPECT_EQ(e->GetStats().hints, 9u);
  ASSERT_TRUE(e->PutHint(7, "new", MakeVersion(500, 1, "n")).ok());
  uint64_t new_seq = 0;
  ASSERT_TRUE(e->ScanHints(7, [&](uint64_t seq, std::string_view key, const Version&) {
                 if (key == "new") new_seq = seq;
                 return true;
               }).ok());
  EXPECT_GT(new_seq, last_seq + 1);  // 9's hints were stored after 7's last one
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
  EXPECT_EQ(**e->LoadMeta("format_version"), "1");
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
  RawPut(tmp.path(), internal::kClockCfIndex, "format_version", "2");
  EngineOptions o;
  o.dir = tmp.path();
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  EXPECT_EQ(e.status().code(), ErrorCode::kInvalidArgument);
}

TEST(EngineFormat, CorruptRecordIsCorruptionNotACrash) {
  // Goal: a stored record that does not decode gives kCorruption on Get and Scan, and Apply on
  // it fail-stops writes.
  TempDir tmp;
  OpenEngine(tmp.path()).reset();
  RawPut(tmp.path(), internal::kDataCfIndex, internal::DataKey("bad"), "\x01garbage");
  auto e = OpenEngine(tmp.path());
  EXPECT_EQ(e->Get("bad").status().code(), ErrorCode::kCorruption);
  EXPECT_EQ(e->ScanTokenRange(0, 0, [](std::string_view, const Version&) { return true; }).code(),
            ErrorCode::kCorruption);
  EXPECT_EQ(e->Apply("bad", MakeVersion(5, 1, "v")).status().code(), ErrorCode::kCorruption);
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
        ASSERT_TRUE(e->Apply("t" + std::to_string(t) + "-" + std::to_string(i),
                             MakeVersion(1 + i, 1 + t, "v"))
                        .ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(e->GetStats().applied, uint64_t{kThreads * kWrites});
  EXPECT_EQ(e->sync_mode(), SyncMode::kAlways);
}

}  // namespace
}  // namespace causeway
