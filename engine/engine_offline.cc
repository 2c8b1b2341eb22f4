// Engine: the offline tool's access to a stopped node's data dir (engine/engine.h, CheckDataDir
// and OpenOffline; docs/operations.md, "After a crash: the offline tool").
#include <rocksdb/sst_file_reader.h>
#include <rocksdb/wal_filter.h>
#include <rocksdb/write_batch.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "base/strings.h"
#include "engine/internal/engine_impl.h"
#include "engine/internal/offline_db.h"

namespace causeway {

using internal::FromRocksDb;

namespace {

// cluster/startup.h kMetaNodeName (engine/ cannot include cluster/).
constexpr char kNodeNameMeta[] = "node_name";
constexpr uint64_t kProgressEveryKeys = 1 << 15;
constexpr size_t kCheckReadaheadBytes = 2 << 20;
// A WAL damage report names at most this many keys of each whole record next to it, and at most
// this many gaps.
constexpr size_t kWalKeysShown = 8;
constexpr size_t kWalGapsMax = 16;

using internal::CheckingMerge;
using internal::DataKeyIsSound;
using internal::DirLock;
using internal::OpenReadOnly;
using internal::ReadOnlyDb;
using internal::RecordIsSound;
using internal::UserKey;

OfflineCorruption Damage(std::string key, std::string where, std::string reason) {
  OfflineCorruption c;
  c.key = std::move(key);
  c.where = std::move(where);
  c.reason = std::move(reason);
  return c;
}

// The data keys of a WAL record's batch (at most kWalKeysShown), and its sequence range.
struct WalRecordSeen {
  uint64_t log_number = 0;
  uint64_t first_seq = 0;
  uint64_t count = 0;
  std::vector<std::string> keys;
};

class DataKeys final : public rocksdb::WriteBatch::Handler {
 public:
  DataKeys(uint32_t data_cf, std::vector<std::string>* out) : data_cf_(data_cf), out_(out) {}
  rocksdb::Status PutCF(uint32_t cf, const rocksdb::Slice& key, const rocksdb::Slice&) override {
    Take(cf, key);
    return rocksdb::Status::OK();
  }
  rocksdb::Status MergeCF(uint32_t cf, const rocksdb::Slice& key, const rocksdb::Slice&) override {
    Take(cf, key);
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteCF(uint32_t cf, const rocksdb::Slice& key) override {
    Take(cf, key);
    return rocksdb::Status::OK();
  }

 private:
  void Take(uint32_t cf, const rocksdb::Slice& key) {
    if (cf == data_cf_ && out_->size() < kWalKeysShown) out_->push_back(UserKey(ToView(key)));
  }
  uint32_t data_cf_;
  std::vector<std::string>* out_;
};

// Watches WAL replay (it changes nothing): every whole record's sequence numbers, so that the
// records skipped around a damaged one show as a gap between two whole records. The gap is named
// by its WAL file, the lost sequence range, and the data keys of the nearest whole records on
// each side that hold any (records of the small families, such as HLC ceiling renewals, come in
// between). RocksDB does not hand the damaged record itself to a filter, so its own keys are
// unknown; a damaged last record shows as no gap (reported as "after" the last whole record).
class WalGapFilter final : public rocksdb::WalFilter {
 public:
  void ColumnFamilyLogNumberMap(const std::map<uint32_t, uint64_t>& /*cf_lognumber_map*/,
                                const std::map<std::string, uint32_t>& cf_name_id_map) override {
    auto it = cf_name_id_map.find(internal::kDataCf);
    if (it != cf_name_id_map.end()) data_cf_ = it->second;
  }
  WalProcessingOption LogRecordFound(unsigned long long log_number,
                                     const std::string& /*log_file_name*/,
                                     const rocksdb::WriteBatch& batch,
                                     rocksdb::WriteBatch* /*new_batch*/,
                                     bool* batch_changed) override {
    *batch_changed = false;
    WalRecordSeen seen;
    seen.log_number = log_number;
    // The batch's header (db/write_batch.cc): fixed64 LE sequence, fixed32 LE count.
    if (batch.Data().size() >= 12) seen.first_seq = internal::DecodeFixed64Le(batch.Data().data());
    seen.count = batch.Count();
    DataKeys keys(data_cf_, &seen.keys);
    batch.Iterate(&keys).PermitUncheckedError();
    if (have_last_ && seen.first_seq > last_.first_seq + last_.count &&
        gaps_.size() < kWalGapsMax) {
      gaps_.push_back({last_, last_with_keys_, seen, {}});
    }
    if (!seen.keys.empty()) {
      for (Gap& g : gaps_) {
        if (g.after_with_keys.keys.empty()) g.after_with_keys = seen;
      }
      last_with_keys_ = seen;
    }
    last_ = std::move(seen);
    have_last_ = true;
    return WalProcessingOption::kContinueProcessing;
  }
  const char* Name() const override { return "causeway.WalGapFilter"; }

