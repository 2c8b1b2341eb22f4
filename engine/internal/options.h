// The RocksDB options of the engine, in one function, so that bench/engine_bench opens raw
// RocksDB with exactly the same options and column-family layout as the engine.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <vector>

#include "engine/engine.h"
#include "engine/internal/lww_merge.h"

namespace causeway::internal {

inline constexpr char kDataCf[] = "data";
inline constexpr char kHintsCf[] = "hints";
inline constexpr char kClockCf[] = "clock";
// Index of each column family in the vector MakeColumnFamilies returns (and in the handles
// DB::Open hands back).
enum CfIndex : size_t { kDefaultCfIndex = 0, kDataCfIndex, kHintsCfIndex, kClockCfIndex };

// Values of at least this many bytes go to blob files (written once at flush, never rewritten
// by compaction). Merge operands cannot live in blob files, so Apply writes such versions as full
// values (docs/design.md, "Large values").
inline constexpr uint64_t kBlobValueBytesMin = 64 << 10;

struct DbLayout {
  rocksdb::DBOptions db;
  std::vector<rocksdb::ColumnFamilyDescriptor> column_families;  // in CfIndex order
  // Installed on the data family (also in column_families); the engine reads its counters.
  std::shared_ptr<LwwMergeOperator> merge_operator;
};

// The DB options and the column families (default, data, hints, clock) for `options`. The data
// family has the LWW merge operator but no compaction filter here: the engine installs its
// TombstoneFilter on top.
DbLayout MakeDbLayout(const EngineOptions& options);

// sync=true for kAlways (RocksDB's write group shares one fsync among concurrent writers).
rocksdb::WriteOptions MakeWriteOptions(SyncMode mode);

}  // namespace causeway::internal
