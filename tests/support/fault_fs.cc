#include "support/fault_fs.h"

#include <unistd.h>

#include <filesystem>

namespace causeway::testing {
namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

std::string ParentDir(const std::string& fname) {
  const size_t slash = fname.rfind('/');
  return slash == std::string::npos ? std::string(".") : fname.substr(0, slash);
}

std::string StripSlash(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// A writable file that reports appends and syncs to the file system's bookkeeping.
class TrackedFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedFile(std::unique_ptr<rocksdb::FSWritableFile> base, std::string fname,
              FaultInjectionFs* fs)
      : FSWritableFileOwnerWrapper(std::move(base)), fname_(std::move(fname)), fs_(fs) {}

  IOStatus Append(const Slice& data, const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = fs_->OnAppend(fname_, data.size());
    return s.ok() ? target()->Append(data, o, dbg) : s;
  }
  IOStatus Append(const Slice& data, const IOOptions& o, const rocksdb::DataVerificationInfo& info,
                  IODebugContext* dbg) override {
    IOStatus s = fs_->OnAppend(fname_, data.size());
    return s.ok() ? target()->Append(data, o, info, dbg) : s;
  }
  IOStatus PositionedAppend(const Slice&, uint64_t, const IOOptions&, IODebugContext*) override {
    return IOStatus::NotSupported("PositionedAppend is not tracked");
  }
  IOStatus PositionedAppend(const Slice&, uint64_t, const IOOptions&,
                            const rocksdb::DataVerificationInfo&, IODebugContext*) override {
    return IOStatus::NotSupported("PositionedAppend is not tracked");
  }
  IOStatus Truncate(uint64_t size, const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = target()->Truncate(size, o, dbg);
    if (s.ok()) fs_->OnTruncate(fname_, size);
    return s;
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* dbg) override {
    return Synced([&] { return target()->Sync(o, dbg); });
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    return Synced([&] { return target()->Fsync(o, dbg); });
  }
  IOStatus Flush(const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = fs_->OnAppend(fname_, 0);
    return s.ok() ? target()->Flush(o, dbg) : s;
  }

 private:
  template <typename F>
  IOStatus Synced(F sync) {
    uint64_t covered = 0;
    IOStatus s = fs_->BeforeSync(fname_, &covered);
    if (!s.ok()) return s;
    s = sync();
    if (s.ok()) fs_->AfterSync(fname_, covered);
    return s;
  }

  const std::string fname_;
  FaultInjectionFs* const fs_;
};

class TrackedDir final : public rocksdb::FSDirectoryWrapper {
 public:
  TrackedDir(std::unique_ptr<rocksdb::FSDirectory> base, std::string name, FaultInjectionFs* fs)
      : FSDirectoryWrapper(std::move(base)), name_(std::move(name)), fs_(fs) {}

  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = fs_->BeforeDirSync();
    if (s.ok()) s = FSDirectoryWrapper::Fsync(o, dbg);
    if (s.ok()) fs_->AfterDirSync(name_);
    return s;
  }
  IOStatus FsyncWithDirOptions(const IOOptions& o, IODebugContext* dbg,
                               const rocksdb::DirFsyncOptions& dir_opts) override {
    IOStatus s = fs_->BeforeDirSync();
    if (s.ok()) s = FSDirectoryWrapper::FsyncWithDirOptions(o, dbg, dir_opts);
    if (s.ok()) fs_->AfterDirSync(name_);
    return s;
  }

 private:
  const std::string name_;
  FaultInjectionFs* const fs_;
};

}  // namespace

FaultInjectionFs::FaultInjectionFs(const std::shared_ptr<rocksdb::FileSystem>& base)
    : FileSystemWrapper(base) {}

void FaultInjectionFs::SetActive(bool active) {
  std::lock_guard<std::mutex> lock(mu_);
  active_ = active;
}

void FaultInjectionFs::DropUnsyncedData() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, state] : files_) {
    std::error_code ec;
    if (unsynced_names_.count(name) != 0) {
      std::filesystem::remove(name, ec);
    } else if (std::filesystem::exists(name, ec) &&
               std::filesystem::file_size(name, ec) > state.synced) {
      std::filesystem::resize_file(name, state.synced, ec);
    }
  }
  files_.clear();
  unsynced_names_.clear();
}

void FaultInjectionFs::FailAfter(uint64_t successful_ops, FaultKind kind) {
  std::lock_guard<std::mutex> lock(mu_);
  ops_until_fault_ = static_cast<int64_t>(successful_ops);
  fault_kind_ = kind;
}

void FaultInjectionFs::ClearFaults() {
  std::lock_guard<std::mutex> lock(mu_);
  ops_until_fault_ = -1;
}

uint64_t FaultInjectionFs::injected_failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return injected_failures_;
}

uint64_t FaultInjectionFs::syncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syncs_;
}

IOStatus FaultInjectionFs::CheckFaultLocked() {
  if (!active_) return IOStatus::IOError("simulated power loss: the machine is off");
  if (ops_until_fault_ < 0) return IOStatus::OK();
  if (ops_until_fault_ > 0) {
    --ops_until_fault_;
    return IOStatus::OK();
  }
  ++injected_failures_;
  return fault_kind_ == FaultKind::kNoSpace ? IOStatus::NoSpace("injected: disk full")
                                            : IOStatus::IOError("injected I/O error");
}

