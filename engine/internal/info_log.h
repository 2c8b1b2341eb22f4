// InfoLog: the engine's own writer of RocksDB's info LOG (`<dir>/LOG`, the previous one kept as
// `LOG.old`).
//
// Why not RocksDB's: its logger (EnvLogger, RocksDB 7.8) writes through a WritableFileWriter that
// remembers a failed write, and the next line it logs after a failed flush trips
// `assert(sync_without_flush_called_)` in WritableFileWriter::AssertFalseAndGetStatusForPrevError.
// Debian's librocksdb keeps its assertions, so a full disk (ENOSPC on LOG) aborted the node
// (docs/design.md, "Disk faults"). This logger writes each line straight to the file, drops a
// line it cannot write (counted), and tries again with the next one: a full or failing disk
// loses log lines, never the process.
//
// Bounded: LOG rolls to LOG.old at kInfoLogBytesMax; a line longer than kInfoLogLineBytesMax is
// cut. Files go through the engine's rocksdb::FileSystem (tests see them on their fault-injecting
// one). Thread-safe.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <cstdarg>
#include <memory>
#include <mutex>
#include <string>

namespace causeway::internal {

class InfoLog final : public rocksdb::Logger {
 public:
  // Creates `dir` if missing, moves an existing LOG to LOG.old, opens a new LOG. Never fails: while
  // LOG cannot be opened, each line tries to open it again, and is dropped (counted) if it cannot.
  InfoLog(rocksdb::FileSystem* fs, const std::string& dir);
  ~InfoLog() override;
  InfoLog(const InfoLog&) = delete;
  InfoLog& operator=(const InfoLog&) = delete;

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override;
  void Flush() override {}  // every line is written when logged
  size_t GetLogFileSize() const override;

  uint64_t dropped_lines() const { return dropped_lines_.load(std::memory_order_relaxed); }

 private:
  // Closes LOG (if open), renames it to LOG.old and opens a new one. REQUIRES(mu_).
  void RollLocked();
  // Opens LOG again for appending, after it could not be opened or written. REQUIRES(mu_).
  void ReopenLocked();

  rocksdb::FileSystem* const fs_;
  const std::string path_;
  const std::string old_path_;
  mutable std::mutex mu_;
  std::unique_ptr<rocksdb::FSWritableFile> file_;  // GUARDED_BY(mu_); null: could not open
  uint64_t bytes_ = 0;                             // GUARDED_BY(mu_): written to LOG
  std::atomic<uint64_t> dropped_lines_{0};
};

}  // namespace causeway::internal
