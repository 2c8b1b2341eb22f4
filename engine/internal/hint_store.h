// The `hints` column family: versions held for a replica that is down (docs/formats.md, "hints
// column family"; docs/design.md, "Hints on disk").
//
// One hint per (target, key): key = target (8 bytes, big-endian) + data key, value = the version
// record. Put keeps the LWW winner of the stored hint and the new version (the winner's vector
// absorbs the loser's, as the data merge does), so hints grow with distinct keys, not with write
// volume. Each target's hints are bounded by a byte budget (key + record bytes); a Put that would
// pass it writes nothing and says so (HintPut::kOverBudget) for the caller to fall back on
// anti-entropy. The per-target tallies are exact: rebuilt by one scan at Load, then moved by every
// write that succeeds.
//
// Writes of one (target, key) are serialised by kApplyLockStripes striped mutexes, so that Put's
// read-compare-write and DeleteIfSame's compare-delete are atomic per key without a transaction.
//
// Thread-safe. Owned by the engine; borrows its database, column family and write hooks, which
// must outlive it.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/limits.h"
#include "base/status.h"
#include "base/version.h"
#include "engine/engine.h"

namespace causeway::internal {

class HintStore {
 public:
  // How the store writes: the engine's fail-stop and disk reserve stay the engine's.
  struct Hooks {
    rocksdb::DB* db = nullptr;
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    rocksdb::WriteOptions write_options;  // per the sync mode
    // Ok, or why a data write of about `bytes` is refused now (fail-stop, then disk reserve).
    std::function<Status(uint64_t bytes)> admit_data;
    // Ok, or the fail-stop (deletes free space: they are not refused for the reserve).
    std::function<Status()> check_writable;
    // Maps a write's RocksDB status; fail-stops the engine on I/O, space and corruption errors.
    std::function<Status(const rocksdb::Status&, std::string_view context)> check_write;
  };

  HintStore(Hooks hooks, uint64_t bytes_per_target_max);
  HintStore(const HintStore&) = delete;
  HintStore& operator=(const HintStore&) = delete;

  // Adds to `batch` what rewrites hints stored in the format-1 layout (target + seq -> key
  // length + key + record) into this one: one hint per (target, key), the LWW winner of the old
  // ones, vectors absorbed. Reads the whole family into memory (the old layout is small in
  // practice: nothing outside the engine's tests wrote it). Call before Load.
  Status MigrateSeqLayout(rocksdb::WriteBatch* batch);
  // One scan of the family: the per-target tallies. kCorruption on a key that is not
  // target + data key.
  Status Load();

  Result<HintPut> Put(NodeId target, std::string_view key, const Version& version);
  Result<HintScanEnd> Scan(NodeId target, std::string_view after_key, uint64_t limit_bytes,
                           const HintFn& fn);
  std::vector<HintTargetBytes> Targets() const;
  Result<bool> DeleteIfSame(NodeId target, std::string_view key, const Version& version);
  Result<uint64_t> DropBelow(Hlc watermark);

  uint64_t hints() const;
  uint64_t bytes() const;
  uint64_t over_budget() const { return over_budget_.load(std::memory_order_relaxed); }
  uint64_t dropped_below_watermark() const {
    return dropped_below_watermark_.load(std::memory_order_relaxed);
  }

 private:
  struct Tally {
    uint64_t hints = 0;
    uint64_t bytes = 0;
  };

  std::mutex& StripeOf(std::string_view hint_key);
  // Moves target's tally by (hints, bytes); drops the entry when it reaches zero hints.
  void Adjust(NodeId target, int64_t hints, int64_t bytes);
  void AdjustLocked(NodeId target, int64_t hints, int64_t bytes);  // holds tallies_mu_
  // Adjust, unless a growth of `bytes` would take target past the budget (then false).
  bool Reserve(NodeId target, int64_t hints, int64_t bytes);
  // Deletes hint_key if the stored record's dot is (timestamp, writer) and, with `below`, its
  // timestamp is below *below. Caller holds the key's stripe.
  Result<bool> DeleteLocked(NodeId target, const std::string& hint_key, Hlc timestamp,
                            NodeId writer, const Hlc* below);

  Hooks hooks_;
  const uint64_t bytes_per_target_max_;
  std::array<std::mutex, kApplyLockStripes> stripes_;
  mutable std::mutex tallies_mu_;
  std::map<NodeId, Tally> tallies_;  // GUARDED_BY(tallies_mu_); only targets with hints
  std::atomic<uint64_t> over_budget_{0};
  std::atomic<uint64_t> dropped_below_watermark_{0};
};

}  // namespace causeway::internal
