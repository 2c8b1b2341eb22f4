#include "engine/internal/lww_merge.h"

#include <string_view>
#include <vector>

#include "base/limits.h"
#include "base/version.h"
#include "engine/internal/record.h"

namespace causeway::internal {
namespace {

bool& ReadingFlag() {
  thread_local bool reading = false;
  return reading;
}

// One decoded record taking part in a merge.
struct Entry {
  std::string_view bytes;   // the record as stored (inside RocksDB's buffers)
  std::string_view value;   // the value, inside `bytes`
  Version meta;             // everything but the value; meta.vv may grow while folding
  bool vv_changed = false;  // meta.vv differs from the vector encoded in `bytes`
};

struct Tally {
  uint64_t shadowed = 0, overwritten = 0, concurrent = 0, duplicates = 0;
};

// Checks the checksum and the structure: a merge never launders a damaged record into a fresh
// checksum, and never decides on a header it cannot trust.
bool DecodeEntry(std::string_view bytes, Entry* out) {
  if (!RecordChecksumMatches(bytes)) return false;
  Result<Version> v = DecodeVersionView(bytes, &out->value);
  if (!v.ok()) return false;
  out->bytes = bytes;
  out->meta = std::move(*v);
  out->vv_changed = false;
  return true;
}

// Folds `next`, written after every record already folded into `acc`, into `acc`: the LWW winner
// stays, its vector absorbs the loser's, and the loser is tallied once.
void FoldInto(Entry* acc, Entry* next, Tally* tally) {
  const bool same = acc->meta.SameDot(next->meta);
  const bool next_wins = !same && LastWriteWins(next->meta, acc->meta);
  Entry* winner = next_wins ? next : acc;
  const Entry* loser = next_wins ? acc : next;
  if (same) {
    ++tally->duplicates;
  } else {
    if (CompareCausality(winner->meta, loser->meta) == Causality::kConcurrent) ++tally->concurrent;
    ++(next_wins ? tally->overwritten : tally->shadowed);
  }
  VersionVector vv = winner->meta.vv;
  vv.MergeFrom(loser->meta.vv);
  vv.Truncate(kVersionVectorEntriesMax, winner->meta.writer);
  if (vv != winner->meta.vv) {
    winner->meta.vv = std::move(vv);
    winner->vv_changed = true;
  }
  if (next_wins) *acc = std::move(*next);
}

// Folds `records` (oldest first, at least one). False if any record is damaged.
bool FoldRecords(const std::vector<std::string_view>& records, Entry* acc, Tally* tally) {
  if (!DecodeEntry(records.front(), acc)) return false;
  Entry next;
  for (size_t i = 1; i < records.size(); ++i) {
    if (!DecodeEntry(records[i], &next)) return false;
    FoldInto(acc, &next, tally);
  }
  return true;
}

// Adds a flush/compaction merge's tally to the counters; read-path merges count nothing.
void Count(const Tally& tally, MergeCounters* counters) {
  if (ReadingFlag()) return;
  counters->shadowed.fetch_add(tally.shadowed, std::memory_order_relaxed);
  counters->overwritten.fetch_add(tally.overwritten, std::memory_order_relaxed);
  counters->concurrent.fetch_add(tally.concurrent, std::memory_order_relaxed);
  counters->duplicates.fetch_add(tally.duplicates, std::memory_order_relaxed);
}

std::string_view ToView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

}  // namespace

ReadingScope::ReadingScope() : previous_(ReadingFlag()) { ReadingFlag() = true; }
ReadingScope::~ReadingScope() { ReadingFlag() = previous_; }

bool LwwMergeOperator::FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const {
  const size_t inputs = in.operand_list.size() + (in.existing_value != nullptr ? 1 : 0);
  if (inputs == 0) return false;
  if (inputs == 1) {
    // The common read (one operand, no base): nothing to decide, nothing to allocate; the reader
    // (or a later merge) checks the record.
    out->existing_operand =
        in.existing_value != nullptr ? *in.existing_value : in.operand_list.front();
    return true;
  }
  std::vector<std::string_view> records;
  records.reserve(inputs);
  if (in.existing_value != nullptr) records.push_back(ToView(*in.existing_value));
  for (const rocksdb::Slice& op : in.operand_list) records.push_back(ToView(op));
  Entry winner;
  Tally tally;
  if (!FoldRecords(records, &winner, &tally)) return false;
  Count(tally, &counters_);
  out->new_value.clear();  // iterators hand in their previous result
  if (winner.vv_changed) {
    EncodeVersionWithValue(winner.meta, winner.value, &out->new_value);
  } else {
    // Copied, not handed back as existing_operand: through an iterator that slice outlived the
    // input it pointed into (anti-entropy digest scans after 1 MiB pushes read freed memory:
    // CliRepair.KeysBeyondTheHintBudgetAreRepaired).
    out->new_value.assign(winner.bytes.data(), winner.bytes.size());
  }
  return true;
}

bool LwwMergeOperator::PartialMergeMulti(const rocksdb::Slice& /*key*/,
                                         const std::deque<rocksdb::Slice>& operands,
                                         std::string* new_value,
                                         rocksdb::Logger* /*logger*/) const {
  if (operands.empty()) return false;
  std::vector<std::string_view> records;
  records.reserve(operands.size());
  for (const rocksdb::Slice& op : operands) records.push_back(ToView(op));
  Entry winner;
  Tally tally;
  // A damaged operand: keep the operands as they are; the full merge reports kCorruption.
  if (!FoldRecords(records, &winner, &tally)) return false;
  Count(tally, &counters_);
  new_value->clear();
  if (winner.vv_changed) {
    EncodeVersionWithValue(winner.meta, winner.value, new_value);
  } else {
    new_value->assign(winner.bytes.data(), winner.bytes.size());
  }
  return true;
}

bool LwwMergeOperator::Fold(const std::vector<std::string_view>& records, bool count,
                            std::string* out, Version* winner_meta) const {
  if (records.empty()) return false;
  Entry winner;
  Tally tally;
  if (!FoldRecords(records, &winner, &tally)) return false;
  if (count) Count(tally, &counters_);
  if (out != nullptr) {
    out->clear();
    if (winner.vv_changed) {
      EncodeVersionWithValue(winner.meta, winner.value, out);
    } else {
      out->assign(winner.bytes.data(), winner.bytes.size());
    }
  }
  if (winner_meta != nullptr) *winner_meta = std::move(winner.meta);
  return true;
}

bool LwwMergeOperator::PartialMerge(const rocksdb::Slice& key, const rocksdb::Slice& left,
                                    const rocksdb::Slice& right, std::string* new_value,
                                    rocksdb::Logger* logger) const {
  return PartialMergeMulti(key, std::deque<rocksdb::Slice>{left, right}, new_value, logger);
}

}  // namespace causeway::internal
