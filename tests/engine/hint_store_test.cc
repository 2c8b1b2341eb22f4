// Hints on real RocksDB (engine/internal/hint_store.h): one hint per (target, key) keeping the
// LWW winner, the per-target byte budget and its exact accounting across restarts, the resumable
// byte-bounded scan, delete-if-same, the watermark drop, power loss, and the migration of the
// format-1 (target, seq) layout.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>
#include <vector>

#include "base/strings.h"
#include "engine/engine.h"
#include "engine/internal/coding.h"
#include "engine/internal/keys.h"
#include "engine/internal/options.h"
#include "engine/record.h"
#include "support/fault_fs.h"
#include "support/temp_dir.h"

namespace causeway {
namespace {

using testing::FaultInjectionFs;
using testing::TempDir;

constexpr NodeId kTarget = 7;
constexpr uint64_t kNoLimit = ~uint64_t{0};

Version MakeVersion(Hlc ts, NodeId writer, std::string value) {
  Version v;
  v.timestamp = ts;
  v.writer = writer;
  v.vv.Advance(writer, ts);
  v.value = std::move(value);
  return v;
}

// What one hint costs against the budget: hint key (target + key) + version record.
uint64_t HintBytes(std::string_view key, const Version& v) {
  return internal::kTargetBytes + key.size() + EncodeVersion(v).size();
}

EngineOptions Options(const std::string& dir, uint64_t budget = kHintBytesPerTargetMaxDefault) {
  EngineOptions o;
  o.dir = dir;
  o.sync = SyncMode::kNone;
  o.block_cache_bytes = 8 << 20;
  o.hint_bytes_per_target_max = budget;
  return o;
}

std::unique_ptr<Engine> Open(const EngineOptions& o) {
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(*e) : nullptr;
}

HintPut MustPut(Engine* e, NodeId target, std::string_view key, const Version& v) {
  Result<HintPut> r = e->PutHint(target, key, v);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : HintPut::kOverBudget;
}

// Every hint of `target`, in one unbounded scan.
std::map<std::string, Version> AllHints(Engine* e, NodeId target) {
  std::map<std::string, Version> out;
  Result<HintScanEnd> end = e->ScanHints(target, "", kNoLimit, [&](auto key, const Version& v) {
    out.emplace(std::string(key), v);
    return true;
  });
  EXPECT_TRUE(end.ok()) << end.status().ToString();
  if (end.ok()) {
    EXPECT_TRUE(end->exhausted);
  }
  return out;
}

// HintTargets as a map, and checked against the stats' totals.
std::map<NodeId, HintTargetBytes> Targets(Engine* e) {
  std::map<NodeId, HintTargetBytes> out;
  uint64_t hints = 0, bytes = 0;
  for (const HintTargetBytes& t : e->HintTargets()) {
    out[t.target] = t;
    hints += t.hints;
    bytes += t.bytes;
  }
  EngineStats st = e->GetStats();
  EXPECT_EQ(st.hints, hints);
  EXPECT_EQ(st.hint_bytes, bytes);
  return out;
}

TEST(HintStore, NewerVersionReplacesOlderAndNeverTheReverse) {
  // Goal: one hint per (target, key): a newer version replaces the stored one, an older or a
  // duplicate one leaves it (absorbing the loser's vector, as the data merge does), the same key
  // for another target is a separate hint, and the count follows keys, not writes.
  TempDir tmp;
  auto e = Open(Options(tmp.path()));
  EXPECT_EQ(MustPut(e.get(), kTarget, "k", MakeVersion(100, 1, "v100")), HintPut::kStored);
  EXPECT_EQ(MustPut(e.get(), kTarget, "k", MakeVersion(200, 2, "v200")), HintPut::kStored);
  EXPECT_EQ(MustPut(e.get(), kTarget, "k", MakeVersion(150, 3, "v150")), HintPut::kStored);
  EXPECT_EQ(MustPut(e.get(), kTarget, "k", MakeVersion(200, 2, "v200")), HintPut::kStored);
  EXPECT_EQ(MustPut(e.get(), kTarget, "k", MakeVersion(200, 1, "tie, lower writer")),
            HintPut::kStored);
  EXPECT_EQ(MustPut(e.get(), kTarget + 1, "k", MakeVersion(50, 1, "other target")),
            HintPut::kStored);
  std::map<std::string, Version> hints = AllHints(e.get(), kTarget);
  ASSERT_EQ(hints.size(), 1u);
  const Version& held = hints.at("k");
  EXPECT_EQ(held.timestamp, 200u);
  EXPECT_EQ(held.writer, 2u);
  EXPECT_EQ(held.value, "v200");
  EXPECT_TRUE(held.vv.Covers(1, 200));  // every loser's dot absorbed
  EXPECT_TRUE(held.vv.Covers(3, 150));
  EXPECT_EQ(AllHints(e.get(), kTarget + 1).at("k").value, "other target");
  std::map<NodeId, HintTargetBytes> targets = Targets(e.get());
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[kTarget].hints, 1u);
  EXPECT_EQ(targets[kTarget].bytes, HintBytes("k", held));
  EXPECT_EQ(e->GetStats().hints, 2u);
}

TEST(HintStore, BudgetRefusesOverflowAndAccountingIsExactAcrossRestart) {
  // Goal: a put that would take a target past its budget writes nothing and says kOverBudget
  // (counted), other targets are unaffected, a replacement that does not grow the target is
  // taken at the limit, and after a restart the per-target tallies equal what was written.
  TempDir tmp;
  const Version v = MakeVersion(100, 1, std::string(100, 'x'));
  const uint64_t per_hint = HintBytes("key00", v);
  const uint64_t budget = 10 * per_hint;  // exactly ten hints fit
  uint64_t expected_bytes = 0;
  {
    auto e = Open(Options(tmp.path(), budget));
    for (int i = 0; i < 10; ++i) {
      const std::string key = StrCat("key0", i);
      ASSERT_EQ(MustPut(e.get(), kTarget, key, v), HintPut::kStored) << key;
      expected_bytes += HintBytes(key, v);
    }
    EXPECT_EQ(expected_bytes, budget);
    EXPECT_EQ(MustPut(e.get(), kTarget, "key10", v), HintPut::kOverBudget);
    EXPECT_EQ(MustPut(e.get(), kTarget, "key11", MakeVersion(1, 1, "")), HintPut::kOverBudget);
    // Same size, newer (same writer: the absorbed vector does not grow): replaces at the limit.
    // One byte larger: refused, the older hint stays.
    EXPECT_EQ(MustPut(e.get(), kTarget, "key00", MakeVersion(300, 1, std::string(100, 'y'))),
              HintPut::kStored);
    EXPECT_EQ(MustPut(e.get(), kTarget, "key01", MakeVersion(300, 1, std::string(101, 'y'))),
              HintPut::kOverBudget);
    EXPECT_EQ(MustPut(e.get(), kTarget + 1, "key10", v), HintPut::kStored);
    std::map<std::string, Version> hints = AllHints(e.get(), kTarget);
    EXPECT_EQ(hints.size(), 10u);
    EXPECT_EQ(hints.count("key10"), 0u);
    EXPECT_EQ(hints.at("key00").value, std::string(100, 'y'));
    EXPECT_EQ(hints.at("key01").value, std::string(100, 'x'));
    EngineStats st = e->GetStats();
    EXPECT_EQ(st.hints_over_budget, 3u);
    EXPECT_EQ(HintBytes("key00", hints.at("key00")), per_hint);
    std::map<NodeId, HintTargetBytes> targets = Targets(e.get());
    EXPECT_EQ(targets[kTarget].bytes, expected_bytes);
    EXPECT_EQ(targets[kTarget].hints, 10u);
    EXPECT_EQ(targets[kTarget + 1].bytes, HintBytes("key10", v));
  }
  auto e = Open(Options(tmp.path(), budget));
  std::map<NodeId, HintTargetBytes> targets = Targets(e.get());
  EXPECT_EQ(targets[kTarget].bytes, expected_bytes);
  EXPECT_EQ(targets[kTarget].hints, 10u);
  EXPECT_EQ(targets[kTarget + 1].hints, 1u);
  EXPECT_EQ(e->GetStats().hints_over_budget, 0u);  // since Open
  EXPECT_EQ(MustPut(e.get(), kTarget, "key10", v), HintPut::kOverBudget);
}

TEST(HintStore, ConcurrentPutsNeverPassTheBudget) {
  // Goal: four threads racing to fill one target's budget with distinct keys never take it past
  // the budget, and the in-memory tally equals the one rebuilt from disk at the next Open.
  TempDir tmp;
  const Version v = MakeVersion(100, 1, std::string(200, 'x'));
  const uint64_t budget = 100 * HintBytes("t0-000", v) + 17;
  std::atomic<int> stored{0}, refused{0};
  uint64_t bytes_before = 0;
  {
    auto e = Open(Options(tmp.path(), budget));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 100; ++i) {
          char key[16];
          std::snprintf(key, sizeof key, "t%d-%03d", t, i);
          (MustPut(e.get(), kTarget, key, v) == HintPut::kStored ? stored : refused)++;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(stored.load(), 100);
    EXPECT_EQ(refused.load(), 300);
    bytes_before = Targets(e.get())[kTarget].bytes;
    EXPECT_LE(bytes_before, budget);
  }
  auto e = Open(Options(tmp.path(), budget));
  EXPECT_EQ(Targets(e.get())[kTarget].bytes, bytes_before);
  EXPECT_EQ(AllHints(e.get(), kTarget).size(), 100u);
}

TEST(HintStore, ScanIsResumableAndBoundedByBytes) {
  // Goal: resuming after the last key returned walks a target's hints in key order exactly
  // once, each call passing at most limit_bytes (or one hint, if larger), never another target's;
  // the last call says exhausted; fn returning false stops at once and the cursor resumes there.
  TempDir tmp;
  auto e = Open(Options(tmp.path()));
  std::vector<std::string> keys;
  for (int i = 0; i < 50; ++i) {
    char key[8];
    std::snprintf(key, sizeof key, "k%02d", i);
    keys.emplace_back(key);
    ASSERT_EQ(MustPut(e.get(), kTarget, key, MakeVersion(100 + i, 1, std::string(50, 'v'))),
              HintPut::kStored);
  }
  for (NodeId other : {kTarget - 1, kTarget + 1}) {
    ASSERT_EQ(MustPut(e.get(), other, "k00", MakeVersion(1, 1, "x")), HintPut::kStored);
    ASSERT_EQ(MustPut(e.get(), other, "zz", MakeVersion(1, 1, "x")), HintPut::kStored);
  }
  const uint64_t per_hint = HintBytes("k00", MakeVersion(100, 1, std::string(50, 'v')));
  const uint64_t limit = 7 * per_hint + per_hint / 2;  // 7 hints per call
  std::vector<std::string> seen;
  std::string cursor;
  int calls = 0;
  while (true) {
    Result<HintScanEnd> end = e->ScanHints(kTarget, cursor, limit, [&](auto key, const Version&) {
      seen.emplace_back(key);
      return true;
    });
    ASSERT_TRUE(end.ok()) << end.status().ToString();
    ++calls;
    EXPECT_LE(end->bytes, limit);
    EXPECT_EQ(end->bytes, end->hints * per_hint);
    if (end->hints > 0) cursor = end->last_key;
    if (end->exhausted) break;
    EXPECT_EQ(end->hints, 7u);
    ASSERT_LT(calls, 20);
  }
  EXPECT_EQ(seen, keys);
  EXPECT_EQ(calls, 8);  // 7 x 7 + 1

  // A limit below one hint still moves: one hint per call.
  Result<HintScanEnd> one =
      e->ScanHints(kTarget, "k10", 1, [](auto, const Version&) { return true; });
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->hints, 1u);
  EXPECT_EQ(one->last_key, "k11");
  EXPECT_FALSE(one->exhausted);