IOStatus FaultInjectionFs::WrapNew(const std::string& fname, uint64_t existing_bytes, bool new_name,
                                   std::unique_ptr<rocksdb::FSWritableFile>* result) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = files_.try_emplace(fname);
    if (inserted || new_name) it->second = FileState{existing_bytes, existing_bytes};
    if (new_name) unsynced_names_.insert(fname);
  }
  *result = std::make_unique<TrackedFile>(std::move(*result), fname, this);
  return IOStatus::OK();
}

IOStatus FaultInjectionFs::NewWritableFile(const std::string& fname,
                                           const rocksdb::FileOptions& opts,
                                           std::unique_ptr<rocksdb::FSWritableFile>* result,
                                           IODebugContext* dbg) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!active_) return IOStatus::IOError("simulated power loss: the machine is off");
  }
  IOStatus s = target()->NewWritableFile(fname, opts, result, dbg);
  return s.ok() ? WrapNew(fname, 0, true, result) : s;
}

IOStatus FaultInjectionFs::ReopenWritableFile(const std::string& fname,
                                              const rocksdb::FileOptions& opts,
                                              std::unique_ptr<rocksdb::FSWritableFile>* result,
                                              IODebugContext* dbg) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!active_) return IOStatus::IOError("simulated power loss: the machine is off");
  }
  uint64_t size = 0;
  target()->GetFileSize(fname, IOOptions(), &size, dbg).PermitUncheckedError();
  IOStatus s = target()->ReopenWritableFile(fname, opts, result, dbg);
  return s.ok() ? WrapNew(fname, size, false, result) : s;
}

IOStatus FaultInjectionFs::ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                             const rocksdb::FileOptions& opts,
                                             std::unique_ptr<rocksdb::FSWritableFile>* result,
                                             IODebugContext* dbg) {
  return IOStatus::NotSupported("WAL recycling is not tracked");
}

IOStatus FaultInjectionFs::NewDirectory(const std::string& name, const IOOptions& io_opts,
                                        std::unique_ptr<rocksdb::FSDirectory>* result,
                                        IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSDirectory> base;
  IOStatus s = target()->NewDirectory(name, io_opts, &base, dbg);
  if (s.ok()) *result = std::make_unique<TrackedDir>(std::move(base), StripSlash(name), this);
  return s;
}

IOStatus FaultInjectionFs::DeleteFile(const std::string& fname, const IOOptions& options,
                                      IODebugContext* dbg) {
  IOStatus s = target()->DeleteFile(fname, options, dbg);
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    files_.erase(fname);
    unsynced_names_.erase(fname);
  }
  return s;
}

IOStatus FaultInjectionFs::RenameFile(const std::string& src, const std::string& dst,
                                      const IOOptions& options, IODebugContext* dbg) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!active_) return IOStatus::IOError("simulated power loss: the machine is off");
  }
  IOStatus s = target()->RenameFile(src, dst, options, dbg);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(src);
  FileState state;
  if (it != files_.end()) {
    state = it->second;
    files_.erase(it);
  } else {
    uint64_t size = 0;
    target()->GetFileSize(dst, IOOptions(), &size, dbg).PermitUncheckedError();
    state = FileState{size, size};
  }
  files_[dst] = state;
  unsynced_names_.erase(src);
  unsynced_names_.insert(dst);  // the new name is durable only once its directory is synced
  return s;
}

IOStatus FaultInjectionFs::OnAppend(const std::string& fname, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  IOStatus s = CheckFaultLocked();
  if (s.ok()) files_[fname].pos += bytes;
  return s;
}

IOStatus FaultInjectionFs::BeforeSync(const std::string& fname, uint64_t* covered) {
  std::lock_guard<std::mutex> lock(mu_);
  IOStatus s = CheckFaultLocked();
  if (s.ok()) *covered = files_[fname].pos;
  return s;
}

void FaultInjectionFs::AfterSync(const std::string& fname, uint64_t covered) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(fname);
  if (it != files_.end()) it->second.synced = std::max(it->second.synced, covered);
  ++syncs_;
}

void FaultInjectionFs::OnTruncate(const std::string& fname, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(fname);
  if (it == files_.end()) return;
  it->second.pos = size;
  it->second.synced = std::min(it->second.synced, size);
}

IOStatus FaultInjectionFs::BeforeDirSync() {
  std::lock_guard<std::mutex> lock(mu_);
  return CheckFaultLocked();
}

void FaultInjectionFs::AfterDirSync(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = unsynced_names_.begin(); it != unsynced_names_.end();) {
    it = ParentDir(*it) == dir ? unsynced_names_.erase(it) : std::next(it);
  }
}

std::unique_ptr<rocksdb::Env> NewFaultEnv(const std::shared_ptr<FaultInjectionFs>& fs) {
  return rocksdb::NewCompositeEnv(fs);
}

}  // namespace causeway::testing
