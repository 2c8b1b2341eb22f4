// Crash tests over the fault-injecting file system (tests/support/fault_fs.h): simulated power
// loss per durability mode, the HLC across restarts, and fail-stop on injected I/O errors.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "base/strings.h"
#include "engine/engine.h"
#include "support/fault_fs.h"
#include "support/manual_clock.h"
#include "support/temp_dir.h"

namespace causeway {
namespace {

using testing::FaultInjectionFs;
using testing::FaultKind;
using testing::ManualClock;
using testing::TempDir;

constexpr uint64_t kT0Ms = 1'700'000'000'000;
constexpr NodeId kWriter = 42;
// A syncer that runs (ceiling renewals) but whose periodic sync never comes within a test.
constexpr uint64_t kPeriodicSyncNeverMs = 3'600'000;

Version MakeVersion(Hlc ts, std::string value) {
  Version v;
  v.timestamp = ts;
  v.writer = kWriter;
  v.vv.Advance(kWriter, ts);
  v.value = std::move(value);
  return v;
}

std::unique_ptr<HybridClock> OpenClock(PhysicalClock* wall, ClockStore* store) {
  Result<std::unique_ptr<HybridClock>> c = HybridClock::Open(wall, store);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

// One node's disk behind a fault-injecting file system.
class FaultyDisk {
 public:
  FaultyDisk() : fs_(std::make_shared<FaultInjectionFs>()), env_(testing::NewFaultEnv(fs_)) {}

  std::unique_ptr<Engine> Open(SyncMode mode, uint64_t periodic_sync_ms = kPeriodicSyncNeverMs) {
    EngineOptions o;
    o.dir = tmp_.Sub("db");
    o.sync = mode;
    o.periodic_sync_ms = periodic_sync_ms;
    o.block_cache_bytes = 8 << 20;
    o.env = env_.get();
    Result<std::unique_ptr<Engine>> e = Engine::Open(o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(*e) : nullptr;
  }

  // The machine loses power: nothing more reaches the disk, then what was not synced vanishes.
  void PowerLoss(std::unique_ptr<Engine>* engine) {
    fs_->SetActive(false);
    engine->reset();
    fs_->DropUnsyncedData();
    fs_->SetActive(true);
  }

  FaultInjectionFs* fs() { return fs_.get(); }

 private:
  TempDir tmp_;
  std::shared_ptr<FaultInjectionFs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
};

int CountPresent(Engine* e, const std::string& prefix, int n) {
  int present = 0;
  for (int i = 0; i < n; ++i) {
    Result<std::optional<Version>> got = e->Get(prefix + std::to_string(i));
    EXPECT_TRUE(got.ok());
    if (got.ok() && got->has_value()) ++present;
  }
  return present;
}

void WriteBatchOfKeys(Engine* e, const std::string& prefix, int n, Hlc ts) {
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(e->Apply(prefix + std::to_string(i), MakeVersion(ts, "v")).ok());
  }
}

TEST(PowerLoss, NoneModeLosesEverythingUnsynced) {
  // Goal: the fault FS really drops unsynced data: `none` with no sync loses every write, and
  // writes before an explicit SyncWal() survive.
  FaultyDisk disk;
  auto e = disk.Open(SyncMode::kNone);
  WriteBatchOfKeys(e.get(), "a", 100, 10);
  disk.PowerLoss(&e);
  e = disk.Open(SyncMode::kNone);
  EXPECT_EQ(CountPresent(e.get(), "a", 100), 0);
  WriteBatchOfKeys(e.get(), "b", 100, 20);
  ASSERT_TRUE(e->SyncWal().ok());
  WriteBatchOfKeys(e.get(), "c", 100, 30);
  disk.PowerLoss(&e);
  e = disk.Open(SyncMode::kNone);
  EXPECT_EQ(CountPresent(e.get(), "b", 100), 100);
  EXPECT_EQ(CountPresent(e.get(), "c", 100), 0);
}

TEST(PowerLoss, AlwaysModeLosesNoAcknowledgedWrite) {
  // Goal: with concurrent writers and the power cut mid-run, every acknowledged write of
  // `always` is there after the restart, and the HLC restarts above every stamp handed out.
  FaultyDisk disk;
  ManualClock wall(kT0Ms);
  auto e = disk.Open(SyncMode::kAlways);
  auto clock = OpenClock(&wall, e.get());
  constexpr int kThreads = 4;
  std::vector<std::vector<std::pair<std::string, Hlc>>> acked(kThreads);
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 100000 && !stop.load(); ++i) {
        Result<Hlc> ts = clock->Now();
        if (!ts.ok()) return;
        const std::string key = StrCat("w", t, "-", i);
        if (!e->Apply(key, MakeVersion(*ts, key)).ok()) return;
        acked[t].emplace_back(key, *ts);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  disk.fs()->SetActive(false);  // power cut while the writers run
  stop.store(true);
  for (auto& w : writers) w.join();
  const Hlc last = clock->Last();
  clock.reset();
  disk.PowerLoss(&e);
  wall.Set(kT0Ms - 3'600'000);  // and the wall clock comes back an hour behind
  e = disk.Open(SyncMode::kAlways);
  size_t total = 0;
  for (const auto& list : acked) {
    for (const auto& [key, ts] : list) {
      Result<std::optional<Version>> got = e->Get(key);
      ASSERT_TRUE(got.ok() && got->has_value()) << "lost acknowledged " << key;
      EXPECT_EQ((*got)->timestamp, ts);
      ++total;
    }
  }
  EXPECT_GT(total, 0u);
  auto clock2 = OpenClock(&wall, e.get());
  EXPECT_GT(*clock2->Now(), last);
}

TEST(PowerLoss, PeriodicModeLosesOnlyWritesSinceLastSync) {
  // Goal: `periodic` keeps everything up to its last WAL sync; only later writes may be lost.
  FaultyDisk disk;
  auto e = disk.Open(SyncMode::kPeriodic);
  WriteBatchOfKeys(e.get(), "a", 200, 10);
  ASSERT_TRUE(e->SyncWal().ok());  // what the background syncer does every second
  WriteBatchOfKeys(e.get(), "b", 200, 20);
  disk.PowerLoss(&e);
  e = disk.Open(SyncMode::kPeriodic);
  EXPECT_EQ(CountPresent(e.get(), "a", 200), 200);
  EXPECT_EQ(CountPresent(e.get(), "b", 200), 0);  // nothing synced them
}

TEST(PowerLoss, PeriodicBackgroundSyncerBoundsTheLoss) {
  // Goal: the background syncer alone makes earlier writes durable within its period.
  FaultyDisk disk;
  auto e = disk.Open(SyncMode::kPeriodic, 50);
  WriteBatchOfKeys(e.get(), "a", 200, 10);
  const uint64_t syncs = disk.fs()->syncs();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (disk.fs()->syncs() < syncs + 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(disk.fs()->syncs(), syncs + 2) << "background syncer did not run";
  disk.PowerLoss(&e);
  e = disk.Open(SyncMode::kPeriodic, 50);
  EXPECT_EQ(CountPresent(e.get(), "a", 200), 200);
}

TEST(PowerLoss, HlcNeverGoesBackwardsInAnyMode) {
  // Goal: in every mode, with the background syncer renewing the ceiling and without it (the
  // simulator's configuration), after repeated power losses with the wall clock set back each
  // time, the first stamp after a restart is above every stamp handed out before.
  for (uint64_t period_ms : {kPeriodicSyncNeverMs, kSyncerOffPeriodMs}) {
    for (SyncMode mode : {SyncMode::kAlways, SyncMode::kPeriodic, SyncMode::kNone}) {
      SCOPED_TRACE(std::string(SyncModeName(mode)) + " period " + std::to_string(period_ms));
      FaultyDisk disk;
      ManualClock wall(kT0Ms);
      Hlc last = 0;
      for (int round = 0; round < 3; ++round) {
        auto e = disk.Open(mode, period_ms);
        auto clock = OpenClock(&wall, e.get());
        Hlc first = *clock->Now();
        EXPECT_GT(first, last) << "round " << round;
        for (int i = 0; i < 150; ++i) {
          Hlc ts = *clock->Now();
          ASSERT_TRUE(e->Apply(StrCat("k", i), MakeVersion(ts, "v")).ok());
          wall.Advance(10);  // 1.5 s of wall time per round: the ceiling is renewed
        }
        last = clock->Last();
        clock.reset();
        disk.PowerLoss(&e);
        wall.Set(kT0Ms - 1000 * (round + 1));
      }
    }
  }
}

TEST(PowerLoss, RequestedButNotDurableCeilingIsNeverReliedOn) {
  // Goal: a renewal that was requested but had not become durable when the power failed is never
  // relied on: the clock keeps stamping below the durable ceiling, refuses (error, no stamp) to
  // pass it when it cannot renew, and after the restart, with the wall clock set back, the
  // stored ceiling is the old durable one and the first stamp is above every earlier one.
  for (uint64_t period_ms : {kPeriodicSyncNeverMs, kSyncerOffPeriodMs}) {
    for (SyncMode mode : {SyncMode::kAlways, SyncMode::kPeriodic, SyncMode::kNone}) {
      SCOPED_TRACE(std::string(SyncModeName(mode)) + " period " + std::to_string(period_ms));
      FaultyDisk disk;
      ManualClock wall(kT0Ms);
      auto e = disk.Open(mode, period_ms);
      auto clock = OpenClock(&wall, e.get());  // durable ceiling: kT0Ms + lead
      const uint64_t durable_ms = kT0Ms + kHlcCeilingLeadMs;
      ASSERT_TRUE(clock->Now().ok());
      disk.fs()->SetActive(false);  // the power is failing: nothing reaches the disk any more
      wall.Set(durable_ms - kHlcCeilingRenewMs);  // Now() asks for a renewal...
      ASSERT_TRUE(clock->Now().ok());
      wall.Set(durable_ms - 1);  // ...and still stamps below the durable ceiling
      Result<Hlc> below = clock->Now();
      ASSERT_TRUE(below.ok());
      EXPECT_EQ(HlcPhysicalMs(*below), durable_ms - 1);
      wall.Set(durable_ms);  // passing it needs a durable renewal, which cannot happen
      EXPECT_FALSE(clock->Now().ok());
      EXPECT_EQ(clock->Last(), *below);
      clock.reset();
      disk.PowerLoss(&e);
      wall.Set(kT0Ms - 3'600'000);
      e = disk.Open(mode, period_ms);
      EXPECT_EQ(*e->LoadHlcCeilingMs(), durable_ms);
      auto clock2 = OpenClock(&wall, e.get());
      EXPECT_GT(*clock2->Now(), *below);
    }
  }
}

TEST(Syncer, NoneModeSyncsTheWalOnlyForACeilingRenewal) {
  // Goal: in `none` the syncer syncs nothing on its own (no spurious syncs while idle); a
  // requested ceiling is made durable by one WAL sync, which makes earlier writes durable too.
  FaultyDisk disk;
  auto e = disk.Open(SyncMode::kNone);
  WriteBatchOfKeys(e.get(), "a", 100, 10);
  const uint64_t syncs = disk.fs()->syncs();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(disk.fs()->syncs(), syncs);
  const uint64_t ceiling_ms = kT0Ms + kHlcCeilingLeadMs;
  e->RequestHlcCeilingMs(ceiling_ms);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (e->DurableHlcCeilingMs() < ceiling_ms && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(e->DurableHlcCeilingMs(), ceiling_ms);
  EXPECT_GT(disk.fs()->syncs(), syncs);
  disk.PowerLoss(&e);
  e = disk.Open(SyncMode::kNone);
  EXPECT_EQ(*e->LoadHlcCeilingMs(), ceiling_ms);
  EXPECT_EQ(CountPresent(e.get(), "a", 100), 100);
}

TEST(FailStop, InjectedErrorsAreTypedAndRefuseLaterWrites) {
  // Goal: an I/O error on the write path comes back typed, later writes are refused with the
  // same error even once the disk recovers, reads keep working, and a restart brings the node
  // back with its acknowledged writes. (A full disk resumes by itself: disk_fault_test.cc.)
  struct Case {
    FaultKind kind;
    ErrorCode code;
    SyncMode mode;
    uint64_t ok_ops;
  };
  for (const Case& c : {Case{FaultKind::kIoError, ErrorCode::kIoError, SyncMode::kAlways, 0},
                        Case{FaultKind::kIoError, ErrorCode::kIoError, SyncMode::kAlways, 2},
                        Case{FaultKind::kIoError, ErrorCode::kIoError, SyncMode::kNone, 0},
                        Case{FaultKind::kIoError, ErrorCode::kIoError, SyncMode::kPeriodic, 0}}) {
    SCOPED_TRACE(std::string(SyncModeName(c.mode)) + " ok_ops " + std::to_string(c.ok_ops));
    FaultyDisk disk;
    auto e = disk.Open(c.mode);
    WriteBatchOfKeys(e.get(), "a", 10, 10);
    ASSERT_TRUE(e->SyncWal().ok());
    disk.fs()->FailAfter(c.ok_ops, c.kind);
    Status failed;
    for (int i = 0; i < 10 && failed.ok(); ++i) {
      Result<ApplyResult> r = e->Apply(StrCat("b", i), MakeVersion(20, "v"));
      if (r.ok() && c.mode != SyncMode::kAlways) {
        failed = e->SyncWal();  // buffered modes meet the disk at the sync
      } else if (!r.ok()) {
        failed = r.status();
      }
    }
    EXPECT_EQ(failed.code(), c.code) << failed.ToString();
    EXPECT_GT(disk.fs()->injected_failures(), 0u);
    disk.fs()->ClearFaults();
    EXPECT_EQ(e->Apply("c", MakeVersion(30, "v")).status().code(), c.code);
    EXPECT_EQ(e->health().code(), c.code);
    EXPECT_EQ(e->StoreMeta("x", "y").code(), c.code);
    EXPECT_EQ(e->SyncWal().code(), c.code);
    Result<std::optional<Version>> got = e->Get("a0");
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE(got->has_value());
    e.reset();
    e = disk.Open(c.mode);
    ASSERT_NE(e, nullptr);
    EXPECT_TRUE(e->health().ok());
    EXPECT_EQ(CountPresent(e.get(), "a", 10), 10);
    EXPECT_TRUE(e->Apply("d", MakeVersion(40, "v")).ok());
  }
}

}  // namespace
}  // namespace causeway
