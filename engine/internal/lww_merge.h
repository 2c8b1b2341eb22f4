// The merge operator of the `data` column family (docs/design.md, "The apply path").
//
// Apply() does not read: it writes the incoming version record as a merge operand, and RocksDB
// folds a key's operands (and its base value, if any) with LwwMergeOperator whenever a read needs
// the current version or a flush/compaction rewrites the key. The fold keeps the LWW winner; the
// winner's version vector becomes the pointwise maximum of the vectors of every version it
// replaced, truncated to kVersionVectorEntriesMax keeping its own dot. Max is associative and
// commutative, so full and partial merges give the same result whatever grouping RocksDB picks.
//
// Counting: a losing version is counted (shadowed or overwritten, concurrent, duplicate) when a
// flush or compaction merge discards it. After such a merge only the combined result survives on
// disk, so each loser is met -- and counted -- exactly once. Merges run for reads are recomputed on
// every read and thrown away, so they count nothing: the engine marks its own reading threads with
// ReadingScope.
#pragma once

#include <rocksdb/merge_operator.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "base/version.h"

namespace causeway::internal {

struct MergeCounters {
  std::atomic<uint64_t> shadowed{0};     // lost to a version written before it
  std::atomic<uint64_t> overwritten{0};  // lost to a version written after it
  std::atomic<uint64_t> concurrent{0};   // of the two above, the ones concurrent with the winner
  std::atomic<uint64_t> duplicates{0};   // a second copy of the same dot
};

// While alive, merges run by the current thread are read-path merges and count nothing. A
// thread-local flag is the only channel: RocksDB calls the operator with no per-call context.
class ReadingScope {
 public:
  ReadingScope();
  ~ReadingScope();
  ReadingScope(const ReadingScope&) = delete;
  ReadingScope& operator=(const ReadingScope&) = delete;

 private:
  bool previous_;
};

// Thread-safe (RocksDB calls it from readers, flushes and compactions at once). A record that
// does not decode or fails its checksum makes the merge fail: RocksDB reports kCorruption to the
// read, or fails the compaction (which fail-stops the engine's writes); nothing crashes.
class LwwMergeOperator final : public rocksdb::MergeOperator {
 public:
  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override;
  bool PartialMergeMulti(const rocksdb::Slice& key, const std::deque<rocksdb::Slice>& operands,
                         std::string* new_value, rocksdb::Logger* logger) const override;
  bool PartialMerge(const rocksdb::Slice& key, const rocksdb::Slice& left,
                    const rocksdb::Slice& right, std::string* new_value,
                    rocksdb::Logger* logger) const override;
  const char* Name() const override { return "causeway.LwwMerge"; }

  // For Apply of a large value, which writes a full value instead of an operand: folds `records`
  // (oldest first, at least one) like a merge. With `count`, every loser is counted as discarded
  // (the caller is about to hide them all under the result). Fills *out (the winner's record) and
  // *winner (without its value) when not null. False if a record is damaged.
  bool Fold(const std::vector<std::string_view>& records, bool count, std::string* out,
            Version* winner) const;

  const MergeCounters& counters() const { return counters_; }

 private:
  mutable MergeCounters counters_;
};

}  // namespace causeway::internal