  // fn stops after three: the cursor is the third key, and the rest follows from there.
  int taken = 0;
  Result<HintScanEnd> stopped =
      e->ScanHints(kTarget, "", kNoLimit, [&](auto, const Version&) { return ++taken < 3; });
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->last_key, "k02");
  EXPECT_FALSE(stopped->exhausted);
  std::vector<std::string> rest;
  Result<HintScanEnd> tail = e->ScanHints(kTarget, "k02", kNoLimit, [&](auto key, const Version&) {
    rest.emplace_back(key);
    return true;
  });
  ASSERT_TRUE(tail.ok());
  EXPECT_TRUE(tail->exhausted);
  EXPECT_EQ(rest.size(), 47u);
  EXPECT_EQ(rest.front(), "k03");

  // After the last key, and for a target without hints: nothing, exhausted.
  Result<HintScanEnd> none = e->ScanHints(kTarget, "k49", kNoLimit, [](auto, const Version&) {
    ADD_FAILURE();
    return true;
  });
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->hints, 0u);
  EXPECT_TRUE(none->exhausted);
  EXPECT_TRUE(AllHints(e.get(), 12345).empty());
  EXPECT_EQ(AllHints(e.get(), ~NodeId{0}).size(), 0u);  // the last target id has no upper bound
}

