#include "engine/internal/tombstone_filter.h"

#include <array>

#include "base/limits.h"
#include "engine/internal/lww_merge.h"
#include "engine/internal/options.h"
#include "engine/internal/record.h"

namespace causeway::internal {

// FilterBlobByKey keeps blob values unread: a tombstone record must be too small for a blob file.
static_assert(kRecordHeaderBytes + 16 * kVersionVectorEntriesMax + 1 + kRecordChecksumBytes <
              kBlobValueBytesMin);

void TombstoneFilter::Attach(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
  std::lock_guard<std::mutex> lock(db_mu_);
  db_ = db;
  cf_ = cf;
}

bool TombstoneFilter::NothingPendingOver(const rocksdb::Slice& key) const {
  std::lock_guard<std::mutex> lock(db_mu_);
  if (db_ == nullptr) return false;
  ReadingScope reading;  // a lookup, not a discard: nothing is counted
  std::array<rocksdb::PinnableSlice, 2> entries;
  rocksdb::GetMergeOperandsOptions options;
  options.expected_max_number_of_operands = static_cast<int>(entries.size());
  int count = 0;
  rocksdb::Status s =
      db_->GetMergeOperands(rocksdb::ReadOptions(), cf_, key, entries.data(), &options, &count);
  // NotFound: only deletion markers above. Incomplete (more than fit) or an error: keep.
  if (s.IsNotFound()) return true;
  return s.ok() && count <= 1;
}

bool TombstoneFilter::Filter(int /*level*/, const rocksdb::Slice& key,
                             const rocksdb::Slice& existing_value, std::string* /*new_value*/,
                             bool* /*value_changed*/) const {
  const Hlc watermark = watermark_.load(std::memory_order_relaxed);
  if (watermark == 0) return false;
  Result<VersionHeader> h =
      DecodeVersionHeader(std::string_view(existing_value.data(), existing_value.size()));
  if (!h.ok() || !h->tombstone || h->timestamp >= watermark) return false;
  if (!NothingPendingOver(key)) return false;
  purged_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace causeway::internal
