// Group commit (engine/internal/commit_queue.h) on real RocksDB: with `always`, concurrent
// writers share fsyncs, every acknowledged write survives a power loss (the fault-injecting FS
// drops everything unsynced), an error reaches every waiting write, and no write of a key is
// lost or reordered, also against the large-value path that reads before it writes.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "base/strings.h"
#include "engine/engine.h"
#include "support/fault_fs.h"
#include "support/temp_dir.h"

namespace causeway {
namespace {

using testing::FaultInjectionFs;
using testing::FaultKind;
using testing::TempDir;

constexpr NodeId kWriter = 7;
constexpr uint64_t kPeriodicSyncNeverMs = 3'600'000;
constexpr size_t kLargeValueBytes = 100 << 10;  // above the engine's large-value (blob) size

Version MakeVersion(Hlc ts, std::string value) {
  Version v;
  v.timestamp = ts;
  v.writer = kWriter;
  v.vv.Advance(kWriter, ts);
  v.value = std::move(value);
  return v;
}

class FaultyDisk {
 public:
  FaultyDisk() : fs_(std::make_shared<FaultInjectionFs>()), env_(testing::NewFaultEnv(fs_)) {}
  std::unique_ptr<Engine> Open() {
    EngineOptions o;
    o.dir = tmp_.Sub("db");
    o.sync = SyncMode::kAlways;
    o.periodic_sync_ms = kPeriodicSyncNeverMs;
    o.block_cache_bytes = 8 << 20;
    o.env = env_.get();
    Result<std::unique_ptr<Engine>> e = Engine::Open(o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(*e) : nullptr;
  }
  FaultInjectionFs* fs() { return fs_.get(); }

 private:
  TempDir tmp_;
  std::shared_ptr<FaultInjectionFs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
};

// Counts completions of ApplyAsync calls and waits for them (bounded in time).
class Waiter {
 public:
  Engine::ApplyDone Callback(std::function<void(const Result<ApplyResult>&)> also = nullptr) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++issued_;
    }
    return [this, also = std::move(also)](const Result<ApplyResult>& r) {
      if (also) also(r);
      std::lock_guard<std::mutex> lock(mu_);
      ++completed_;
      if (r.ok()) ++ok_;
      cv_.notify_all();
    };
  }
  // Waits until at most `pending` calls are outstanding; false on timeout.
  bool WaitPending(uint64_t pending) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30),
                        [&] { return issued_ - completed_ <= pending; });
  }
  uint64_t completed() {
    std::lock_guard<std::mutex> lock(mu_);
    return completed_;
  }
  uint64_t ok() {
    std::lock_guard<std::mutex> lock(mu_);
    return ok_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t issued_ = 0, completed_ = 0, ok_ = 0;
};

TEST(GroupCommit, OneSyncCoversManyWaitingWrites) {
  // Goal: writes issued without waiting for each other share fsyncs: the syncs the engine made
  // (and the WAL syncs the file system saw) are far fewer than the writes, all acknowledged.
  FaultyDisk disk;
  auto e = disk.Open();
  ASSERT_TRUE(e->AppliesAsync(MakeVersion(1, "v")));
  EXPECT_FALSE(e->AppliesAsync(MakeVersion(1, std::string(kLargeValueBytes, 'x'))));
  const uint64_t fs_syncs_before = disk.fs()->syncs();
  constexpr int kThreads = 4, kPerThread = 1000;
  Waiter waiter;
  std::vector<std::thread> writers;
  writers.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        e->ApplyAsync(StrCat("k", t, "-", i), MakeVersion(static_cast<Hlc>(i) + 1, "v"),
                      waiter.Callback());
      }
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_TRUE(waiter.WaitPending(0));
  constexpr uint64_t kWrites = uint64_t{kThreads} * kPerThread;
  EXPECT_EQ(waiter.ok(), kWrites);
  const EngineStats st = e->GetStats();
  EXPECT_EQ(st.applied, kWrites);
  EXPECT_EQ(st.group_commit_writes, kWrites);
  EXPECT_GT(st.group_commit_syncs, 0u);
  EXPECT_LT(st.group_commit_syncs * 10, kWrites) << "syncs " << st.group_commit_syncs;
  EXPECT_GT(st.group_commit_largest, 10u);
  EXPECT_LT((disk.fs()->syncs() - fs_syncs_before) * 10, kWrites);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; i += 97) {
      Result<std::optional<Version>> got = e->Get(StrCat("k", t, "-", i));
      ASSERT_TRUE(got.ok() && got->has_value());
    }
  }
}

TEST(GroupCommit, BlockingApplyGoesThroughTheQueueToo) {
  // Goal: plain Apply in `always` is group-committed too (threads blocked on it share syncs).
  FaultyDisk disk;
  auto e = disk.Open();
  constexpr int kThreads = 8, kPerThread = 100;
  std::vector<std::thread> writers;
  writers.reserve(kThreads);
  std::atomic<int> failed{0};
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!e->Apply(StrCat("b", t, "-", i), MakeVersion(static_cast<Hlc>(i) + 1, "v")).ok()) {
          ++failed;
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(failed.load(), 0);
  const EngineStats st = e->GetStats();
  EXPECT_EQ(st.group_commit_writes, uint64_t{kThreads} * kPerThread);
  EXPECT_LE(st.group_commit_syncs, st.group_commit_writes);
  EXPECT_GE(st.group_commit_largest, 1u);
}

