#include "engine/internal/tombstone_filter.h"

#include <algorithm>
#include <array>

#include "base/limits.h"
#include "engine/internal/coding.h"
#include "engine/internal/keys.h"
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

void TombstoneFilter::SetWatermarks(std::vector<SpanWatermark> marks) {
  std::sort(marks.begin(), marks.end(), [](const SpanWatermark& a, const SpanWatermark& b) {
    return a.span.first < b.span.first;
  });
  auto sorted = std::make_shared<const std::vector<SpanWatermark>>(std::move(marks));
  std::lock_guard<std::mutex> lock(marks_mu_);
  marks_ = std::move(sorted);
}

Hlc TombstoneFilter::WatermarkAt(Token token) const {
  std::shared_ptr<const std::vector<SpanWatermark>> marks;
  {
    std::lock_guard<std::mutex> lock(marks_mu_);
    marks = marks_;
  }
  if (marks == nullptr) return 0;
  auto it = std::upper_bound(marks->begin(), marks->end(), token,
                             [](Token t, const SpanWatermark& m) { return t < m.span.first; });
  if (it == marks->begin()) return 0;
  --it;
  return it->span.Contains(token) ? it->watermark : 0;
}

void TombstoneFilter::RemarkPurged() {
  std::set<Token> tokens;
  {
    std::lock_guard<std::mutex> lock(purged_mu_);
    tokens.swap(purged_tokens_);
  }
  if (on_purge_) {
    for (Token t : tokens) on_purge_(t);
  }
}

bool TombstoneFilter::Filter(int /*level*/, const rocksdb::Slice& key,
                             const rocksdb::Slice& existing_value, std::string* /*new_value*/,
                             bool* /*value_changed*/) const {
  if (key.size() < kTokenBytes) return false;
  const Token token = DecodeFixed64Be(key.data());
  const Hlc watermark = WatermarkAt(token);
  if (watermark == 0) return false;
  Result<VersionHeader> h =
      DecodeVersionHeader(std::string_view(existing_value.data(), existing_value.size()));
  if (!h.ok() || !h->tombstone || h->timestamp >= watermark) return false;
  if (!NothingPendingOver(key)) return false;
  purged_.fetch_add(1, std::memory_order_relaxed);
  if (on_purge_) on_purge_(token);
  {
    std::lock_guard<std::mutex> lock(purged_mu_);
    purged_tokens_.insert(token);
  }
  return true;
}

}  // namespace causeway::internal
