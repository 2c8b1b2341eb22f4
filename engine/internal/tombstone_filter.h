// Compaction filter of the `data` column family: purges tombstones older than a watermark.
#pragma once

#include <rocksdb/compaction_filter.h>

#include <atomic>
#include <cstdint>

#include "engine/version.h"

namespace causeway::internal {

// Removes a record that decodes as a tombstone with timestamp < watermark. RocksDB turns a
// removed entry into a deletion marker, so older copies of the key in lower levels stay hidden.
// Records that fail to decode are kept (never destroy evidence of corruption).
// Thread-safe: compactions run it concurrently; the watermark is read atomically.
class TombstoneFilter final : public rocksdb::CompactionFilter {
 public:
  // Hlc 0: purge nothing, until the caller sets a watermark.
  void SetWatermark(Hlc watermark) { watermark_.store(watermark, std::memory_order_relaxed); }
  uint64_t purged() const { return purged_.load(std::memory_order_relaxed); }

  bool Filter(int level, const rocksdb::Slice& key, const rocksdb::Slice& existing_value,
              std::string* new_value, bool* value_changed) const override;
  const char* Name() const override { return "causeway.TombstoneFilter"; }

 private:
  std::atomic<Hlc> watermark_{0};
  mutable std::atomic<uint64_t> purged_{0};
};

}  // namespace causeway::internal
