// Disk faults (docs/design.md, "Disk faults"): the free-space reserve refuses data writes before
// RocksDB reaches ENOSPC and lets meta writes through; injected ENOSPC and EIO fail-stop writes
// without a crash while reads go on; a kNoSpace fail-stop ends by itself once the disk has room,
// an EIO one only with a restart; the info LOG survives failing writes.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "base/strings.h"
#include "engine/engine.h"
#include "engine/internal/info_log.h"
#include "support/fault_fs.h"
#include "support/temp_dir.h"

namespace causeway {
namespace {

using testing::FaultInjectionFs;
using testing::FaultKind;
using testing::TempDir;

constexpr NodeId kWriter = 7;
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kTinyFsBytes = 96 * kMiB;  // like the 96 MiB tmpfs of the process tests
// What the default reserve comes to on it: 5 %.
constexpr uint64_t kTinyFsReserveBytes = kTinyFsBytes / 100 * kDiskReservePercentDefault;
constexpr uint64_t kRoomyFreeBytes = 60 * kMiB;
constexpr uint64_t kFullFreeBytes = 256 << 10;  // what the acceptance ballast leaves
// Bound of a wait for the disk thread (it samples every kDiskSampleIntervalMs).
constexpr auto kDiskThreadWait = std::chrono::milliseconds(10 * kDiskSampleIntervalMs);

Version MakeVersion(Hlc ts, std::string value) {
  Version v;
  v.timestamp = ts;
  v.writer = kWriter;
  v.vv.Advance(kWriter, ts);
  v.value = std::move(value);
  return v;
}

// A file system whose free space the test sets; counts how often the engine looked.
struct FakeDiskSpace {
  std::atomic<uint64_t> free_bytes{kRoomyFreeBytes};
  std::atomic<uint64_t> samples{0};

  DiskSpaceFn Fn() {
    return [this](const std::string&) -> Result<DiskSpace> {
      samples.fetch_add(1);
      return DiskSpace{.free_bytes = free_bytes.load(), .total_bytes = kTinyFsBytes};
    };
  }
};

// One engine on a fault-injecting file system with a fake free-space reading.
class Disk {
 public:
  Disk() : fs_(std::make_shared<FaultInjectionFs>()), env_(testing::NewFaultEnv(fs_)) {}

