// Engine: rebuilding a stopped node's damaged data dir into a fresh database, and reading keys
// offline for the replacements (engine/engine.h, RebuildDataDir and ReadKeysOffline;
// docs/design.md, "The offline tool").
//
// Why a fresh database rather than deleting the damaged SST in place: RocksDB's DeleteFile only
// deletes a file of the last level (or the oldest L0 file with nothing below it), and
// DeleteFilesInRange never deletes L0 files, while a crashed node's damaged file is as likely in
// L0 as anywhere; and no compaction can move a file whose block fails its checksum (compaction
// always verifies). Copying every sound record into a new database is the one way that works
// whatever the levels, and leaves nothing damaged behind for a later compaction to trip on.
#include <rocksdb/sst_file_writer.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "base/strings.h"
#include "engine/internal/engine_impl.h"
#include "engine/internal/offline_db.h"

namespace causeway {

namespace {

namespace fs = std::filesystem;
using internal::CheckingMerge;
using internal::DataKeyIsSound;
using internal::FromRocksDb;
using internal::OpenReadOnly;
using internal::ReadOnlyDb;
using internal::RecordIsSound;
using internal::UserKey;

constexpr size_t kCopyBatchBytes = 1 << 20;  // records of the small families per write
constexpr size_t kRebuildReadaheadBytes = 2 << 20;
constexpr size_t kDamagedKeysNamedMax = 20;  // in an error message
constexpr size_t kLostSpansMax = 64;         // unparsable blocks skipped before giving up

std::string Trimmed(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

uint64_t WallMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// RocksDB's own files; anything else in a data dir (the legacy HLC_CEILING file) is carried over.
bool IsRocksDbFile(const std::string& name) {
  for (const char* prefix : {"CURRENT", "IDENTITY", "LOCK", "LOG", "MANIFEST-", "OPTIONS-"}) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  const std::string ext = fs::path(name).extension().string();
  return ext == ".sst" || ext == ".log" || ext == ".blob" || ext == ".dbtmp";
}

std::string NameKeys(const std::vector<std::string>& keys) {
  std::string out;
  for (size_t i = 0; i < keys.size() && i < kDamagedKeysNamedMax; ++i) {
    out += (i ? ", " : "") + keys[i];
  }
  if (keys.size() > kDamagedKeysNamedMax)
    out += StrCat(" and ", keys.size() - kDamagedKeysNamedMax, " more");
  return out;
}

// The fresh database: the engine's layout, created.
struct FreshDb {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  FreshDb() = default;
  FreshDb(const FreshDb&) = delete;
  FreshDb& operator=(const FreshDb&) = delete;
  ~FreshDb() { Close().PermitUncheckedError(); }
  rocksdb::Status Close() {
    if (db == nullptr) return rocksdb::Status::OK();
    rocksdb::Status s = rocksdb::Status::OK();
    for (auto* h : handles) {
      rocksdb::Status d = db->DestroyColumnFamilyHandle(h);
      if (s.ok()) s = d;
    }
    handles.clear();
    rocksdb::Status c = db->Close();
    if (s.ok()) s = c;
    db.reset();
    return s;
  }
};

Status OpenFresh(const std::string& dir, FreshDb* out) {
  EngineOptions eo;
  eo.dir = dir;
  eo.storage_profile = StorageProfile::kSmall;
  internal::DbLayout layout = internal::MakeDbLayout(eo);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(layout.db, dir, layout.column_families, &out->handles, &raw);
  if (!s.ok()) return FromRocksDb(s, "create the rebuilt database");
  out->db.reset(raw);
  return Status::Ok();
}

// Copies one small family record by record; hints are checked like data records.
Status CopyFamily(rocksdb::DB* from, rocksdb::ColumnFamilyHandle* from_cf, rocksdb::DB* to,
                  rocksdb::ColumnFamilyHandle* to_cf, bool hints, RebuildResult* result) {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = false;  // every hint is checked by its own checksum below
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(from->NewIterator(ro, from_cf));
  rocksdb::WriteBatch batch;
  rocksdb::WriteOptions wo;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (hints) {
      if (it->key().size() <= internal::kTargetBytes || !RecordIsSound(ToView(it->value()))) {
        ++result->hints_dropped;
        continue;
      }
      ++result->hints;
    }
    if (rocksdb::Status s = batch.Put(to_cf, it->key(), it->value()); !s.ok()) {
      return FromRocksDb(s, "copy");
    }
    if (batch.GetDataSize() >= kCopyBatchBytes) {
      if (rocksdb::Status s = to->Write(wo, &batch); !s.ok()) return FromRocksDb(s, "copy");
      batch.Clear();
    }
  }
  if (!it->status().ok()) {
    return Status::Corruption(
        StrCat("family ", from_cf->GetName(),
               " has a block that cannot be read: ", it->status().ToString()));
  }
  if (rocksdb::Status s = to->Write(wo, &batch); !s.ok()) return FromRocksDb(s, "copy");
  return Status::Ok();
}

// The smallest token t > lo at which a fresh iterator's Seek reads without error (past a block
// that cannot be parsed), found by doubling then halving the step: about 2 x 64 seeks at most.
// None when everything after lo fails.
std::optional<Token> FirstReadableToken(rocksdb::DB* from, rocksdb::ColumnFamilyHandle* data,
                                        const rocksdb::ReadOptions& ro, Token lo) {
  auto readable = [&](Token t) {
    std::unique_ptr<rocksdb::Iterator> probe(from->NewIterator(ro, data));
    probe->Seek(internal::TokenPrefix(t));
    return probe->status().ok();
  };
  constexpr Token kMax = ~Token{0};
  if (lo == kMax) return std::nullopt;
  Token bad = lo, step = 1;
  while (true) {
    const Token t = step > kMax - lo ? kMax : lo + step;
    if (readable(t)) break;
    if (t == kMax) return std::nullopt;
    bad = t;
    step <<= 1;
  }
  Token good = step > kMax - lo ? kMax : lo + step;
  while (good - bad > 1) {
    const Token mid = bad + (good - bad) / 2;
    (readable(mid) ? good : bad) = mid;
  }
  return good;
}

// Writes the data family's sound content, with the replacements folded in, to an SST of full
// records at `path` (in data-key order, as the read-only iterator yields it).
Status WriteSalvage(rocksdb::DB* from, rocksdb::ColumnFamilyHandle* data,
                    const CheckingMerge& merge, const std::map<std::string, Version>& replacements,
                    const std::string& path, RebuildResult* result, bool* wrote) {
  std::map<std::string, const Version*> by_data_key;  // bytewise = (token, key) order
  for (const auto& [key, v] : replacements) by_data_key[internal::DataKey(key)] = &v;
  auto next_replacement = by_data_key.begin();

  rocksdb::Options options;
  options.compression = rocksdb::kNoCompression;  // compaction recompresses it
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), options);
  if (rocksdb::Status s = writer.Open(path); !s.ok()) return FromRocksDb(s, "open salvage file");
  const internal::LwwMergeOperator lww;
  std::vector<std::string> unrepaired;
  std::string record, folded;
  auto put = [&](const std::string& data_key, std::string_view bytes) -> Status {
    if (rocksdb::Status s = writer.Put(data_key, rocksdb::Slice(bytes.data(), bytes.size()));
        !s.ok()) {
      return FromRocksDb(s, "write salvage file");
    }
    ++result->keys;
    return Status::Ok();
  };
  auto put_replacement = [&](const std::string& data_key, const Version& v) -> Status {
    record.clear();
    EncodeVersionTo(v, &record);
    ++result->replaced;
    return put(data_key, record);
  };

