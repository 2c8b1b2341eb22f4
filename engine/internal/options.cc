#include "engine/internal/options.h"

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>

namespace causeway::internal {
namespace {

// Tuning, not limits: each was measured with bench/engine_bench (docs/design.md).
constexpr double kBloomBitsPerKey = 10;         // ~1% false positives on point lookups
constexpr size_t kWriteBufferBytes = 64 << 20;  // memtable size of the data family
constexpr int kWriteBuffersMax = 3;             // lets writes go on while one flushes
constexpr int kBackgroundJobs = 2;              // the machine has 2 cores
constexpr uint64_t kBytesPerSync = 1 << 20;     // smooths SST/blob writeback
constexpr size_t kInfoLogFilesKept = 4;
constexpr size_t kMemtableMergesMax = 64;     // max_successive_merges of the data family (below)
constexpr double kMemtableBloomRatio = 0.02;  // of write_buffer_size, for the memtable bloom
constexpr size_t kSmallCfWriteBufferBytes = 4 << 20;

// StorageProfile::kSmall: many nodes on one machine (docs/operations.md). A fresh data dir stays
// a few hundred KiB on disk (no WAL or MANIFEST preallocation: RocksDB would otherwise fallocate
// ~1.1x the write buffer for each WAL and 4 MiB for the MANIFEST), and memtables stay small.
constexpr size_t kSmallDataWriteBufferBytes = 4 << 20;
constexpr size_t kSmallMetaWriteBufferBytes = 1 << 20;  // default, hints and clock families
constexpr int kSmallWriteBuffersMax = 2;
constexpr size_t kSmallDbWriteBufferBytes = 16 << 20;  // all memtables of the DB together
constexpr uint64_t kSmallWalBytesMax = 16 << 20;       // older WALs force a flush beyond this
constexpr uint64_t kSmallManifestBytesMax = 1 << 20;   // then a new MANIFEST is started
constexpr size_t kSmallManifestPreallocBytes = 64 << 10;
constexpr int kSmallBackgroundJobs = 1;
constexpr int kSmallOpenFilesMax = 256;

// Applies the small profile over the defaults.
void ApplySmallProfile(DbLayout* layout) {
  rocksdb::DBOptions& db = layout->db;
  db.allow_fallocate = false;
  db.manifest_preallocation_size = kSmallManifestPreallocBytes;
  db.max_manifest_file_size = kSmallManifestBytesMax;
  db.recycle_log_file_num = 0;
  db.db_write_buffer_size = kSmallDbWriteBufferBytes;
  db.max_total_wal_size = kSmallWalBytesMax;
  db.max_background_jobs = kSmallBackgroundJobs;
  db.max_open_files = kSmallOpenFilesMax;
  // No periodic work while idle: RocksDB's stats dump (every 600 s by default) and stats
  // persistence wake a timer thread.
  db.stats_dump_period_sec = 0;
  db.stats_persist_period_sec = 0;
  for (size_t i = 0; i < layout->column_families.size(); ++i) {
    rocksdb::ColumnFamilyOptions& cf = layout->column_families[i].options;
    cf.write_buffer_size =
        i == kDataCfIndex ? kSmallDataWriteBufferBytes : kSmallMetaWriteBufferBytes;
    cf.max_write_buffer_number = kSmallWriteBuffersMax;
  }
}

rocksdb::ColumnFamilyOptions DataCfOptions(const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions cf;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));
  table.whole_key_filtering = true;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.write_buffer_size = kWriteBufferBytes;
  cf.max_write_buffer_number = kWriteBuffersMax;
  cf.level_compaction_dynamic_level_bytes = true;
  // A bloom filter on the memtable makes point lookups of absent keys (the engine's
  // read-before-write of a new key) skip the skiplist search.
  cf.memtable_whole_key_filtering = true;
  cf.memtable_prefix_bloom_size_ratio = kMemtableBloomRatio;
  cf.compression = rocksdb::kLZ4Compression;
  cf.enable_blob_files = true;
  cf.min_blob_size = kBlobValueBytesMin;
  return cf;
}

rocksdb::ColumnFamilyOptions SmallCfOptions(const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions cf;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.write_buffer_size = kSmallCfWriteBufferBytes;
  cf.compression = rocksdb::kLZ4Compression;
  return cf;
}

}  // namespace

DbLayout MakeDbLayout(const EngineOptions& options) {
  DbLayout layout;
  rocksdb::DBOptions& db = layout.db;
  db.create_if_missing = true;
  db.create_missing_column_families = true;
  if (options.env != nullptr) db.env = options.env;
  db.max_background_jobs = kBackgroundJobs;
  db.bytes_per_sync = kBytesPerSync;
  db.keep_log_file_num = kInfoLogFilesKept;
  // A failed fsync is not retried: RocksDB stops writes and so do we (fail-stop).
  db.paranoid_checks = true;

  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  layout.merge_operator = std::make_shared<LwwMergeOperator>();
  rocksdb::ColumnFamilyOptions data = DataCfOptions(cache);
  data.merge_operator = layout.merge_operator;
  // A key's successive merge operands in a memtable: beyond this many, RocksDB folds them into
  // one value at write time. Without a bound, a hot key written 20k times (redis-benchmark's
  // single key) costs every read a fold of 20k operands (~25 ms each).
  data.max_successive_merges = kMemtableMergesMax;
  layout.column_families = {
      {rocksdb::kDefaultColumnFamilyName, SmallCfOptions(cache)},
      {kDataCf, data},
      {kHintsCf, SmallCfOptions(cache)},
      {kClockCf, SmallCfOptions(cache)},
  };
  if (options.storage_profile == StorageProfile::kSmall) ApplySmallProfile(&layout);
  return layout;
}

rocksdb::WriteOptions MakeWriteOptions(SyncMode mode) {
  rocksdb::WriteOptions w;
  w.sync = mode == SyncMode::kAlways;
  return w;
}

}  // namespace causeway::internal