TEST(HintStore, DeleteIfSameKeepsANewerHint) {
  // Goal: a replayed hint is deleted only if it still is the version that was replayed; a newer
  // hint stored during the replay stays (and is counted); deleting a missing hint is a no-op.
  TempDir tmp;
  auto e = Open(Options(tmp.path()));
  const Version v1 = MakeVersion(100, 1, "v1");
  const Version v2 = MakeVersion(200, 1, "v2");
  ASSERT_EQ(MustPut(e.get(), kTarget, "k", v1), HintPut::kStored);
  Version replayed;
  ASSERT_TRUE(e->ScanHints(kTarget, "", kNoLimit, [&](auto, const Version& v) {
                 replayed = v;
                 return true;
               }).ok());
  ASSERT_EQ(MustPut(e.get(), kTarget, "k", v2), HintPut::kStored);  // arrives during replay
  Result<bool> deleted = e->DeleteHintIfSame(kTarget, "k", replayed);
  ASSERT_TRUE(deleted.ok());
  EXPECT_FALSE(*deleted);
  EXPECT_EQ(AllHints(e.get(), kTarget).at("k").value, "v2");
  EXPECT_EQ(e->GetStats().hints, 1u);
  // Same timestamp, another writer: not the same version either.
  EXPECT_FALSE(*e->DeleteHintIfSame(kTarget, "k", MakeVersion(200, 2, "v2")));
  deleted = e->DeleteHintIfSame(kTarget, "k", v2);
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(*deleted);
  EXPECT_TRUE(AllHints(e.get(), kTarget).empty());
  EXPECT_TRUE(e->HintTargets().empty());
  EXPECT_EQ(e->GetStats().hint_bytes, 0u);
  EXPECT_FALSE(*e->DeleteHintIfSame(kTarget, "k", v2));  // twice: harmless
  EXPECT_FALSE(*e->DeleteHintIfSame(kTarget + 1, "never", v2));
  EXPECT_EQ(e->DeleteHintIfSame(kTarget, "", v2).status().code(), ErrorCode::kInvalidArgument);
}