  // `thread`: the disk thread samples and resumes by itself (periodic_sync_ms below
  // kSyncerOffPeriodMs); without it only CheckDisk does.
  std::unique_ptr<Engine> Open(SyncMode mode, bool thread) {
    EngineOptions o;
    o.dir = tmp_.Sub("db");
    o.sync = mode;
    o.periodic_sync_ms = thread ? kPeriodicSyncMsDefault : kSyncerOffPeriodMs;
    o.block_cache_bytes = 8 << 20;
    o.env = env_.get();
    o.disk_space = space.Fn();
    Result<std::unique_ptr<Engine>> e = Engine::Open(o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(*e) : nullptr;
  }

  FaultInjectionFs* fs() { return fs_.get(); }
  std::string dir() const { return tmp_.Sub("db"); }
  FakeDiskSpace space;

 private:
  TempDir tmp_;
  std::shared_ptr<FaultInjectionFs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
};

bool Present(Engine* e, const std::string& key) {
  Result<std::optional<Version>> got = e->Get(key);
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  return got.ok() && got->has_value();
}

// The number of the newest WAL file (NNNNNN.log) in `dir`.
uint64_t NewestWal(const std::string& dir) {
  uint64_t newest = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 4 && name.ends_with(".log")) {
      newest = std::max<uint64_t>(newest, std::stoull(name.substr(0, name.size() - 4)));
    }
  }
  return newest;
}

// Bounded wait for `done`, polling.
template <typename F>
bool WaitFor(F done) {
  const auto deadline = std::chrono::steady_clock::now() + kDiskThreadWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

TEST(DiskReserve, BelowTheReserveDataWritesAreRefusedMetaWritesAndReadsGoOn) {
  // Goal: with 256 KiB free on a 96 MiB disk (default reserve 4.8 MiB), Apply and PutHint are
  // refused with kNoSpace saying how much is free, the reserve and that nothing was written;
  // nothing is written indeed; the HLC ceiling and meta records are still stored; reads work;
  // the engine is not fail-stopped; the stats show it. Room again: writes resume.
  Disk disk;
  auto e = disk.Open(SyncMode::kAlways, /*thread=*/false);
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->Apply("before", MakeVersion(10, "v")).ok());
  EXPECT_EQ(e->GetStats().disk.reserve_bytes, kTinyFsReserveBytes);

  disk.space.free_bytes = kFullFreeBytes;
  e->CheckDisk();
  Result<ApplyResult> refused = e->Apply("during", MakeVersion(20, "v"));
  ASSERT_EQ(refused.status().code(), ErrorCode::kNoSpace) << refused.status().ToString();
  const std::string& why = refused.status().message();
  EXPECT_NE(why.find("only 0.2 MiB free on " + disk.dir()), std::string::npos) << why;
  EXPECT_NE(why.find("below the reserve of 4.8 MiB"), std::string::npos) << why;
  EXPECT_NE(why.find("nothing was written"), std::string::npos) << why;
  EXPECT_EQ(e->PutHint(3, "hinted", MakeVersion(21, "v")).status().code(), ErrorCode::kNoSpace);
  EXPECT_FALSE(Present(e.get(), "during"));
  EXPECT_TRUE(Present(e.get(), "before"));
  EXPECT_TRUE(e->StoreHlcCeilingMs(123456).ok());
  EXPECT_TRUE(e->StoreMeta("members", "a,b,c").ok());
  EXPECT_TRUE(e->SyncWal().ok());
  EXPECT_TRUE(e->health().ok()) << "the reserve refuses writes, it does not fail-stop";
  EngineStats st = e->GetStats();
  EXPECT_TRUE(st.disk.below_reserve);
  EXPECT_EQ(st.disk.free_bytes, kFullFreeBytes);
  EXPECT_EQ(st.disk.refused_writes, 2u);
  EXPECT_TRUE(st.fail_stop.ok());

  disk.space.free_bytes = kRoomyFreeBytes;
  e->CheckDisk();
  EXPECT_TRUE(e->Apply("after", MakeVersion(30, "v")).ok());
  EXPECT_TRUE(e->PutHint(3, "hinted", MakeVersion(31, "v")).ok());
  EXPECT_FALSE(e->GetStats().disk.below_reserve);
  EXPECT_EQ(*e->LoadHlcCeilingMs(), 123456u);
}

TEST(DiskReserve, TheDiskThreadLiftsTheRefusalBySelf) {
  // Goal: without any call from outside, writes are refused within a sample interval of the
  // disk filling up and taken again within one of space coming back.
  Disk disk;
  auto e = disk.Open(SyncMode::kPeriodic, /*thread=*/true);
  ASSERT_NE(e, nullptr);
  disk.space.free_bytes = kFullFreeBytes;
  EXPECT_TRUE(WaitFor([&] { return !e->Apply("k", MakeVersion(10, "v")).ok(); }));
  EXPECT_EQ(e->Apply("k", MakeVersion(11, "v")).status().code(), ErrorCode::kNoSpace);
  disk.space.free_bytes = kRoomyFreeBytes;
  EXPECT_TRUE(WaitFor([&] { return e->Apply("k", MakeVersion(12, "v")).ok(); }));
}

TEST(DiskReserve, SamplesByBytesWrittenNotOnEveryWrite) {
  // Goal: between the disk thread's samples, statvfs is read once per kDiskResampleBytes of
  // admitted writes, not per write; and a write the estimate no longer covers reads the disk
  // before it is refused (the estimate counts admitted bytes, the disk may have more room).
  Disk disk;
  auto e = disk.Open(SyncMode::kNone, /*thread=*/false);
  ASSERT_NE(e, nullptr);
  const std::string value(64 << 10, 'x');
  constexpr int kWrites = 160;  // 10 MiB
  const uint64_t before = disk.space.samples.load();
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_TRUE(e->Apply(StrCat("k", i), MakeVersion(10 + i, value)).ok());
  }
  const uint64_t samples = disk.space.samples.load() - before;
  EXPECT_GE(samples, 9u);
  EXPECT_LE(samples, 12u) << "one statvfs per MiB written, not one per write";

