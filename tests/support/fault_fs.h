// A fault-injecting RocksDB file system for crash and error tests (after LevelDB's
// fault_injection_test.cc and RocksDB's FaultInjectionTestFS, written for Causeway).
//
// It passes everything to the real file system and remembers, for every file written through it,
// how many bytes were appended and how many of them were synced, and which files were created or
// renamed since their directory was last synced. A simulated power loss then:
//   1. SetActive(false): the machine is off; every later append, sync, directory sync and file
//      creation fails with IOError, so nothing written after this point reaches the disk;
//   2. (the test destroys the engine: its shutdown writes fail);
//   3. DropUnsyncedData(): every tracked file is truncated to its last synced size, and every file
//      whose directory entry was never synced is deleted;
//   4. SetActive(true) and reopen.
// kill -9 cannot test this: the page cache survives a process crash.
//
// Error injection: FailAfter(n, kind) lets n more appends/syncs succeed and fails every later one
// with IOError (or IOError/NoSpace), until ClearFaults().
//
// Thread-safe.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace causeway::testing {

enum class FaultKind { kIoError, kNoSpace };

class FaultInjectionFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultInjectionFs(
      const std::shared_ptr<rocksdb::FileSystem>& base = rocksdb::FileSystem::Default());
  const char* Name() const override { return "CausewayFaultInjectionFs"; }

  void SetActive(bool active);
  void DropUnsyncedData();
  void FailAfter(uint64_t successful_ops, FaultKind kind);
  void ClearFaults();
  uint64_t injected_failures() const;
  uint64_t syncs() const;  // successful file syncs so far

  // ---- rocksdb::FileSystem ----
  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& io_opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;

  // ---- called by the tracked files and directories ----
  rocksdb::IOStatus OnAppend(const std::string& fname, uint64_t bytes);
  // Returns the position a sync starting now covers, or an error to return instead of syncing.
  rocksdb::IOStatus BeforeSync(const std::string& fname, uint64_t* covered);
  void AfterSync(const std::string& fname, uint64_t covered);
  void OnTruncate(const std::string& fname, uint64_t size);
  rocksdb::IOStatus BeforeDirSync();
  void AfterDirSync(const std::string& dir);

 private:
  struct FileState {
    uint64_t pos = 0;     // bytes appended
    uint64_t synced = 0;  // bytes known durable
  };
  rocksdb::IOStatus CheckFaultLocked();  // REQUIRES(mu_)
  rocksdb::IOStatus WrapNew(const std::string& fname, uint64_t existing_bytes, bool new_name,
                            std::unique_ptr<rocksdb::FSWritableFile>* result);

  mutable std::mutex mu_;
  bool active_ = true;                          // GUARDED_BY(mu_)
  std::map<std::string, FileState> files_;      // GUARDED_BY(mu_)
  std::set<std::string> unsynced_names_;        // GUARDED_BY(mu_)
  int64_t ops_until_fault_ = -1;                // GUARDED_BY(mu_): -1 = disarmed
  FaultKind fault_kind_ = FaultKind::kIoError;  // GUARDED_BY(mu_)
  uint64_t injected_failures_ = 0;              // GUARDED_BY(mu_)
  uint64_t syncs_ = 0;                          // GUARDED_BY(mu_)
};

// An Env whose files go through `fs` (threads and clocks from the default Env). Keep `fs` alive
// as long as the Env.
std::unique_ptr<rocksdb::Env> NewFaultEnv(const std::shared_ptr<FaultInjectionFs>& fs);

}  // namespace causeway::testing