  rocksdb::ReadOptions ro;
  ro.verify_checksums = false;  // a block that fails its checksum still yields its sound records
  ro.fill_cache = false;
  ro.readahead_size = kRebuildReadaheadBytes;
  std::unique_ptr<rocksdb::Iterator> it(from->NewIterator(ro, data));
  std::string last_key;
  it->SeekToFirst();
  while (true) {
    for (; it->Valid(); it->Next()) {
      const std::string data_key = it->key().ToString();
      const std::string_view value = ToView(it->value());
      // The merge of this key's entries ran when the iterator reached it: a note now means one of
      // them was damaged (left out of `value`).
      const bool partly_damaged = merge.Noted(data_key);
      last_key = data_key;
      if (!DataKeyIsSound(data_key)) {
        ++result->keys_damaged;  // which key these bytes were is unknown: left out
        continue;
      }
      while (next_replacement != by_data_key.end() && next_replacement->first < data_key) {
        if (Status s = put_replacement(next_replacement->first, *next_replacement->second);
            !s.ok()) {
          return s;
        }
        ++next_replacement;
      }
      const bool sound = !value.empty() && RecordIsSound(value);
      const Version* replacement = nullptr;
      if (next_replacement != by_data_key.end() && next_replacement->first == data_key) {
        replacement = next_replacement->second;
        ++next_replacement;
      }
      if (!sound || partly_damaged) result->damaged.push_back(UserKey(data_key));
      if (replacement != nullptr) {
        if (!sound) {
          if (Status s = put_replacement(data_key, *replacement); !s.ok()) return s;
          continue;
        }
        record.clear();
        EncodeVersionTo(*replacement, &record);
        folded.clear();
        if (!lww.Fold({value, record}, false, &folded, nullptr)) {
          return Status::Internal("fold of a sound record failed");
        }
        ++result->replaced;
        if (Status s = put(data_key, folded); !s.ok()) return s;
        continue;
      }
      if (!sound || partly_damaged) {
        unrepaired.push_back(UserKey(data_key));
        continue;
      }
      ++result->salvaged;
      if (Status s = put(data_key, value); !s.ok()) return s;
    }
    if (it->status().ok()) break;
    // A block that cannot be parsed even without its checksum: its keys are unknown. Skip the
    // token span it covers (in every level: the merged iterator cannot step over one file) and
    // go on after it; the caller restores the span from the other replicas.
    if (result->lost_spans.size() == kLostSpansMax) {
      return Status::Corruption(
          StrCat("more than ", kLostSpansMax,
                 " data blocks cannot be read at all: ", it->status().ToString()));
    }
    const Token lo = last_key.empty() ? 0 : internal::DecodeFixed64Be(last_key.data());
    std::optional<Token> resume = FirstReadableToken(from, data, ro, lo);
    result->lost_spans.push_back({lo, resume ? *resume - 1 : ~Token{0}});
    if (!resume) break;
    it.reset(from->NewIterator(ro, data));
    it->Seek(internal::TokenPrefix(*resume));
  }
  // Replacements past the last key read (keys no record of which could be read under their name).
  for (; next_replacement != by_data_key.end(); ++next_replacement) {
    if (Status s = put_replacement(next_replacement->first, *next_replacement->second); !s.ok()) {
      return s;
    }
  }
  if (!unrepaired.empty()) {
    return Status::Corruption(
        StrCat(unrepaired.size(), " damaged key(s) with no replacement: ", NameKeys(unrepaired)));
  }
  *wrote = result->keys > 0;
  if (!*wrote) return Status::Ok();
  rocksdb::ExternalSstFileInfo info;
  if (rocksdb::Status s = writer.Finish(&info); !s.ok()) {
    return FromRocksDb(s, "finish salvage file");
  }
  return Status::Ok();
}

