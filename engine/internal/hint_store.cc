#include "engine/internal/hint_store.h"

#include <functional>
#include <limits>
#include <memory>
#include <utility>

#include "engine/internal/coding.h"
#include "engine/internal/keys.h"
#include "engine/internal/rocksdb_status.h"
#include "engine/record.h"

namespace causeway::internal {
namespace {

constexpr size_t kSeqHintKeyBytes = 16;  // format 1: target(8) + seq(8)
// WriteBatch header and record framing, rounded up (as engine.cc counts for the disk reserve).
constexpr size_t kWriteBatchOverheadBytes = 64;

std::string_view ToView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// The LWW winner of the two, its vector absorbing the loser's (as the data merge does, so a
// replayed hint carries what a replica that saw both versions would hold).
Version Winner(Version a, const Version& b) {
  if (!a.SameDot(b) && LastWriteWins(b, a)) return Winner(b, a);
  a.vv.MergeFrom(b.vv);
  a.vv.Truncate(kVersionVectorEntriesMax, a.writer);
  return a;
}

}  // namespace

HintStore::HintStore(Hooks hooks, uint64_t bytes_per_target_max)
    : hooks_(std::move(hooks)), bytes_per_target_max_(bytes_per_target_max) {}

std::mutex& HintStore::StripeOf(std::string_view hint_key) {
  return stripes_[std::hash<std::string_view>{}(hint_key) % kApplyLockStripes];
}

bool HintStore::Reserve(NodeId target, int64_t hints, int64_t bytes) {
  std::lock_guard<std::mutex> lock(tallies_mu_);
  auto pos = tallies_.find(target);
  const uint64_t held = pos == tallies_.end() ? 0 : pos->second.bytes;
  if (bytes > 0 && held + static_cast<uint64_t>(bytes) > bytes_per_target_max_) return false;
  AdjustLocked(target, hints, bytes);
  return true;
}

void HintStore::Adjust(NodeId target, int64_t hints, int64_t bytes) {
  std::lock_guard<std::mutex> lock(tallies_mu_);
  AdjustLocked(target, hints, bytes);
}

void HintStore::AdjustLocked(NodeId target, int64_t hints, int64_t bytes) {
  Tally& t = tallies_[target];
  t.hints = static_cast<uint64_t>(static_cast<int64_t>(t.hints) + hints);
  t.bytes = static_cast<uint64_t>(static_cast<int64_t>(t.bytes) + bytes);
  if (t.hints == 0) tallies_.erase(target);
}

Status HintStore::MigrateSeqLayout(rocksdb::WriteBatch* batch) {
  std::map<std::string, Version> winners;  // new hint key -> winner so far
  std::unique_ptr<rocksdb::Iterator> it(hooks_.db->NewIterator(rocksdb::ReadOptions(), hooks_.cf));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != kSeqHintKeyBytes) return Status::Corruption("bad format-1 hint key");
    std::string_view value = ToView(it->value());
    uint64_t key_bytes = 0;
    if (!GetVarint64(&value, &key_bytes) || key_bytes > value.size()) {
      return Status::Corruption("bad format-1 hint record");
    }
    Result<Version> v = DecodeVersion(value.substr(key_bytes));
    if (!v.ok()) return v.status();
    std::string key = HintKey(DecodeFixed64Be(it->key().data()), value.substr(0, key_bytes));
    auto [pos, fresh] = winners.try_emplace(std::move(key), *v);
    if (!fresh) pos->second = Winner(std::move(pos->second), *v);
    if (rocksdb::Status s = batch->Delete(hooks_.cf, it->key()); !s.ok()) {
      return FromRocksDb(s, "migrate hints");
    }
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "migrate hints");
  // After every delete: a new key may equal an old one (an 8-byte data key), and must survive.
  for (const auto& [key, version] : winners) {
    if (rocksdb::Status s = batch->Put(hooks_.cf, key, EncodeVersion(version)); !s.ok()) {
      return FromRocksDb(s, "migrate hints");
    }
  }
  return Status::Ok();
}

Status HintStore::Load() {
  std::map<NodeId, Tally> tallies;
  std::unique_ptr<rocksdb::Iterator> it(hooks_.db->NewIterator(rocksdb::ReadOptions(), hooks_.cf));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() <= kTargetBytes) return Status::Corruption("bad hint key");
    Tally& t = tallies[DecodeFixed64Be(it->key().data())];
    ++t.hints;
    t.bytes += it->key().size() + it->value().size();
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "load hints");
  std::lock_guard<std::mutex> lock(tallies_mu_);
  tallies_ = std::move(tallies);
  return Status::Ok();
}

// Reads the stored hint, keeps the winner, and reserves the byte delta in the target's tally
// before writing (so that concurrent Puts of other keys cannot together pass the budget);
// a failed write gives the reservation back.
Result<HintPut> HintStore::Put(NodeId target, std::string_view key, const Version& version) {
  if (Status s = ValidateKey(key); !s.ok()) return s;
  if (Status s = ValidateVersion(version); !s.ok()) return s;
  const std::string hint_key = HintKey(target, key);
  std::lock_guard<std::mutex> stripe(StripeOf(hint_key));
  std::string stored;
  const rocksdb::Status read = hooks_.db->Get(rocksdb::ReadOptions(), hooks_.cf, hint_key, &stored);
  if (!read.ok() && !read.IsNotFound()) return FromRocksDb(read, "read hint");
  const bool had = read.ok();
  std::string record;
  if (had) {
    Result<Version> old = DecodeVersion(stored);
    if (!old.ok()) return old.status();
    record = EncodeVersion(Winner(std::move(*old), version));
    if (record == stored) return HintPut::kStored;  // the stored hint already was the winner
  } else {
    record = EncodeVersion(version);
  }
  if (Status s = hooks_.admit_data(hint_key.size() + record.size() + kWriteBatchOverheadBytes);
      !s.ok()) {
    return s;
  }
  const int64_t old_bytes = had ? static_cast<int64_t>(hint_key.size() + stored.size()) : 0;
  const int64_t delta = static_cast<int64_t>(hint_key.size() + record.size()) - old_bytes;
  const int64_t hints_delta = had ? 0 : 1;
  if (!Reserve(target, hints_delta, delta)) {
    over_budget_.fetch_add(1, std::memory_order_relaxed);
    return HintPut::kOverBudget;
  }
  Status s = hooks_.check_write(hooks_.db->Put(hooks_.write_options, hooks_.cf, hint_key, record),
                                "put hint");
  if (!s.ok()) {
    Adjust(target, -hints_delta, -delta);
    return s;
  }
  return HintPut::kStored;
}

