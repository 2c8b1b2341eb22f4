#include "engine/internal/disk_watch.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/limits.h"
#include "base/strings.h"
#include "engine/internal/rocksdb_status.h"

namespace causeway::internal {
namespace {

// "4.8 MiB": one decimal, enough to tell 256 KiB from nothing.
std::string Mib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

std::string_view ReasonName(rocksdb::BackgroundErrorReason reason) {
  switch (reason) {
    case rocksdb::BackgroundErrorReason::kFlush:
    case rocksdb::BackgroundErrorReason::kFlushNoWAL:
      return "background flush";
    case rocksdb::BackgroundErrorReason::kCompaction:
      return "background compaction";
    case rocksdb::BackgroundErrorReason::kWriteCallback:
    case rocksdb::BackgroundErrorReason::kMemTable:
      return "write";
    case rocksdb::BackgroundErrorReason::kManifestWrite:
    case rocksdb::BackgroundErrorReason::kManifestWriteNoWAL:
      return "MANIFEST write";
  }
  return "background work";
}

uint64_t SaturatingSub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

}  // namespace

Result<DiskSpace> StatDiskSpace(const std::string& dir) {
  struct statvfs st = {};
  if (::statvfs(dir.c_str(), &st) != 0) {
    return Status::IoError(StrCat("statvfs ", dir, ": ", std::strerror(errno)));
  }
  return DiskSpace{.free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize,
                   .total_bytes = static_cast<uint64_t>(st.f_blocks) * st.f_frsize};
}

DiskWatch::DiskWatch(std::string dir, uint64_t reserve_option, DiskSpaceFn space,
                     std::function<uint64_t()> pending_bytes)
    : dir_(std::move(dir)),
      reserve_option_(reserve_option),
      space_(space ? std::move(space) : DiskSpaceFn(StatDiskSpace)),
      pending_bytes_(std::move(pending_bytes)) {}

DiskWatch::~DiskWatch() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stop_ = true;
  }
  thread_cv_.notify_all();
  thread_.join();
}

void DiskWatch::StartThread(std::function<void()> after_sample) {
  thread_ = std::thread([this, after_sample = std::move(after_sample)] { Run(after_sample); });
}

void DiskWatch::Run(const std::function<void()>& after_sample) {
  const auto interval = std::chrono::milliseconds(kDiskSampleIntervalMs);
  std::unique_lock<std::mutex> lock(thread_mu_);
  while (!thread_cv_.wait_for(lock, interval, [this] { return stop_; })) {
    lock.unlock();
    Sample();
    after_sample();
    lock.lock();
  }
}

void DiskWatch::Sample() {
  std::lock_guard<std::mutex> lock(sample_mu_);
  SampleLocked();
}

void DiskWatch::SampleLocked() {
  Result<DiskSpace> space = space_(dir_);
  if (!space.ok()) return;  // keep the last sample (or admit everything before the first)
  const uint64_t pending = pending_bytes_ ? pending_bytes_() : 0;
  uint64_t reserve = reserve_option_;
  if (reserve == kDiskReserveAuto) {
    reserve =
        std::min(kDiskReserveBytesDefault, space->total_bytes / 100 * kDiskReservePercentDefault);
  }
  free_bytes_.store(space->free_bytes, std::memory_order_relaxed);
  total_bytes_.store(space->total_bytes, std::memory_order_relaxed);
  pending_.store(pending, std::memory_order_relaxed);
  reserve_bytes_.store(reserve, std::memory_order_relaxed);
  admitted_.store(0, std::memory_order_relaxed);
  sampled_.store(true, std::memory_order_release);
}

uint64_t DiskWatch::EstimatedFree() const {
  return SaturatingSub(
      free_bytes_.load(std::memory_order_relaxed),
      pending_.load(std::memory_order_relaxed) + admitted_.load(std::memory_order_relaxed));
}

void DiskWatch::TrySampleInline() {
  std::unique_lock<std::mutex> lock(sample_mu_, std::try_to_lock);
  if (lock.owns_lock()) SampleLocked();  // else another thread is sampling right now
}

Status DiskWatch::AdmitData(uint64_t bytes) {
  if (reserve_option_ == 0) return Status::Ok();
  if (!sampled_.load(std::memory_order_acquire)) Sample();
  if (!sampled_.load(std::memory_order_acquire)) return Status::Ok();  // statvfs fails: no check
  const uint64_t reserve = reserve_bytes_.load(std::memory_order_relaxed);
  if (EstimatedFree() < reserve + bytes && admitted_.load(std::memory_order_relaxed) > 0) {
    TrySampleInline();  // the estimate rests on counted bytes: look at the disk itself once
  }
  const uint64_t free = EstimatedFree();
  if (free < reserve + bytes) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    const uint64_t pending = pending_.load(std::memory_order_relaxed);
    return Status::NoSpace(
        StrCat("only ", Mib(free_bytes_.load(std::memory_order_relaxed)), " free on ", dir_,
               ", below the reserve of ", Mib(reserve),
               pending > 0 ? StrCat(" plus the ", Mib(pending), " the memtables will write") : "",
               "; nothing was written; free space, then writes resume by themselves"));
  }
  if (admitted_.fetch_add(bytes, std::memory_order_relaxed) + bytes >= kDiskResampleBytes) {
    TrySampleInline();
  }
  return Status::Ok();
}

bool DiskWatch::HasRoom() const {
  if (!sampled_.load(std::memory_order_acquire)) return true;
  return EstimatedFree() > reserve_bytes_.load(std::memory_order_relaxed);
}

DiskReport DiskWatch::Report() const {
  DiskReport r;
  r.free_bytes = free_bytes_.load(std::memory_order_relaxed);
  r.total_bytes = total_bytes_.load(std::memory_order_relaxed);
  r.pending_flush_bytes = pending_.load(std::memory_order_relaxed);
  r.reserve_bytes = reserve_option_ == 0 ? 0 : reserve_bytes_.load(std::memory_order_relaxed);
  r.below_reserve = reserve_option_ != 0 && !HasRoom();
  r.refused_writes = refused_.load(std::memory_order_relaxed);
  return r;
}

void BackgroundErrorListener::OnBackgroundError(rocksdb::BackgroundErrorReason reason,
                                                rocksdb::Status* error) {
  if (error == nullptr || error->ok()) return;
  on_error_(FromRocksDb(*error, ReasonName(reason)));
}

void BackgroundErrorListener::OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason /*reason*/,
                                                   rocksdb::Status error, bool* auto_recovery) {
  error.PermitUncheckedError();
  if (auto_recovery != nullptr) *auto_recovery = false;  // the engine resumes (CheckDisk)
}

}  // namespace causeway::internal
