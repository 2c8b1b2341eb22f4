#include "engine/internal/info_log.h"

#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "base/limits.h"

namespace causeway::internal {
namespace {

constexpr char kLogName[] = "/LOG";
constexpr char kOldLogName[] = "/LOG.old";

// "2026/12/01-12:44:11.435292 8201 " (what RocksDB's own LOG lines start with).
size_t FormatPrefix(char* out, size_t size) {
  struct timeval now = {};
  gettimeofday(&now, nullptr);
  struct tm local = {};
  localtime_r(&now.tv_sec, &local);
  const int n =
      std::snprintf(out, size, "%04d/%02d/%02d-%02d:%02d:%02d.%06ld %ld ", local.tm_year + 1900,
                    local.tm_mon + 1, local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec,
                    static_cast<long>(now.tv_usec), static_cast<long>(::gettid()));
  return n < 0 ? 0 : std::min(static_cast<size_t>(n), size - 1);
}

}  // namespace

InfoLog::InfoLog(rocksdb::FileSystem* fs, const std::string& dir)
    : fs_(fs), path_(dir + kLogName), old_path_(dir + kOldLogName) {
  fs_->CreateDirIfMissing(dir, rocksdb::IOOptions(), nullptr).PermitUncheckedError();
  std::lock_guard<std::mutex> lock(mu_);
  RollLocked();
}

InfoLog::~InfoLog() {
  std::lock_guard<std::mutex> lock(mu_);
  if (file_ != nullptr) file_->Close(rocksdb::IOOptions(), nullptr).PermitUncheckedError();
  file_.reset();
}

void InfoLog::RollLocked() {
  if (file_ != nullptr) file_->Close(rocksdb::IOOptions(), nullptr).PermitUncheckedError();
  file_.reset();
  bytes_ = 0;
  if (fs_->FileExists(path_, rocksdb::IOOptions(), nullptr).ok()) {
    fs_->RenameFile(path_, old_path_, rocksdb::IOOptions(), nullptr).PermitUncheckedError();
  }
  if (!fs_->NewWritableFile(path_, rocksdb::FileOptions(), &file_, nullptr).ok()) file_.reset();
}

void InfoLog::ReopenLocked() {
  if (!fs_->ReopenWritableFile(path_, rocksdb::FileOptions(), &file_, nullptr).ok()) file_.reset();
}

void InfoLog::Logv(const char* format, va_list ap) {
  char line[kInfoLogLineBytesMax];
  size_t n = FormatPrefix(line, sizeof(line));
  va_list copy;
  va_copy(copy, ap);
  const int body = std::vsnprintf(line + n, sizeof(line) - n, format, copy);
  va_end(copy);
  if (body > 0) n = std::min(n + static_cast<size_t>(body), sizeof(line) - 2);  // cut if longer
  if (n == 0 || line[n - 1] != '\n') line[n++] = '\n';
  std::lock_guard<std::mutex> lock(mu_);
  if (file_ == nullptr) ReopenLocked();
  if (file_ != nullptr && bytes_ + n > kInfoLogBytesMax) RollLocked();
  // A failed write leaves nothing to remember: the next line simply tries again.
  if (file_ == nullptr ||
      !file_->Append(rocksdb::Slice(line, n), rocksdb::IOOptions(), nullptr).ok()) {
    dropped_lines_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  bytes_ += n;
}

size_t InfoLog::GetLogFileSize() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

}  // namespace causeway::internal