TEST(HintStore, HintsBelowTheWatermarkAreDroppedNeverReplayed) {
  // Goal: DropHintsBelow deletes exactly the hints with timestamp < watermark, of every target,
  // counts them, and the tallies follow; hints at or above it stay.
  TempDir tmp;
  auto e = Open(Options(tmp.path()));
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(MustPut(e.get(), 1 + i % 3, StrCat("k", i), MakeVersion(100 + i, 1, "v")),
              HintPut::kStored);
  }
  Result<uint64_t> dropped = e->DropHintsBelow(150);
  ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
  EXPECT_EQ(*dropped, 50u);
  EXPECT_EQ(e->GetStats().hints_dropped_below_watermark, 50u);
  uint64_t left = 0;
  for (NodeId target : {1, 2, 3}) {
    for (const auto& [key, v] : AllHints(e.get(), target)) {
      EXPECT_GE(v.timestamp, 150u) << key;
      ++left;
    }
  }
  EXPECT_EQ(left, 50u);
  EXPECT_EQ(e->GetStats().hints, 50u);
  Targets(e.get());  // tallies agree with the totals
  EXPECT_EQ(*e->DropHintsBelow(150), 0u);
  EXPECT_EQ(e->GetStats().hints_dropped_below_watermark, 50u);
}

TEST(HintStore, SurvivesRestart) {
  // Goal: hints, their versions and tallies are the same after a clean reopen.
  TempDir tmp;
  std::map<NodeId, HintTargetBytes> before;
  {
    auto e = Open(Options(tmp.path()));
    for (int i = 0; i < 30; ++i) {
      ASSERT_EQ(MustPut(e.get(), 1 + i % 2, StrCat("k", i), MakeVersion(100 + i, 1, "v")),
                HintPut::kStored);
    }
    before = Targets(e.get());
  }
  auto e = Open(Options(tmp.path()));
  std::map<NodeId, HintTargetBytes> after = Targets(e.get());
  ASSERT_EQ(after.size(), 2u);
  for (NodeId t : {1, 2}) {
    EXPECT_EQ(after[t].hints, before[t].hints);
    EXPECT_EQ(after[t].bytes, before[t].bytes);
  }
  EXPECT_EQ(AllHints(e.get(), 2).at("k29").timestamp, 129u);
}

