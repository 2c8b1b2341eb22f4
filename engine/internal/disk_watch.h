// DiskWatch: the free space of the engine's file system, and the reserve that data writes may not
// eat into (docs/design.md, "Disk faults").
//
// statvfs is too costly to call on every write, so free space is sampled: every
// kDiskSampleIntervalMs by the thread StartThread runs, and inline by the writer whose admitted
// bytes since the last sample pass kDiskResampleBytes. Between samples the estimate is
//   free (statvfs f_bavail) - bytes the memtables will write when flushed - bytes admitted since,
// so a flush that would reach ENOSPC is refused in advance, not after. AdmitData refuses a data
// write with kNoSpace while that estimate is below reserve + the write's size; meta writes do not
// ask, so the reserve keeps room for them.
//
// The reserve is the configured bytes, or for kDiskReserveAuto min(kDiskReserveBytesDefault,
// kDiskReservePercentDefault % of the file system's size) at each sample; 0 admits everything.
//
// Thread-safe: any thread may call any method; the sampling thread calls `after_sample` (the
// engine's resume) after each of its samples, never concurrently with itself.
#pragma once

#include <rocksdb/listener.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "base/status.h"
#include "engine/engine.h"

namespace causeway::internal {

// The statvfs of `dir`'s file system; an error keeps the previous sample.
Result<DiskSpace> StatDiskSpace(const std::string& dir);

class DiskWatch {
 public:
  // `space`: null = StatDiskSpace. `pending_bytes`: what the memtables will write when flushed.
  DiskWatch(std::string dir, uint64_t reserve_option, DiskSpaceFn space,
            std::function<uint64_t()> pending_bytes);
  ~DiskWatch();  // stops the thread
  DiskWatch(const DiskWatch&) = delete;
  DiskWatch& operator=(const DiskWatch&) = delete;

  void StartThread(std::function<void()> after_sample);
  void Sample();
  // Ok, or kNoSpace ("only N MiB free on DIR, below the reserve of M MiB; nothing was written;
  // ...") without counting the write.
  [[nodiscard]] Status AdmitData(uint64_t bytes);
  // The estimate is above the reserve (with reserve 0: above 0): writes may resume.
  bool HasRoom() const;
  DiskReport Report() const;

 private:
  uint64_t EstimatedFree() const;
  void SampleLocked();  // REQUIRES(sample_mu_)
  void TrySampleInline();
  void Run(const std::function<void()>& after_sample);

  const std::string dir_;
  const uint64_t reserve_option_;
  const DiskSpaceFn space_;
  const std::function<uint64_t()> pending_bytes_;

  std::mutex sample_mu_;  // one sample at a time (a writer skips its inline sample if busy)
  std::atomic<bool> sampled_{false};
  std::atomic<uint64_t> free_bytes_{0};     // f_bavail * f_frsize at the last sample
  std::atomic<uint64_t> total_bytes_{0};    // f_blocks * f_frsize
  std::atomic<uint64_t> pending_{0};        // memtable bytes at the last sample
  std::atomic<uint64_t> reserve_bytes_{0};  // resolved at each sample
  std::atomic<uint64_t> admitted_{0};       // data bytes admitted since the last sample
  std::atomic<uint64_t> refused_{0};

  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool stop_ = false;  // GUARDED_BY(thread_mu_)
  std::thread thread_;
};

// Hands RocksDB's background errors (flush, compaction, WAL, MANIFEST) to `on_error` as they
// happen, so that the engine fail-stops (and health() says why) without waiting for a write to
// meet the error. Turns off RocksDB's own recovery from NoSpace: the engine resumes by itself once
// DiskWatch::HasRoom, instead of a flush that cannot fit being retried every few seconds.
class BackgroundErrorListener final : public rocksdb::EventListener {
 public:
  explicit BackgroundErrorListener(std::function<void(const Status&)> on_error)
      : on_error_(std::move(on_error)) {}
  const char* Name() const override { return "CausewayBackgroundErrorListener"; }
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override;
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason reason, rocksdb::Status error,
                            bool* auto_recovery) override;

 private:
  const std::function<void(const Status&)> on_error_;
};

}  // namespace causeway::internal
