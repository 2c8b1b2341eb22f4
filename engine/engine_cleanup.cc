// Engine: cleanup, the removal of data outside the spans a node keeps (engine/engine.h,
// RemoveOutside; docs/operations.md, "Cleanup").
#include <rocksdb/write_batch.h>

#include "base/strings.h"
#include "engine/internal/engine_impl.h"

namespace causeway {

using internal::FromRocksDb;

namespace {

using internal::AaeSegment;
using internal::AaeTree;

constexpr Token kTop = ~Token{0};

Status ValidateKeep(const std::vector<TokenSpan>& keep) {
  if (keep.empty()) {
    return Status::InvalidArgument("cleanup with no span to keep would remove every key");
  }
  for (size_t i = 0; i < keep.size(); ++i) {
    if (keep[i].first > keep[i].last) {
      return Status::InvalidArgument(
          StrCat("token span [", keep[i].first, ", ", keep[i].last, "] is empty"));
    }
    if (i > 0 && keep[i].first <= keep[i - 1].last) {
      return Status::InvalidArgument("spans to keep are not in token order and disjoint");
    }
  }
  return Status::Ok();
}

// The complement of `keep` (valid, not empty) in the token space, as inclusive spans.
std::vector<TokenSpan> Gaps(const std::vector<TokenSpan>& keep) {
  std::vector<TokenSpan> gaps;
  if (keep.front().first > 0) gaps.push_back({0, keep.front().first - 1});
  for (size_t i = 1; i < keep.size(); ++i) {
    if (keep[i - 1].last + 1 < keep[i].first) {
      gaps.push_back({keep[i - 1].last + 1, keep[i].first - 1});
    }
  }
  if (keep.back().last < kTop) gaps.push_back({keep.back().last + 1, kTop});
  return gaps;
}

// Counts the keys of `gap` into `out` and adds their delete to `batch`: a range delete up to the
// gap's last token, and point deletes for the keys of that last token when it is the top of the
// ring (no data key sorts after all of those). Nothing is added when the gap holds no key.
Status BatchGap(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* data, TokenSpan gap,
                rocksdb::WriteBatch* batch, CleanupResult* out) {
  const std::string lower = internal::TokenPrefix(gap.first);
  const std::string upper = gap.last == kTop ? std::string() : internal::TokenPrefix(gap.last + 1);
  internal::ReadingScope reading;
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper_slice(upper);
  if (!upper.empty()) ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, data));
  uint64_t keys = 0;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (k.size() <= internal::kTokenBytes) return Status::Corruption("bad data key");
    ++keys;
    out->bytes += k.size() + it->value().size();
    if (gap.last == kTop && internal::DecodeFixed64Be(k.data()) == kTop) {
      if (rocksdb::Status s = batch->Delete(data, k); !s.ok()) {
        return FromRocksDb(s, "cleanup batch");
      }
    }
  }
  if (Status s = FromRocksDb(it->status(), "cleanup scan"); !s.ok()) return s;
  out->keys += keys;
  const std::string range_end = gap.last == kTop ? internal::TokenPrefix(kTop) : upper;
  if (keys == 0 || lower >= range_end) return Status::Ok();
  return FromRocksDb(batch->DeleteRange(data, lower, range_end), "cleanup batch");
}

}  // namespace

Result<CleanupResult> Engine::RemoveOutside(const std::vector<TokenSpan>& keep) {
  if (Status s = ValidateKeep(keep); !s.ok()) return s;
  if (Status s = impl_->CheckWritable(); !s.ok()) return s;
  CleanupResult result;
  for (const TokenSpan& gap : Gaps(keep)) {
    rocksdb::WriteBatch batch;
    if (Status s = BatchGap(impl_->db.get(), impl_->data(), gap, &batch, &result); !s.ok()) {
      return s;
    }
    if (batch.Count() == 0) continue;
    if (Status s = impl_->CheckWritable(); !s.ok()) return s;
    Status s = impl_->CheckWrite(impl_->db->Write(impl_->write_options, &batch), "cleanup");
    // After the delete is visible, failed or not (docs/design.md, "Anti-entropy trees").
    for (AaeSegment seg = AaeTree::SegmentOf(gap.first);; ++seg) {
      impl_->aae.MarkDirty(seg);
      if (seg == AaeTree::SegmentOf(gap.last)) break;
    }
    if (!s.ok()) return s;
  }
  if (result.keys == 0) return result;
  // Range deletes hide the keys; a compaction drops them (and the files' space).
  rocksdb::FlushOptions fo;
  fo.wait = true;
  result.compaction = impl_->CheckWrite(impl_->db->Flush(fo, impl_->data()), "cleanup flush");
  if (result.compaction.ok()) {
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    result.compaction = impl_->CheckWrite(
        impl_->db->CompactRange(co, impl_->data(), nullptr, nullptr), "cleanup compaction");
  }
  return result;
}

}  // namespace causeway