// One node's disk behind the fault-injecting file system (as in crash_test.cc).
class FaultyDisk {
 public:
  FaultyDisk() : fs_(std::make_shared<FaultInjectionFs>()), env_(testing::NewFaultEnv(fs_)) {}

  std::unique_ptr<Engine> Open(SyncMode mode) {
    EngineOptions o = Options(tmp_.Sub("db"));
    o.sync = mode;
    o.periodic_sync_ms = kSyncerOffPeriodMs;  // no syncer: nothing syncs behind the test's back
    o.env = env_.get();
    return causeway::Open(o);
  }

  void PowerLoss(std::unique_ptr<Engine>* engine) {
    fs_->SetActive(false);
    engine->reset();
    fs_->DropUnsyncedData();
    fs_->SetActive(true);
  }

 private:
  TempDir tmp_;
  std::shared_ptr<FaultInjectionFs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
};

TEST(HintStore, AlwaysModeHintsSurvivePowerLoss) {
  // Goal: in `always`, every acknowledged hint put, replacement and delete is there after a power
  // loss, and the tallies rebuilt at Open are exact.
  FaultyDisk disk;
  auto e = disk.Open(SyncMode::kAlways);
  ASSERT_NE(e, nullptr);
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(MustPut(e.get(), kTarget, StrCat("k", i), MakeVersion(100 + i, 1, "v1")),
              HintPut::kStored);
  }
  ASSERT_EQ(MustPut(e.get(), kTarget, "k0", MakeVersion(500, 1, "newer")), HintPut::kStored);
  ASSERT_TRUE(*e->DeleteHintIfSame(kTarget, "k1", MakeVersion(101, 1, "v1")));
  std::map<NodeId, HintTargetBytes> before = Targets(e.get());
  disk.PowerLoss(&e);
  e = disk.Open(SyncMode::kAlways);
  ASSERT_NE(e, nullptr);
  std::map<std::string, Version> hints = AllHints(e.get(), kTarget);
  EXPECT_EQ(hints.size(), 39u);
  EXPECT_EQ(hints.at("k0").value, "newer");
  EXPECT_EQ(hints.count("k1"), 0u);
  EXPECT_EQ(hints.at("k39").timestamp, 139u);
  std::map<NodeId, HintTargetBytes> after = Targets(e.get());
  EXPECT_EQ(after[kTarget].hints, before[kTarget].hints);
  EXPECT_EQ(after[kTarget].bytes, before[kTarget].bytes);
}

TEST(HintStore, NoneModeTalliesMatchWhatSurvivedPowerLoss) {
  // Goal: in `none` unsynced hints vanish on power loss, and the tallies rebuilt at Open count
  // exactly what survived (here: what the explicit WAL sync covered).
  FaultyDisk disk;
  auto e = disk.Open(SyncMode::kNone);
  ASSERT_NE(e, nullptr);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(MustPut(e.get(), kTarget, StrCat("a", i), MakeVersion(100, 1, "v")),
              HintPut::kStored);
  }
  ASSERT_TRUE(e->SyncWal().ok());
  std::map<NodeId, HintTargetBytes> synced = Targets(e.get());
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(MustPut(e.get(), kTarget, StrCat("b", i), MakeVersion(100, 1, "v")),
              HintPut::kStored);
  }
  disk.PowerLoss(&e);
  e = disk.Open(SyncMode::kNone);
  ASSERT_NE(e, nullptr);
  std::map<NodeId, HintTargetBytes> after = Targets(e.get());
  EXPECT_EQ(after[kTarget].hints, 10u);
  EXPECT_EQ(after[kTarget].bytes, synced[kTarget].bytes);
  EXPECT_EQ(AllHints(e.get(), kTarget).size(), 10u);
}