Status SyncDir(const std::string& dir) {
  std::unique_ptr<rocksdb::FSDirectory> d;
  rocksdb::IOStatus s =
      rocksdb::FileSystem::Default()->NewDirectory(dir, rocksdb::IOOptions(), &d, nullptr);
  if (s.ok()) s = d->FsyncWithDirOptions(rocksdb::IOOptions(), nullptr, rocksdb::DirFsyncOptions());
  if (!s.ok()) return FromRocksDb(s, StrCat("sync ", dir));
  return Status::Ok();
}

// Builds the fresh database in `rebuilding` from the open read-only `old`.
Status Build(const std::string& dir, ReadOnlyDb& old, const CheckingMerge& merge,
             const std::map<std::string, Version>& replacements, const std::string& rebuilding,
             RebuildResult* result) {
  FreshDb fresh;
  if (Status s = OpenFresh(rebuilding, &fresh); !s.ok()) return s;
  for (size_t cf : {internal::kDefaultCfIndex, internal::kHintsCfIndex, internal::kClockCfIndex}) {
    if (Status s = CopyFamily(old.db.get(), old.handles[cf], fresh.db.get(), fresh.handles[cf],
                              cf == internal::kHintsCfIndex, result);
        !s.ok()) {
      return s;
    }
  }
  const std::string sst = rebuilding + ".salvage.sst";
  bool wrote = false;
  Status salvage = WriteSalvage(old.db.get(), old.handles[internal::kDataCfIndex], merge,
                                replacements, sst, result, &wrote);
  if (salvage.ok() && wrote) {
    rocksdb::IngestExternalFileOptions ifo;
    ifo.move_files = true;
    salvage =
        FromRocksDb(fresh.db->IngestExternalFile(fresh.handles[internal::kDataCfIndex], {sst}, ifo),
                    "ingest the salvage");
  }
  std::error_code ec;
  fs::remove(sst, ec);
  if (!salvage.ok()) return salvage;
  rocksdb::FlushOptions fo;
  if (rocksdb::Status s = fresh.db->Flush(fo, fresh.handles); !s.ok()) {
    return FromRocksDb(s, "flush the rebuilt database");
  }
  if (rocksdb::Status s = fresh.Close(); !s.ok())
    return FromRocksDb(s, "close the rebuilt database");
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file(ec) && !IsRocksDbFile(name)) {
      fs::copy_file(e.path(), fs::path(rebuilding) / name, ec);
      if (ec) return Status::IoError(StrCat("copy ", e.path().string(), ": ", ec.message()));
    }
  }
  return SyncDir(rebuilding);
}

}  // namespace

