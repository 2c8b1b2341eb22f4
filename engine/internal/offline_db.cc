// The offline tool's shared database access: engine/internal/offline_db.h.
#include "engine/internal/offline_db.h"

#include <filesystem>

#include "base/strings.h"
#include "engine/internal/rocksdb_status.h"

namespace causeway::internal {

namespace {
constexpr size_t kOfflineBlockCacheBytes = 8 << 20;
}  // namespace

Status DirLock::Take(const std::string& dir) {
  Release();
  if (!std::filesystem::exists(dir + "/CURRENT")) {
    return Status::InvalidArgument(StrCat("no database in ", dir, " (no CURRENT file)"));
  }
  rocksdb::Status s = rocksdb::Env::Default()->LockFile(dir + "/LOCK", &lock_);
  if (!s.ok()) {
    lock_ = nullptr;
    return Status::Unavailable(
        StrCat("data dir ", dir, " is in use by a running node (its RocksDB LOCK is held)"));
  }
  return Status::Ok();
}

void DirLock::Release() {
  if (lock_ != nullptr) rocksdb::Env::Default()->UnlockFile(lock_).PermitUncheckedError();
  lock_ = nullptr;
}

void ReadOnlyDb::Close() {
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  handles.clear();
  db.reset();
}

DbLayout OfflineLayout(const std::string& dir, std::shared_ptr<rocksdb::MergeOperator> merge) {
  EngineOptions eo;
  eo.dir = dir;
  eo.block_cache_bytes = kOfflineBlockCacheBytes;
  eo.storage_profile = StorageProfile::kSmall;
  DbLayout layout = MakeDbLayout(eo);
  layout.db.create_if_missing = false;
  layout.db.create_missing_column_families = false;
  layout.column_families[kDataCfIndex].options.merge_operator = std::move(merge);
  return layout;
}

Status OpenReadOnly(DbLayout& layout, const std::string& dir, rocksdb::WALRecoveryMode mode,
                    ReadOnlyDb* out) {
  layout.db.wal_recovery_mode = mode;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::OpenForReadOnly(layout.db, dir, layout.column_families, &out->handles, &raw);
  if (!s.ok()) return FromRocksDb(s, "open read-only");
  out->db.reset(raw);
  return Status::Ok();
}

}  // namespace causeway::internal