// Writes hints in the format-1 layout, as the engine before format 2 did, into a closed database.
void WriteSeqLayout(const std::string& dir,
                    const std::vector<std::tuple<NodeId, std::string, Version>>& hints) {
  internal::DbLayout layout = internal::MakeDbLayout(Options(dir));
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  ASSERT_TRUE(rocksdb::DB::Open(layout.db, dir, layout.column_families, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  uint64_t seq = 1;
  for (const auto& [target, key, version] : hints) {
    std::string k, v;
    internal::PutFixed64Be(&k, target);
    internal::PutFixed64Be(&k, seq++);
    internal::PutVarint64(&v, key.size());
    v.append(key);
    EncodeVersionTo(version, &v);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[internal::kHintsCfIndex], k, v).ok());
  }
  ASSERT_TRUE(
      db->Put(rocksdb::WriteOptions(), handles[internal::kClockCfIndex], "format_version", "1")
          .ok());
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
}

TEST(HintStore, MigratesTheSeqLayoutAtOpen) {
  // Goal: a format-1 database opens: its (target, seq) hints become one hint per (target, key)
  // holding the LWW winner with the losers' vectors absorbed, the tallies are exact, an 8-byte
  // data key (whose new hint key has the old key's length) survives the rewrite, the database is
  // format 2 afterwards, and a second open changes nothing.
  TempDir tmp;
  Open(Options(tmp.path())).reset();  // creates the families
  WriteSeqLayout(tmp.path(), {
                                 {kTarget, "a", MakeVersion(100, 1, "a1")},
                                 {kTarget, "b", MakeVersion(100, 1, "b1")},
                                 {kTarget, "a", MakeVersion(300, 2, "a3")},
                                 {kTarget, "a", MakeVersion(200, 3, "a2")},
                                 {kTarget + 1, "a", MakeVersion(50, 1, "other")},
                                 {kTarget, "8bytekey", MakeVersion(10, 1, "eight")},
                             });
  for (int round = 0; round < 2; ++round) {
    auto e = Open(Options(tmp.path()));
    ASSERT_NE(e, nullptr);
    std::map<std::string, Version> hints = AllHints(e.get(), kTarget);
    ASSERT_EQ(hints.size(), 3u) << "round " << round;
    EXPECT_EQ(hints.at("a").value, "a3");
    EXPECT_TRUE(hints.at("a").vv.Covers(1, 100));
    EXPECT_TRUE(hints.at("a").vv.Covers(3, 200));
    EXPECT_EQ(hints.at("b").value, "b1");
    EXPECT_EQ(hints.at("8bytekey").value, "eight");
    EXPECT_EQ(AllHints(e.get(), kTarget + 1).at("a").value, "other");
    std::map<NodeId, HintTargetBytes> targets = Targets(e.get());
    EXPECT_EQ(targets[kTarget].bytes, HintBytes("a", hints.at("a")) +
                                          HintBytes("b", hints.at("b")) +
                                          HintBytes("8bytekey", hints.at("8bytekey")));
    Result<std::optional<std::string>> format = e->LoadMeta("format_version");
    ASSERT_TRUE(format.ok() && format->has_value());
    EXPECT_EQ(**format, "2");
  }
}

TEST(HintStore, DISABLED_MeasureOpenScanOf100kHints) {
  // Not a timed test: prints how long Open's tally scan takes over 100k hints of 1 KiB values
  // (docs/performance.md). Run with --gtest_also_run_disabled_tests.
  TempDir tmp;
  constexpr int kHints = 100000;
  {
    auto e = Open(Options(tmp.path(), kNoLimit));
    const std::string value(1024, 'v');
    for (int i = 0; i < kHints; ++i) {
      ASSERT_EQ(MustPut(e.get(), 1 + i % 4, StrCat("key", i), MakeVersion(100, 1, value)),
                HintPut::kStored);
    }
  }
  TempDir empty;
  Open(Options(empty.path())).reset();
  const auto open_ms = [](const std::string& dir, uint64_t hints) {
    const auto t0 = std::chrono::steady_clock::now();
    auto e = Open(Options(dir, kNoLimit));
    const auto t1 = std::chrono::steady_clock::now();
    EXPECT_EQ(e->GetStats().hints, hints);
    return std::chrono::duration<double, std::milli>(t1 - t0).count();
  };
  for (int round = 0; round < 3; ++round) {
    const double with_hints = open_ms(tmp.path(), kHints);
    const double without = open_ms(empty.path(), 0);
    std::printf("{\"hints\": %d, \"open_ms\": %.1f, \"open_empty_ms\": %.1f}\n", kHints, with_hints,
                without);
  }
}

}  // namespace
}  // namespace causeway