Result<std::map<std::string, std::optional<Version>>> ReadKeysOffline(
    const std::string& dir, const std::vector<std::string>& keys) {
  internal::DirLock lock;
  if (Status s = lock.Take(dir); !s.ok()) return s;
  // The engine's own merge: a damaged operand fails the read, so a key is whole or not used.
  internal::DbLayout layout =
      internal::OfflineLayout(dir, std::make_shared<internal::LwwMergeOperator>());
  ReadOnlyDb db;
  if (Status s = OpenReadOnly(layout, dir, rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords, &db);
      !s.ok()) {
    return s;
  }
  std::map<std::string, std::optional<Version>> out;
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  std::string bytes;
  for (const std::string& key : keys) {
    std::optional<Version>& slot = out[key];
    const std::string data_key = internal::DataKey(key);
    if (!db.db->Get(ro, db.handles[internal::kDataCfIndex], data_key, &bytes).ok()) continue;
    if (!RecordIsSound(bytes)) continue;
    Result<Version> v = DecodeVersion(bytes);
    if (v.ok()) slot = std::move(*v);
  }
  return out;
}

Result<bool> FinishInterruptedRebuild(const std::string& dir_in) {
  const std::string dir = Trimmed(dir_in);
  std::error_code ec;
  bool finished = false;
  if (!fs::exists(dir, ec) && fs::exists(dir + ".rebuilt/CURRENT", ec)) {
    fs::rename(dir + ".rebuilt", dir, ec);
    if (ec) return Status::IoError(StrCat("rename ", dir, ".rebuilt: ", ec.message()));
    finished = true;
  }
  if (fs::exists(dir, ec)) {
    fs::remove_all(dir + ".rebuilding", ec);
    fs::remove(dir + ".rebuilding.salvage.sst", ec);
  }
  return finished;
}

Result<RebuildResult> RebuildDataDir(const std::string& dir_in,
                                     const std::map<std::string, Version>& replacements) {
  const std::string dir = Trimmed(dir_in);
  internal::DirLock lock;
  if (Status s = lock.Take(dir); !s.ok()) return s;
  const std::string rebuilding = dir + ".rebuilding", rebuilt = dir + ".rebuilt";
  std::error_code ec;
  fs::remove_all(rebuilding, ec);
  fs::remove_all(rebuilt, ec);  // complete but not swapped in while `dir` still exists: stale

  auto merge = std::make_shared<CheckingMerge>();
  internal::DbLayout layout = internal::OfflineLayout(dir, merge);
  RebuildResult result;
  {
    ReadOnlyDb old;
    if (Status s =
            OpenReadOnly(layout, dir, rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords, &old);
        !s.ok()) {
      return s;
    }
    Status built = Build(dir, old, *merge, replacements, rebuilding, &result);
    if (!built.ok()) {
      fs::remove_all(rebuilding, ec);
      return built;
    }
  }
  // The swap: each step leaves either the damaged dir or the complete rebuilt one at `dir`, or
  // "<dir>.rebuilt" for FinishInterruptedRebuild.
  const std::string parent = fs::path(dir).parent_path().string();
  result.damaged_copy = StrCat(dir, ".damaged-", WallMs());
  fs::rename(rebuilding, rebuilt, ec);
  if (ec) return Status::IoError(StrCat("rename ", rebuilding, ": ", ec.message()));
  if (Status s = SyncDir(parent.empty() ? "." : parent); !s.ok()) return s;
  fs::rename(dir, result.damaged_copy, ec);
  if (ec) return Status::IoError(StrCat("rename ", dir, ": ", ec.message()));
  fs::rename(rebuilt, dir, ec);
  if (ec) return Status::IoError(StrCat("rename ", rebuilt, ": ", ec.message()));
  if (Status s = SyncDir(parent.empty() ? "." : parent); !s.ok()) return s;
  return result;
}

}  // namespace causeway