  // Room for one 64 KiB write above the reserve (plus what the memtable will write).
  e->CheckDisk();
  const uint64_t pending = e->GetStats().disk.pending_flush_bytes;
  disk.space.free_bytes = kTinyFsReserveBytes + pending + (100 << 10);
  e->CheckDisk();
  ASSERT_TRUE(e->Apply("room-1", MakeVersion(500, value)).ok());
  const uint64_t at_second = disk.space.samples.load();
  // The estimate (100 KiB less 64 KiB) does not cover it: the disk is read again, and since the
  // fake disk did not shrink, the write goes in.
  EXPECT_TRUE(e->Apply("room-2", MakeVersion(501, value)).ok());
  EXPECT_EQ(disk.space.samples.load(), at_second + 1);
}

TEST(DiskFailStop, InjectedNoSpaceFailStopsWithoutACrashAndResumesOnceThereIsRoom) {
  // Goal: ENOSPC from the file system (the reserve did not see it coming) fail-stops writes with
  // kNoSpace in every sync mode, meta writes included, reads go on; while the disk is still below
  // the reserve nothing resumes; once it has room, CheckDisk resumes (DB::Resume plus a probe),
  // every write acknowledged before or after is there, and after a restart too.
  for (SyncMode mode : {SyncMode::kAlways, SyncMode::kPeriodic, SyncMode::kNone}) {
    SCOPED_TRACE(SyncModeName(mode));
    Disk disk;
    auto e = disk.Open(mode, /*thread=*/false);
    ASSERT_NE(e, nullptr);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(e->Apply(StrCat("a", i), MakeVersion(10, "v")).ok());
    const uint64_t wal_before = NewestWal(disk.dir());
    disk.fs()->FailAfter(0, FaultKind::kNoSpace);
    Status failed;
    for (int i = 0; i < 10 && failed.ok(); ++i) {
      Result<ApplyResult> r = e->Apply(StrCat("b", i), MakeVersion(20, "v"));
      failed = r.ok() ? e->SyncWal() : r.status();  // buffered modes meet the disk at the sync
    }
    ASSERT_EQ(failed.code(), ErrorCode::kNoSpace) << failed.ToString();
    EXPECT_EQ(e->health().code(), ErrorCode::kNoSpace);
    EXPECT_EQ(e->StoreMeta("x", "y").code(), ErrorCode::kNoSpace);
    EXPECT_TRUE(Present(e.get(), "a0"));

    disk.space.free_bytes = kFullFreeBytes;  // a really full disk: space not back yet
    disk.fs()->ClearFaults();
    e->CheckDisk();
    EXPECT_EQ(e->health().code(), ErrorCode::kNoSpace);
    EXPECT_EQ(e->Apply("c", MakeVersion(30, "v")).status().code(), ErrorCode::kNoSpace);

    disk.space.free_bytes = kRoomyFreeBytes;
    e->CheckDisk();
    ASSERT_TRUE(e->health().ok()) << e->health().ToString();
    EngineStats st = e->GetStats();
    EXPECT_EQ(st.disk_resumes, 1u);
    // The resume flushed the memtables and moved to a new WAL: nothing is appended after a
    // record the failed write may have left half-written.
    EXPECT_GT(NewestWal(disk.dir()), wal_before);
    EXPECT_GE(st.fail_stops, 1u);
    EXPECT_TRUE(st.fail_stop.ok());
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(e->Apply(StrCat("d", i), MakeVersion(40, "v")).ok());
    ASSERT_TRUE(e->StoreMeta("x", "y").ok());
    ASSERT_TRUE(e->SyncWal().ok());
    e.reset();
    e = disk.Open(mode, /*thread=*/false);
    ASSERT_NE(e, nullptr);
    for (int i = 0; i < 20; ++i) {
      EXPECT_TRUE(Present(e.get(), StrCat("a", i))) << i;
      EXPECT_TRUE(Present(e.get(), StrCat("d", i))) << i;
    }
  }
}

