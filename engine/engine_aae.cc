// Engine: the anti-entropy tree's queries over the data (docs/design.md, "Anti-entropy trees").
#include "base/strings.h"
#include "engine/internal/engine_impl.h"

namespace causeway {

using internal::FromRocksDb;

// ---- anti-entropy tree (docs/design.md, "Anti-entropy trees") --------------------------------

namespace {

using internal::AaeSegment;
using internal::AaeTree;

// Calls fn(key, header) for the keys with token in [first, last] (inclusive: the top of the ring
// needs no sentinel), from where `it` stands unless `seek`. Leaves `it` at the first key past
// `last`, so the next span can continue without a seek.
template <typename Fn>
Status ForEachInSpan(rocksdb::Iterator* it, Token first, Token last, bool seek, const Fn& fn) {
  if (seek) it->Seek(internal::TokenPrefix(first));
  for (; it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (k.size() <= internal::kTokenBytes) return Status::Corruption("bad data key");
    if (internal::DecodeFixed64Be(k.data()) > last) break;
    Result<VersionHeader> header = DecodeVersionHeader(ToView(it->value()));
    if (!header.ok()) return header.status();
    if (!fn(ToView(k).substr(internal::kTokenBytes), *header)) return Status::Ok();
  }
  return FromRocksDb(it->status(), "anti-entropy scan");
}

Status HashSpan(rocksdb::Iterator* it, Token first, Token last, bool seek, uint64_t* hash) {
  *hash = 0;
  return ForEachInSpan(it, first, last, seek, [hash](std::string_view key, const VersionHeader& h) {
    *hash ^= AaeTree::EntryHash(key, h.timestamp, h.writer, h.tombstone);
    return true;
  });
}

}  // namespace

// Recomputes the dirty segments of [seg_begin, seg_end). The bits are cleared before the
// iterator opens, and Apply marks after its write is visible, so a write this iterator misses
// has marked its segment again. Caller holds aae_mu.
Status Engine::Impl::AaeRefresh(AaeSegment seg_begin, AaeSegment seg_end) {
  const std::vector<AaeSegment> dirty = aae.TakeDirty(seg_begin, seg_end);
  if (dirty.empty()) return Status::Ok();
  internal::ReadingScope reading;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), data()));
  for (size_t i = 0; i < dirty.size(); ++i) {
    const bool seek = i == 0 || dirty[i - 1] + 1 != dirty[i];
    uint64_t hash = 0;
    Status s = HashSpan(it.get(), AaeTree::SegmentFirstToken(dirty[i]),
                        AaeTree::SegmentLastToken(dirty[i]), seek, &hash);
    if (!s.ok()) {
      for (size_t j = i; j < dirty.size(); ++j) aae.MarkDirty(dirty[j]);
      return s;
    }
    aae.SetSegment(dirty[i], hash);
  }
  return Status::Ok();
}

// Root of the tokens [first, last]: whole segments from the tree, partial ones scanned. Caller
// holds aae_mu.
Result<uint64_t> Engine::Impl::AaeSpanRoot(Token first, Token last) {
  const AaeSegment s0 = AaeTree::SegmentOf(first);
  const AaeSegment s1 = AaeTree::SegmentOf(last);
  const bool head_whole = first == AaeTree::SegmentFirstToken(s0);
  const bool tail_whole = last == AaeTree::SegmentLastToken(s1);
  uint64_t root = 0;
  internal::ReadingScope reading;
  std::unique_ptr<rocksdb::Iterator> it;
  auto scan = [&](Token from, Token to) -> Status {
    if (it == nullptr) it.reset(db->NewIterator(rocksdb::ReadOptions(), data()));
    uint64_t part = 0;
    Status s = HashSpan(it.get(), from, to, /*seek=*/true, &part);
    root ^= part;
    return s;
  };
  if (s0 == s1 && !(head_whole && tail_whole)) {
    if (Status s = scan(first, last); !s.ok()) return s;
    return root;
  }
  const AaeSegment whole_begin = head_whole ? s0 : s0 + 1;
  const AaeSegment whole_end = tail_whole ? s1 + 1 : s1;
  if (!head_whole) {
    if (Status s = scan(first, AaeTree::SegmentLastToken(s0)); !s.ok()) return s;
  }
  if (!tail_whole) {
    if (Status s = scan(AaeTree::SegmentFirstToken(s1), last); !s.ok()) return s;
  }
  if (whole_begin < whole_end) {
    if (Status s = AaeRefresh(whole_begin, whole_end); !s.ok()) return s;
    root ^= aae.RangeRoot(whole_begin, whole_end);
  }
  return root;
}

