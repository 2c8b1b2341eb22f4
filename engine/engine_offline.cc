// Engine: the offline tool's access to a stopped node's data dir (engine/engine.h, CheckDataDir
// and OpenOffline; docs/operations.md, "After a crash: the offline tool").
#include <rocksdb/sst_file_reader.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "base/strings.h"
#include "engine/internal/engine_impl.h"

namespace causeway {

using internal::FromRocksDb;

namespace {

// cluster/startup.h kMetaNodeName (engine/ cannot include cluster/).
constexpr char kNodeNameMeta[] = "node_name";
constexpr uint64_t kProgressEveryKeys = 1 << 15;
constexpr size_t kCheckBlockCacheBytes = 8 << 20;
constexpr size_t kCheckReadaheadBytes = 2 << 20;

// The record is whole: checksum, then structure.
bool RecordIsSound(std::string_view bytes) {
  std::string_view value;
  return internal::RecordChecksumMatches(bytes) && internal::DecodeVersionView(bytes, &value).ok();
}

// The check's merge operator: folds like the engine's, but a damaged operand is noted with its key
// and left out, so that the scan goes on and every damaged record is reported, each by its key
// (the engine's own operator fails the whole read instead). Same name as the engine's.
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
    if (good.empty()) return true;  // nothing sound: an empty value, which the scan skips
    return lww_.Fold(good, false, &out->new_value, nullptr);
  }
  const char* Name() const override { return "causeway.LwwMerge"; }

  void Note(const rocksdb::Slice& data_key) const {
    std::lock_guard<std::mutex> lock(mu_);
    bad_.insert(data_key.ToString());
  }
  std::set<std::string> TakeBad() const {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(bad_);
  }

 private:
  internal::LwwMergeOperator lww_;
  mutable std::mutex mu_;
  mutable std::set<std::string> bad_;  // data keys
};

std::string UserKey(const std::string& data_key) {
  return data_key.size() > internal::kTokenBytes ? data_key.substr(internal::kTokenBytes)
                                                 : data_key;
}

// Holds a data dir's RocksDB LOCK (the same fcntl lock a running node's RocksDB holds).
class DirLock {
 public:
  ~DirLock() {
    if (lock_ != nullptr) rocksdb::Env::Default()->UnlockFile(lock_).PermitUncheckedError();
  }
  Status Take(const std::string& dir) {
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

 private:
  rocksdb::FileLock* lock_ = nullptr;
};

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file(ec) && (ext == ".sst" || ext == ".blob" || ext == ".log")) {
      total += e.file_size(ec);
    }
  }
  return total;
}

struct ReadOnlyDb {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  ~ReadOnlyDb() { Close(); }
  void Close() {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    handles.clear();
    db.reset();
  }
};

Status OpenReadOnly(internal::DbLayout& layout, const std::string& dir,
                    rocksdb::WALRecoveryMode mode, ReadOnlyDb* out) {
  layout.db.wal_recovery_mode = mode;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::OpenForReadOnly(layout.db, dir, layout.column_families, &out->handles, &raw);
  if (!s.ok()) return FromRocksDb(s, "open read-only");
  out->db.reset(raw);
  return Status::Ok();
}

// Reads every data SST file directly, checksums off, so that the records of a block whose
// checksum fails are still decoded one by one: each damaged record is named by its key.
void ScanDataFilesRaw(rocksdb::DB* db, const rocksdb::Options& options, const CheckingMerge& merge,
                      std::vector<OfflineCorruption>* out) {
  std::vector<rocksdb::LiveFileMetaData> files;
  db->GetLiveFilesMetaData(&files);
  for (const rocksdb::LiveFileMetaData& f : files) {
    if (f.column_family_name != internal::kDataCf) continue;
    rocksdb::SstFileReader reader(options);
    const std::string path = f.db_path + f.name;
    if (rocksdb::Status s = reader.Open(path); !s.ok()) {
      out->push_back({"", f.name, StrCat("unreadable: ", s.ToString())});
      continue;
    }
    rocksdb::ReadOptions ro;
    ro.verify_checksums = false;
    std::unique_ptr<rocksdb::Iterator> it(reader.NewIterator(ro));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view value(it->value().data(), it->value().size());
      if (it->key().size() <= internal::kTokenBytes || (!value.empty() && !RecordIsSound(value))) {
        merge.Note(it->key());
      }
    }
    if (!it->status().ok()) {
      out->push_back(
          {"", f.name, StrCat("records past this point unreadable: ", it->status().ToString())});
    }
  }
}

}  // namespace