TEST(GroupCommit, EveryAcknowledgedWriteSurvivesPowerLoss) {
  // Goal: concurrent writers, power cut mid-run: every write whose completion said ok is there
  // after the restart, with its own timestamp; writes cut off get an error, none is left hanging.
  FaultyDisk disk;
  auto e = disk.Open();
  constexpr int kThreads = 3;
  std::mutex acked_mu;
  std::vector<std::pair<std::string, Hlc>> acked;
  Waiter waiter;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  writers.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 200000 && !stop.load(); ++i) {
        const std::string key = StrCat("w", t, "-", i);
        const Hlc ts = 1000 + static_cast<Hlc>(i);
        e->ApplyAsync(key, MakeVersion(ts, key),
                      waiter.Callback([&, key, ts](const Result<ApplyResult>& r) {
                        if (!r.ok()) return;
                        std::lock_guard<std::mutex> lock(acked_mu);
                        acked.emplace_back(key, ts);
                      }));
        if (i % 256 == 0) waiter.WaitPending(4096);  // stay well inside the queue bound
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  disk.fs()->SetActive(false);  // the power goes while writes are queued and syncing
  stop.store(true);
  for (auto& w : writers) w.join();
  ASSERT_TRUE(waiter.WaitPending(0)) << "a write was never completed";
  e.reset();
  disk.fs()->DropUnsyncedData();
  disk.fs()->SetActive(true);
  e = disk.Open();
  ASSERT_NE(e, nullptr);
  ASSERT_GT(acked.size(), 100u);
  for (const auto& [key, ts] : acked) {
    Result<std::optional<Version>> got = e->Get(key);
    ASSERT_TRUE(got.ok() && got->has_value()) << "lost acknowledged " << key;
    EXPECT_EQ((*got)->timestamp, ts);
  }
}

TEST(GroupCommit, AnErrorReachesEveryWaiter) {
  // Goal: when the disk fails, every write waiting in the queue (and every later one) gets the
  // typed error; none is reported written and none is left without an answer.
  FaultyDisk disk;
  auto e = disk.Open();
  ASSERT_TRUE(e->Apply("before", MakeVersion(1, "v")).ok());
  disk.fs()->FailAfter(0, FaultKind::kIoError);
  constexpr int kWrites = 500;
  std::mutex codes_mu;
  std::vector<ErrorCode> codes;
  Waiter waiter;
  std::vector<std::thread> writers;
  writers.reserve(2);
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kWrites / 2; ++i) {
        e->ApplyAsync(StrCat("f", t, "-", i), MakeVersion(2, "v"),
                      waiter.Callback([&](const Result<ApplyResult>& r) {
                        std::lock_guard<std::mutex> lock(codes_mu);
                        codes.push_back(r.ok() ? ErrorCode::kOk : r.status().code());
                      }));
      }
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_TRUE(waiter.WaitPending(0));
  EXPECT_EQ(waiter.completed(), uint64_t{kWrites});
  EXPECT_EQ(waiter.ok(), 0u);
  for (ErrorCode c : codes) EXPECT_EQ(c, ErrorCode::kIoError);
  EXPECT_EQ(e->health().code(), ErrorCode::kIoError);
  disk.fs()->ClearFaults();
  Result<std::optional<Version>> got = e->Get("before");
  ASSERT_TRUE(got.ok() && got->has_value());
}

TEST(GroupCommit, NoWriteOfAKeyIsLostOrReordered) {
  // Goal: per key, queued versions are written in order and none is lost, also when a large
  // version (which reads the stored versions, then writes a full value hiding them) follows a
  // queued small one of the same key: the newer small version must still win.
  TempDir tmp;
  EngineOptions o;
  o.dir = tmp.Sub("db");
  o.sync = SyncMode::kAlways;
  o.periodic_sync_ms = kPeriodicSyncNeverMs;
  auto opened = Engine::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Engine> e = std::move(*opened);
  constexpr int kKeys = 20, kRounds = 30;
  Waiter waiter;
  const std::string large(kLargeValueBytes, 'L');
  for (int round = 0; round < kRounds; ++round) {
    for (int k = 0; k < kKeys; ++k) {
      const std::string key = StrCat("o", k);
      // A newer small version queued, then an older large one applied at once.
      const Hlc small_ts = 100 * (static_cast<Hlc>(round) + 1) + 50;
      const Hlc large_ts = 100 * (static_cast<Hlc>(round) + 1);
      e->ApplyAsync(key, MakeVersion(small_ts, StrCat("s", round)), waiter.Callback());
      ASSERT_TRUE(e->Apply(key, MakeVersion(large_ts, large)).ok());
    }
  }
  ASSERT_TRUE(waiter.WaitPending(0));
  EXPECT_EQ(waiter.ok(), uint64_t{kKeys} * kRounds);
  for (int k = 0; k < kKeys; ++k) {
    Result<std::optional<Version>> got = e->Get(StrCat("o", k));
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->timestamp, Hlc{100 * kRounds + 50});
    EXPECT_EQ((*got)->value, StrCat("s", kRounds - 1));
  }
  // And many queued versions of one key: the last (newest) one wins, none reported lost.
  for (int i = 1; i <= 2000; ++i) {
    e->ApplyAsync("hot", MakeVersion(10000 + static_cast<Hlc>(i), StrCat("h", i)),
                  waiter.Callback());
  }
  ASSERT_TRUE(waiter.WaitPending(0));
  Result<std::optional<Version>> hot = e->Get("hot");
  ASSERT_TRUE(hot.ok() && hot->has_value());
  EXPECT_EQ((*hot)->value, "h2000");
  EXPECT_EQ(e->GetStats().applied, uint64_t{kKeys} * kRounds * 2 + 2000);
}

}  // namespace
}  // namespace causeway
