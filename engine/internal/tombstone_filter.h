// Compaction filter of the `data` column family: purges tombstones older than a watermark.
#pragma once

#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "base/token.h"
#include "base/version.h"

namespace causeway::internal {

// Removes a full record (never a merge operand: those reach Filter() only through the default
// FilterMergeOperand, which keeps them) that decodes as a tombstone with timestamp < watermark
// and is the newest entry of its key. RocksDB turns a removed entry into a deletion marker, so
// older copies of the key in lower levels stay hidden.
//
// "Newest entry": Apply writes merge operands, so a version older than the tombstone may still
// be pending above it in a memtable or an upper level. Dropping the tombstone then would let
// that operand become the key's value (a resurrection). So before purging, the filter asks the
// database for the key's entries (GetMergeOperands) and keeps the tombstone when anything is
// pending over it; the next compaction that merges them decides again. One lookup per purge
// candidate: only tombstones below the watermark pay it.
//
// Records that fail to decode are kept (never destroy evidence of corruption). Until Attach()
// (and after Detach()) nothing is purged.
//
// The watermark is per token span (the cluster's ranges: docs/design.md, "Tombstone GC"); a key
// whose token is in no span is kept. Every purge is reported to `on_purge` (the engine marks the
// key's anti-entropy segment dirty) twice: when decided, and again once the compaction that
// dropped it completed (RemarkPurged, from PurgeListener), because a tree refresh between the two
// still sees the tombstone.
// Thread-safe: compactions run it concurrently; the watermark is read atomically.
class TombstoneFilter final : public rocksdb::CompactionFilter {
 public:
  // One watermark for the whole ring (Hlc 0: purge nothing, the state until one is set).
  void SetWatermark(Hlc watermark) { SetWatermarks({{{0, ~Token{0}}, watermark}}); }
  // Per span; spans must not overlap (any order).
  void SetWatermarks(std::vector<SpanWatermark> marks);
  // Called with the token of every purged key; set before the database opens.
  void SetOnPurge(std::function<void(Token)> on_purge) { on_purge_ = std::move(on_purge); }
  // Reports the purges since the last call to on_purge again (see above).
  void RemarkPurged();
  uint64_t purged() const { return purged_.load(std::memory_order_relaxed); }
  // The database and family the filter runs on, for the pending-entry check. Detach() before
  // destroying the handle; it waits for a check in progress.
  void Attach(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf);
  void Detach() { Attach(nullptr, nullptr); }

  bool Filter(int level, const rocksdb::Slice& key, const rocksdb::Slice& existing_value,
              std::string* new_value, bool* value_changed) const override;
  // A value in a blob file is at least min_blob_size bytes, so it is never a tombstone (which has
  // no value): keep it without reading it. (The default reads every blob back, 1 MiB values
  // included, and checks its checksum, on every compaction that passes it.)
  Decision FilterBlobByKey(int /*level*/, const rocksdb::Slice& /*key*/, std::string* /*new_value*/,
                           std::string* /*skip_until*/) const override {
    return Decision::kKeep;
  }
  const char* Name() const override { return "causeway.TombstoneFilter"; }

 private:
  // True if `key` has exactly one visible entry (the record being filtered, or a newer full
  // value that hides it) and no merge operand over it.
  bool NothingPendingOver(const rocksdb::Slice& key) const;

  Hlc WatermarkAt(Token token) const;

  mutable std::mutex marks_mu_;
  std::shared_ptr<const std::vector<SpanWatermark>> marks_;  // GUARDED_BY(marks_mu_); sorted
  std::function<void(Token)> on_purge_;
  mutable std::mutex purged_mu_;
  mutable std::set<Token> purged_tokens_;  // GUARDED_BY(purged_mu_); since RemarkPurged
  mutable std::atomic<uint64_t> purged_{0};
  mutable std::mutex db_mu_;
  rocksdb::DB* db_ = nullptr;                  // GUARDED_BY(db_mu_)
  rocksdb::ColumnFamilyHandle* cf_ = nullptr;  // GUARDED_BY(db_mu_)
};

// Tells the filter when a compaction completed, so that its purges are reported again.
class PurgeListener final : public rocksdb::EventListener {
 public:
  explicit PurgeListener(TombstoneFilter* filter) : filter_(filter) {}
  const char* Name() const override { return "CausewayPurgeListener"; }
  void OnCompactionCompleted(rocksdb::DB* /*db*/, const rocksdb::CompactionJobInfo&) override {
    filter_->RemarkPurged();
  }

 private:
  TombstoneFilter* const filter_;
};

}  // namespace causeway::internal