Result<OfflineCheckReport> CheckDataDir(const std::string& dir, Hlc watermark, bool all_blocks,
                                        const OfflineProgressFn& progress) {
  DirLock lock;
  if (Status s = lock.Take(dir); !s.ok()) return s;
  EngineOptions eo;
  eo.dir = dir;
  eo.block_cache_bytes = kCheckBlockCacheBytes;
  eo.storage_profile = StorageProfile::kSmall;
  internal::DbLayout layout = internal::MakeDbLayout(eo);
  layout.db.create_if_missing = false;
  layout.db.create_missing_column_families = false;
  auto merge = std::make_shared<CheckingMerge>();
  layout.column_families[internal::kDataCfIndex].options.merge_operator = merge;

  OfflineCheckReport report;
  report.file_bytes = DirBytes(dir);
  ReadOnlyDb ro_db;
  Status open = OpenReadOnly(layout, dir, rocksdb::WALRecoveryMode::kAbsoluteConsistency, &ro_db);
  if (open.code() == ErrorCode::kCorruption) {
    // A damaged WAL record: report it, then read the rest without it.
    report.corrupt.push_back({"", "WAL", open.message()});
    ro_db.Close();
    open = OpenReadOnly(layout, dir, rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords, &ro_db);
  }
  if (!open.ok()) return open;
  rocksdb::DB* db = ro_db.db.get();

  bool damaged_files = false;
  if (rocksdb::Status s = all_blocks ? db->VerifyChecksum() : rocksdb::Status::OK(); !s.ok()) {
    report.corrupt.push_back({"", "files", StrCat("checksum verification failed: ", s.ToString())});
    damaged_files = true;
  }

  {
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    ro.fill_cache = false;
    ro.readahead_size = kCheckReadaheadBytes;
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(ro, ro_db.handles[internal::kDataCfIndex]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      const std::string_view value(it->value().data(), it->value().size());
      if (value.empty()) continue;  // every record of the key was damaged: noted by the merge
      if (k.size() <= internal::kTokenBytes || !RecordIsSound(value)) {
        merge->Note(k);
        continue;
      }
      Result<VersionHeader> h = DecodeVersionHeader(value);
      ++report.keys;
      report.bytes += k.size() + value.size();
      if (h->tombstone) {
        ++report.tombstones;
        if (h->timestamp < watermark) ++report.tombstones_purgeable;
      }
      if (progress && report.keys % kProgressEveryKeys == 0) {
        progress(internal::DecodeFixed64Be(k.data()), report.keys);
      }
    }
    if (!it->status().ok()) {
      report.corrupt.push_back({"", "data", StrCat("scan stopped: ", it->status().ToString())});
      damaged_files = true;
    }
  }
  if (damaged_files) {
    rocksdb::Options options(layout.db, layout.column_families[internal::kDataCfIndex].options);
    ScanDataFilesRaw(db, options, *merge, &report.corrupt);
  }
  for (const std::string& data_key : merge->TakeBad()) {
    report.corrupt.push_back({UserKey(data_key), "data", "record checksum or format is wrong"});
  }

  {
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(ro, ro_db.handles[internal::kHintsCfIndex]));
    std::map<NodeId, OfflineHintTarget> targets;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      if (k.size() <= internal::kTargetBytes) {
        report.corrupt.push_back({"", "hints", "hint key too short"});
        continue;
      }
      const NodeId target = internal::DecodeFixed64Be(k.data());
      const std::string_view value(it->value().data(), it->value().size());
      if (!RecordIsSound(value)) {
        report.corrupt.push_back({std::string(ToView(k).substr(internal::kTargetBytes)), "hints",
                                  StrCat("hint for node ", target, " is damaged")});
        continue;
      }
      OfflineHintTarget& t = targets[target];
      t.target = target;
      ++t.hints;
      t.bytes += k.size() + value.size();
    }
    if (!it->status().ok()) {
      report.corrupt.push_back({"", "hints", StrCat("scan stopped: ", it->status().ToString())});
    }
    for (const auto& [id, t] : targets) report.hints.push_back(t);
  }

  rocksdb::ColumnFamilyHandle* clock = ro_db.handles[internal::kClockCfIndex];
  std::string bytes;
  if (db->Get(rocksdb::ReadOptions(), clock, kHlcCeilingName, &bytes).ok() && bytes.size() == 8) {
    report.hlc_ceiling_ms = internal::DecodeFixed64Le(bytes.data());
  }
  if (db->Get(rocksdb::ReadOptions(), clock, kNodeNameMeta, &bytes).ok()) {
    report.node_name = bytes;
  }
  return report;
}

Result<std::unique_ptr<Engine>> OpenOffline(const std::string& dir) {
  {
    DirLock lock;  // a clear error for a dir in use, before RocksDB's own
    if (Status s = lock.Take(dir); !s.ok()) return s;
  }
  EngineOptions o;
  o.dir = dir;
  o.sync = SyncMode::kNone;  // the tool calls SyncWal once at the end
  o.periodic_sync_ms = kSyncerOffPeriodMs;
  o.disk_reserve_bytes = 0;
  Result<std::unique_ptr<Engine>> engine = Engine::Open(o);
  if (!engine.ok() && engine.status().message().find("lock") != std::string::npos) {
    return Status::Unavailable(
        StrCat("data dir ", dir, " is in use by a running node (its RocksDB LOCK is held)"));
  }
  return engine;
}

}  // namespace causeway