  // One entry per gap (or one for damage after the last whole record), for CheckDataDir's report.
  std::vector<OfflineCorruption> Describe(const std::string& open_error) const {
    auto file = [](uint64_t n) {
      char name[32];
      std::snprintf(name, sizeof(name), "%06llu.log", static_cast<unsigned long long>(n));
      return std::string(name);
    };
    auto keys = [](const WalRecordSeen& r) {
      if (r.keys.empty()) return std::string("none");
      std::string out;
      for (const std::string& k : r.keys) out += (out.empty() ? "" : ", ") + k;
      if (r.count > r.keys.size()) out += StrCat(", ... (", r.count, " ops)");
      return StrCat("seq ", r.first_seq, ": ", out);
    };
    std::vector<OfflineCorruption> out;
    for (const Gap& g : gaps_) {
      OfflineCorruption c;
      c.where = StrCat("WAL ", file(g.after.log_number));
      c.reason =
          StrCat(open_error, "; writes with sequence numbers ", g.before.first_seq + g.before.count,
                 "..", g.after.first_seq - 1, " lost (after ", file(g.before.log_number), " seq ",
                 g.before.first_seq, "); the nearest whole data records: before (",
                 keys(g.before_with_keys), "), after (", keys(g.after_with_keys), ")");
      c.nearby_keys = g.before_with_keys.keys;
      c.nearby_keys.insert(c.nearby_keys.end(), g.after_with_keys.keys.begin(),
                           g.after_with_keys.keys.end());
      out.push_back(std::move(c));
    }
    if (out.empty()) {
      OfflineCorruption c;
      c.where = "WAL";
      c.reason = have_last_ ? StrCat(open_error, "; after the last whole record, ",
                                     file(last_.log_number), " seq ", last_.first_seq,
                                     "; the last whole data record: ", keys(last_with_keys_),
                                     "; the damaged record's keys are unknown")
                            : StrCat(open_error, "; no whole record read: keys unknown");
      c.nearby_keys = last_with_keys_.keys;
      out.push_back(std::move(c));
    }
    return out;
  }

 private:
  struct Gap {
    WalRecordSeen before, before_with_keys, after, after_with_keys;
  };
  uint32_t data_cf_ = ~uint32_t{0};
  bool have_last_ = false;
  WalRecordSeen last_, last_with_keys_;
  std::vector<Gap> gaps_;
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
      out->push_back(Damage("", f.name, StrCat("unreadable: ", s.ToString())));
      continue;
    }
    rocksdb::ReadOptions ro;
    ro.verify_checksums = false;
    std::unique_ptr<rocksdb::Iterator> it(reader.NewIterator(ro));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view value(it->value().data(), it->value().size());
      if (!DataKeyIsSound(ToView(it->key())) || (!value.empty() && !RecordIsSound(value))) {
        merge.Note(it->key());
      }
    }
    if (!it->status().ok()) {
      out->push_back(Damage(
          "", f.name, StrCat("records past this point unreadable: ", it->status().ToString())));
    }
  }
}

}  // namespace

Result<OfflineCheckReport> CheckDataDir(const std::string& dir, Hlc watermark, bool all_blocks,
                                        const OfflineProgressFn& progress) {
  DirLock lock;
  if (Status s = lock.Take(dir); !s.ok()) return s;
  auto merge = std::make_shared<CheckingMerge>();
  internal::DbLayout layout = internal::OfflineLayout(dir, merge);

  OfflineCheckReport report;
  report.file_bytes = DirBytes(dir);
  ReadOnlyDb ro_db;
  Status open = OpenReadOnly(layout, dir, rocksdb::WALRecoveryMode::kAbsoluteConsistency, &ro_db);
  if (open.code() == ErrorCode::kCorruption) {
    // A damaged WAL record: read the rest without it, watching the replay for where the skipped
    // writes were.
    ro_db.Close();
    WalGapFilter gaps;
    layout.db.wal_filter = &gaps;
    const Status skipping =
        OpenReadOnly(layout, dir, rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords, &ro_db);
    layout.db.wal_filter = nullptr;
    for (OfflineCorruption& c : gaps.Describe(open.message())) report.corrupt.push_back(c);
    open = skipping;
  }
  if (!open.ok()) return open;
  rocksdb::DB* db = ro_db.db.get();

  bool damaged_files = false;
  if (rocksdb::Status s = all_blocks ? db->VerifyChecksum() : rocksdb::Status::OK(); !s.ok()) {
    report.corrupt.push_back(
        Damage("", "files", StrCat("checksum verification failed: ", s.ToString())));
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
      if (!DataKeyIsSound(ToView(k)) || !RecordIsSound(value)) {
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
      report.corrupt.push_back(
          Damage("", "data", StrCat("scan stopped: ", it->status().ToString())));
      damaged_files = true;
    }
  }
  if (damaged_files) {
    rocksdb::Options options(layout.db, layout.column_families[internal::kDataCfIndex].options);
    ScanDataFilesRaw(db, options, *merge, &report.corrupt);
  }
  for (const std::string& data_key : merge->TakeBad()) {
    OfflineCorruption c = Damage(UserKey(data_key), "data", "record checksum or format is wrong");
    if (!DataKeyIsSound(data_key)) {
      c.reason =
          "the key's bytes are damaged (its token is not the key's): the true key is unknown";
      c.key_damaged = true;
    }
    report.corrupt.push_back(std::move(c));
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
        report.corrupt.push_back(Damage("", "hints", "hint key too short"));
        continue;
      }
      const NodeId target = internal::DecodeFixed64Be(k.data());
      const std::string_view value(it->value().data(), it->value().size());
      if (!RecordIsSound(value)) {
        report.corrupt.push_back(Damage(std::string(ToView(k).substr(internal::kTargetBytes)),
                                        "hints", StrCat("hint for node ", target, " is damaged")));
        continue;
      }
      OfflineHintTarget& t = targets[target];
      t.target = target;
      ++t.hints;
      t.bytes += k.size() + value.size();
    }
    if (!it->status().ok()) {
      report.corrupt.push_back(
          Damage("", "hints", StrCat("scan stopped: ", it->status().ToString())));
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