TEST(DiskFailStop, TheDiskThreadResumesAfterInjectedNoSpace) {
  // Goal: with the disk thread (as `causeway serve` runs), a kNoSpace fail-stop ends by itself
  // within a few sample intervals once the file system writes again.
  Disk disk;
  auto e = disk.Open(SyncMode::kAlways, /*thread=*/true);
  ASSERT_NE(e, nullptr);
  disk.fs()->FailAfter(0, FaultKind::kNoSpace);
  EXPECT_EQ(e->Apply("k", MakeVersion(10, "v")).status().code(), ErrorCode::kNoSpace);
  disk.fs()->ClearFaults();
  EXPECT_TRUE(WaitFor([&] { return e->health().ok(); })) << e->health().ToString();
  EXPECT_TRUE(e->Apply("k", MakeVersion(11, "v")).ok());
}

TEST(DiskFailStop, InjectedIoErrorLastsUntilRestart) {
  // Goal: EIO fail-stops with kIoError, is never resumed by the disk watch (however much room
  // there is: after a failed fsync the page cache is not to be trusted), and a kIoError that
  // follows a kNoSpace replaces it; a restart brings writes back with the acknowledged ones.
  Disk disk;
  auto e = disk.Open(SyncMode::kAlways, /*thread=*/false);
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->Apply("a", MakeVersion(10, "v")).ok());
  disk.fs()->FailAfter(0, FaultKind::kNoSpace);
  EXPECT_EQ(e->Apply("b", MakeVersion(20, "v")).status().code(), ErrorCode::kNoSpace);
  disk.fs()->FailAfter(0, FaultKind::kIoError);
  e->CheckDisk();  // the resume meets the EIO
  disk.fs()->ClearFaults();
  e->CheckDisk();
  EXPECT_EQ(e->health().code(), ErrorCode::kIoError) << e->health().ToString();
  EXPECT_EQ(e->Apply("c", MakeVersion(30, "v")).status().code(), ErrorCode::kIoError);
  EXPECT_TRUE(Present(e.get(), "a"));
  EXPECT_EQ(e->GetStats().disk_resumes, 0u);
  e.reset();
  e = disk.Open(SyncMode::kAlways, /*thread=*/false);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->health().ok());
  EXPECT_TRUE(Present(e.get(), "a"));
  EXPECT_TRUE(e->Apply("d", MakeVersion(40, "v")).ok());
}

TEST(InfoLog, FailingWritesDropLinesAndTheNextLineTriesAgain) {
  // Goal: RocksDB's own logger aborts (assert in WritableFileWriter) on the line after a failed
  // flush; ours drops a line it cannot write, counts it, and writes the next one once the disk
  // takes writes again.
  TempDir tmp;
  auto fs = std::make_shared<FaultInjectionFs>();
  internal::InfoLog log(fs.get(), tmp.path());
  rocksdb::Log(&log, "first line %d", 1);
  fs->FailAfter(0, FaultKind::kNoSpace);
  for (int i = 0; i < 100; ++i) rocksdb::Log(&log, "lost line %d", i);
  EXPECT_EQ(log.dropped_lines(), 100u);
  fs->ClearFaults();
  rocksdb::Log(&log, "back again %d", 2);
  const std::string text = [&] {
    std::string bytes;
    EXPECT_TRUE(rocksdb::ReadFileToString(fs.get(), tmp.Sub("LOG"), &bytes).ok());
    return bytes;
  }();
  EXPECT_NE(text.find("first line 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("back again 2\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("lost line"), std::string::npos) << text;
}

TEST(InfoLog, RollsToLogOldAtItsLimit) {
  // Goal: LOG never grows past kInfoLogBytesMax: it rolls to LOG.old; a long line is cut.
  TempDir tmp;
  auto fs = rocksdb::FileSystem::Default();
  internal::InfoLog log(fs.get(), tmp.path());
  const std::string line(kInfoLogLineBytesMax * 2, 'y');
  const uint64_t lines = kInfoLogBytesMax / kInfoLogLineBytesMax + 4;
  for (uint64_t i = 0; i < lines; ++i) rocksdb::Log(&log, "%s", line.c_str());
  EXPECT_TRUE(std::filesystem::exists(tmp.Sub("LOG.old")));
  EXPECT_LE(std::filesystem::file_size(tmp.Sub("LOG")), kInfoLogBytesMax);
  EXPECT_LE(std::filesystem::file_size(tmp.Sub("LOG.old")), kInfoLogBytesMax);
  EXPECT_EQ(log.dropped_lines(), 0u);
}

}  // namespace
}  // namespace causeway