Result<HintScanEnd> HintStore::Scan(NodeId target, std::string_view after_key, uint64_t limit_bytes,
                                    const HintFn& fn) {
  const std::string prefix = HintKey(target, {});
  const std::string start = HintKey(target, after_key);
  std::string upper;
  rocksdb::Slice upper_slice;
  rocksdb::ReadOptions ro;
  if (target != std::numeric_limits<NodeId>::max()) {
    upper = HintKey(target + 1, {});
    upper_slice = upper;
    ro.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(hooks_.db->NewIterator(ro, hooks_.cf));
  it->Seek(start);
  if (it->Valid() && !after_key.empty() && it->key() == start) it->Next();
  HintScanEnd end;
  for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() <= kTargetBytes) return Status::Corruption("bad hint key");
    const uint64_t bytes = it->key().size() + it->value().size();
    if (end.hints > 0 && end.bytes + bytes > limit_bytes) return end;  // more remain
    Result<Version> v = DecodeVersion(ToView(it->value()));
    if (!v.ok()) return v.status();
    ++end.hints;
    end.bytes += bytes;
    end.last_key.assign(ToView(it->key()).substr(kTargetBytes));
    if (!fn(end.last_key, *v)) {
      it->Next();
      end.exhausted = it->status().ok() && !(it->Valid() && it->key().starts_with(prefix));
      return end;
    }
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "scan hints");
  end.exhausted = true;
  return end;
}

std::vector<HintTargetBytes> HintStore::Targets() const {
  std::lock_guard<std::mutex> lock(tallies_mu_);
  std::vector<HintTargetBytes> out;
  out.reserve(tallies_.size());
  for (const auto& [target, t] : tallies_) out.push_back({target, t.hints, t.bytes});
  return out;
}

Result<bool> HintStore::DeleteIfSame(NodeId target, std::string_view key, const Version& version) {
  if (Status s = ValidateKey(key); !s.ok()) return s;
  const std::string hint_key = HintKey(target, key);
  std::lock_guard<std::mutex> stripe(StripeOf(hint_key));
  return DeleteLocked(target, hint_key, version.timestamp, version.writer, nullptr);
}

Result<bool> HintStore::DeleteLocked(NodeId target, const std::string& hint_key, Hlc timestamp,
                                     NodeId writer, const Hlc* below) {
  rocksdb::PinnableSlice stored;
  const rocksdb::Status read = hooks_.db->Get(rocksdb::ReadOptions(), hooks_.cf, hint_key, &stored);
  if (read.IsNotFound()) return false;
  if (!read.ok()) return FromRocksDb(read, "read hint");
  Result<VersionHeader> header = DecodeVersionHeader(ToView(stored));
  if (!header.ok()) return header.status();
  if (header->timestamp != timestamp || header->writer != writer) return false;
  if (below != nullptr && header->timestamp >= *below) return false;
  if (Status s = hooks_.check_writable(); !s.ok()) return s;
  Status s = hooks_.check_write(hooks_.db->Delete(hooks_.write_options, hooks_.cf, hint_key),
                                "delete hint");
  if (!s.ok()) return s;
  Adjust(target, -1, -static_cast<int64_t>(hint_key.size() + stored.size()));
  return true;
}

// Iterates a snapshot of the family (the iterator's implicit one) and deletes each candidate
// under its stripe, after checking again that it is still the hint the snapshot showed.
Result<uint64_t> HintStore::DropBelow(Hlc watermark) {
  std::unique_ptr<rocksdb::Iterator> it(hooks_.db->NewIterator(rocksdb::ReadOptions(), hooks_.cf));
  uint64_t dropped = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() <= kTargetBytes) return Status::Corruption("bad hint key");
    Result<VersionHeader> header = DecodeVersionHeader(ToView(it->value()));
    if (!header.ok()) return header.status();
    if (header->timestamp >= watermark) continue;
    const std::string hint_key(ToView(it->key()));
    std::lock_guard<std::mutex> stripe(StripeOf(hint_key));
    Result<bool> deleted = DeleteLocked(DecodeFixed64Be(hint_key.data()), hint_key,
                                        header->timestamp, header->writer, &watermark);
    if (!deleted.ok()) return deleted.status();
    if (*deleted) {
      ++dropped;
      dropped_below_watermark_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "drop hints");
  return dropped;
}

uint64_t HintStore::hints() const {
  std::lock_guard<std::mutex> lock(tallies_mu_);
  uint64_t total = 0;
  for (const auto& [target, t] : tallies_) total += t.hints;
  return total;
}

uint64_t HintStore::bytes() const {
  std::lock_guard<std::mutex> lock(tallies_mu_);
  uint64_t total = 0;
  for (const auto& [target, t] : tallies_) total += t.bytes;
  return total;
}

}  // namespace causeway::internal
