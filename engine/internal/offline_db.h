// What the offline tool's engine functions share (engine/engine_offline.cc: CheckDataDir;
// engine/engine_rebuild.cc: ReadKeysOffline, RebuildDataDir): a dir's RocksDB LOCK taken by hand,
// a read-only open of a stopped node's database, and the tolerant merge that names damaged
// records instead of failing the read. Not part of the API.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/merge_operator.h>

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/token.h"
#include "engine/internal/coding.h"
#include "engine/internal/keys.h"
#include "engine/internal/lww_merge.h"
#include "engine/internal/options.h"
#include "engine/internal/record.h"
#include "engine/record.h"

namespace causeway::internal {

// The record is whole: checksum, then structure.
inline bool RecordIsSound(std::string_view bytes) {
  std::string_view value;
  return RecordChecksumMatches(bytes) && DecodeVersionView(bytes, &value).ok();
}

// A data key is token(8, big-endian) + key, and the token is the key's: a damaged key byte (the
// record checksum does not cover the key) shows as a token that is not the key's.
inline bool DataKeyIsSound(std::string_view data_key) {
  return data_key.size() > kTokenBytes &&
         DecodeFixed64Be(data_key.data()) == TokenOf(data_key.substr(kTokenBytes));
}

inline std::string UserKey(std::string_view data_key) {
  return std::string(data_key.size() > kTokenBytes ? data_key.substr(kTokenBytes) : data_key);
}

// The offline tool's merge operator: folds like the engine's, but a damaged operand is noted with
// its key and left out, so that a scan goes on and every damaged record is reported, each by its
// key (the engine's own operator fails the whole read instead). Same name as the engine's.
class CheckingMerge final : public rocksdb::MergeOperator {
 public:
  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    std::vector<std::string_view> good;
    auto take = [&](const rocksdb::Slice& s) {
      const std::string_view bytes(s.data(), s.size());
      if (RecordIsSound(bytes)) {
        good.push_back(bytes);
      } else {
        Note(in.key);
      }
    };
    if (in.existing_value != nullptr) take(*in.existing_value);
    for (const rocksdb::Slice& op : in.operand_list) take(op);
    out->new_value.clear();
    if (good.empty()) return true;  // nothing sound: an empty value, which scans skip
    return lww_.Fold(good, false, &out->new_value, nullptr);
  }
  const char* Name() const override { return "causeway.LwwMerge"; }

  void Note(const rocksdb::Slice& data_key) const {
    std::lock_guard<std::mutex> lock(mu_);
    bad_.insert(data_key.ToString());
  }
  bool Noted(const std::string& data_key) const {
    std::lock_guard<std::mutex> lock(mu_);
    return bad_.count(data_key) != 0;
  }
  std::set<std::string> TakeBad() const {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(bad_);
  }

 private:
  LwwMergeOperator lww_;
  mutable std::mutex mu_;
  mutable std::set<std::string> bad_;  // data keys
};

// Holds a data dir's RocksDB LOCK (the same fcntl lock a running node's RocksDB holds).
class DirLock {
 public:
  DirLock() = default;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock() { Release(); }
  // kInvalidArgument for a dir with no database; kUnavailable ("in use") for a locked one.
  Status Take(const std::string& dir);
  void Release();

 private:
  rocksdb::FileLock* lock_ = nullptr;
};

struct ReadOnlyDb {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  ReadOnlyDb() = default;
  ReadOnlyDb(const ReadOnlyDb&) = delete;
  ReadOnlyDb& operator=(const ReadOnlyDb&) = delete;
  ~ReadOnlyDb() { Close(); }
  void Close();
};

// The engine's layout for a stopped node's dir (small caches, nothing created) with `merge` on the
// data family.
DbLayout OfflineLayout(const std::string& dir, std::shared_ptr<rocksdb::MergeOperator> merge);

// Opens `dir` read-only: WAL replayed into memory in `mode`, nothing written.
Status OpenReadOnly(DbLayout& layout, const std::string& dir, rocksdb::WALRecoveryMode mode,
                    ReadOnlyDb* out);

}  // namespace causeway::internal