Result<uint64_t> Engine::AaeRangeRoot(Token begin, Token end) {
  constexpr Token kTop = ~Token{0};
  std::lock_guard<std::mutex> lock(impl_->aae_mu);
  if (begin == end) return impl_->AaeSpanRoot(0, kTop);
  if (begin < end) return impl_->AaeSpanRoot(begin, end - 1);
  Result<uint64_t> high = impl_->AaeSpanRoot(begin, kTop);
  if (!high.ok() || end == 0) return high;
  Result<uint64_t> low = impl_->AaeSpanRoot(0, end - 1);
  if (!low.ok()) return low;
  return *high ^ *low;
}

Result<std::vector<uint64_t>> Engine::AaeSegmentHashes(uint32_t seg_begin, uint32_t seg_end) {
  if (seg_begin > seg_end || seg_end > kAaeSegments) {
    return Status::InvalidArgument("segment range [" + std::to_string(seg_begin) + ", " +
                                   std::to_string(seg_end) + ") outside [0, " +
                                   std::to_string(kAaeSegments) + ")");
  }
  std::lock_guard<std::mutex> lock(impl_->aae_mu);
  if (Status s = impl_->AaeRefresh(seg_begin, seg_end); !s.ok()) return s;
  return impl_->aae.SegmentHashes(seg_begin, seg_end);
}

Result<std::vector<uint64_t>> Engine::AaeBranchHashes(uint32_t branch_begin, uint32_t branch_end) {
  if (branch_begin > branch_end || branch_end > kAaeBranches) {
    return Status::InvalidArgument("branch range [" + std::to_string(branch_begin) + ", " +
                                   std::to_string(branch_end) + ") outside [0, " +
                                   std::to_string(kAaeBranches) + ")");
  }
  std::lock_guard<std::mutex> lock(impl_->aae_mu);
  if (Status s = impl_->AaeRefresh(branch_begin * kAaeSegmentsPerBranch,
                                   branch_end * kAaeSegmentsPerBranch);
      !s.ok()) {
    return s;
  }
  return impl_->aae.BranchHashes(branch_begin, branch_end);
}

Status Engine::AaeSegmentDigests(uint32_t segment, const AaeDigestFn& fn) {
  if (segment >= kAaeSegments) {
    return Status::InvalidArgument("segment " + std::to_string(segment) + " outside [0, " +
                                   std::to_string(kAaeSegments) + ")");
  }
  internal::ReadingScope reading;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->data()));
  return ForEachInSpan(it.get(), AaeTree::SegmentFirstToken(segment),
                       AaeTree::SegmentLastToken(segment), /*seek=*/true,
                       [&fn](std::string_view key, const VersionHeader& h) {
                         return fn(key, h.timestamp, h.writer, h.tombstone);
                       });
}

Result<std::vector<uint64_t>> Engine::AaeSpanHashes(const std::vector<TokenSpan>& spans) {
  if (spans.size() > kAaeSpansPerRequestMax) {
    return Status::InvalidArgument(StrCat(
        spans.size(), " spans in one anti-entropy request; at most ", kAaeSpansPerRequestMax));
  }
  std::vector<uint64_t> out;
  out.reserve(spans.size());
  std::lock_guard<std::mutex> lock(impl_->aae_mu);
  for (const TokenSpan& span : spans) {
    if (span.first > span.last) {
      return Status::InvalidArgument(
          StrCat("token span [", span.first, ", ", span.last, "] is empty"));
    }
    Result<uint64_t> root = impl_->AaeSpanRoot(span.first, span.last);
    if (!root.ok()) return root.status();
    out.push_back(*root);
  }
  return out;
}

Result<bool> Engine::AaeSpanDigests(TokenSpan span, std::string_view after_key, size_t limit,
                                    const AaeDigestFn& fn) {
  if (span.first > span.last) {
    return Status::InvalidArgument(
        StrCat("token span [", span.first, ", ", span.last, "] is empty"));
  }
  if (!after_key.empty() && !span.Contains(TokenOf(after_key))) {
    return Status::InvalidArgument("anti-entropy digest cursor outside its span");
  }
  internal::ReadingScope reading;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->data()));
  Token first = span.first;
  if (!after_key.empty()) {
    const std::string cursor = internal::DataKey(after_key);
    it->Seek(cursor);
    if (it->Valid() && it->key() == rocksdb::Slice(cursor)) it->Next();
    first = TokenOf(after_key);
  } else {
    it->Seek(internal::TokenPrefix(first));
  }
  size_t passed = 0;
  bool more = false;
  Status s = ForEachInSpan(it.get(), first, span.last, /*seek=*/false,
                           [&](std::string_view key, const VersionHeader& h) {
                             if (passed == limit) {
                               more = true;
                               return false;
                             }
                             ++passed;
                             return fn(key, h.timestamp, h.writer, h.tombstone);
                           });
  if (!s.ok()) return s;
  return more;
}

}  // namespace causeway
