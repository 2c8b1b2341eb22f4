// Engine::GetRocksStats and Engine::Checkpoint: what monitoring and backups read from RocksDB.
#include <rocksdb/utilities/checkpoint.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "engine/internal/engine_impl.h"
#include "engine/internal/rocksdb_status.h"

namespace causeway {
namespace {

// A map property's numeric entry, 0 when absent or not a number (RocksDB's key names are not
// part of its API contract; a renamed key reads as 0, never as an error).
uint64_t MapEntry(const std::map<std::string, std::string>& map, const std::string& key) {
  auto it = map.find(key);
  if (it == map.end()) return 0;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  return end == it->second.c_str() || v < 0 ? 0 : static_cast<uint64_t>(v);
}

}  // namespace

EngineRocksStats Engine::GetRocksStats() {
  EngineRocksStats st;
  rocksdb::DB& db = *impl_->db;
  for (rocksdb::ColumnFamilyHandle* cf : impl_->handles) {
    uint64_t v = 0;
    if (db.GetIntProperty(cf, rocksdb::DB::Properties::kEstimatePendingCompactionBytes, &v)) {
      st.pending_compaction_bytes += v;
    }
    if (db.GetIntProperty(cf, rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) {
      st.memtable_bytes += v;
    }
    if (db.GetIntProperty(cf, rocksdb::DB::Properties::kLiveSstFilesSize, &v)) {
      st.live_sst_bytes += v;
    }
    std::map<std::string, std::string> cfstats;
    if (db.GetMapProperty(cf, rocksdb::DB::Properties::kCFStats, &cfstats)) {
      st.write_stalls +=
          MapEntry(cfstats, "io_stalls.total_slowdown") + MapEntry(cfstats, "io_stalls.total_stop");
    }
  }
  uint64_t v = 0;
  // The block cache is shared by every family: read it once.
  if (db.GetIntProperty(impl_->data(), rocksdb::DB::Properties::kBlockCacheUsage, &v)) {
    st.block_cache_bytes = v;
  }
  if (db.GetIntProperty(impl_->data(), rocksdb::DB::Properties::kBlockCacheCapacity, &v)) {
    st.block_cache_capacity_bytes = v;
  }
  if (db.GetIntProperty(rocksdb::DB::Properties::kIsWriteStopped, &v)) st.write_stopped = v != 0;
  if (db.GetIntProperty(rocksdb::DB::Properties::kActualDelayedWriteRate, &v)) {
    st.delayed_write_rate = v;
  }
  if (db.GetIntProperty(rocksdb::DB::Properties::kNumRunningCompactions, &v)) {
    st.running_compactions = v;
  }
  return st;
}

Status Engine::Checkpoint(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    return Status::InvalidArgument("snapshot dir " + dir + " already exists: pick a new one");
  }
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(impl_->db.get(), &raw);
  if (!s.ok()) return internal::FromRocksDb(s, "checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush 0: flush the memtables first, so the checkpoint needs no WAL replay.
  s = checkpoint->CreateCheckpoint(dir, 0);
  if (!s.ok()) return internal::FromRocksDb(s, "checkpoint into " + dir);
  return Status::Ok();
}

}  // namespace causeway
