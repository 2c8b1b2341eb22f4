// Engine::Impl: the engine's state, shared by the files that implement engine/engine.h by role:
// engine/engine.cc (open, the syncer, data, hints, durability and stats), engine/engine_clock.cc
// (the HLC ceiling and meta records) and engine/engine_aae.cc (the anti-entropy tree). Not part
// of the API.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "engine/internal/aae_tree.h"
#include "engine/internal/coding.h"
#include "engine/internal/commit_queue.h"
#include "engine/internal/disk_watch.h"
#include "engine/internal/hint_store.h"
#include "engine/internal/info_log.h"
#include "engine/internal/keys.h"
#include "engine/internal/lww_merge.h"
#include "engine/internal/options.h"
#include "engine/internal/record.h"
#include "engine/internal/rocksdb_status.h"
#include "engine/internal/tombstone_filter.h"

namespace causeway {

// Shared by the engine's files (an internal header: only engine/ includes it).
constexpr char kHlcCeilingName[] = "hlc_ceiling";  // `clock` record: fixed64 LE milliseconds
constexpr char kFormatVersionName[] = "format_version";
// Where databases written between commits 59c9a2d and this one kept the HLC ceiling. Open reads
// it once into the `clock` record, then removes it.
// WriteBatch header and record framing (tag, column family, two varint lengths), rounded up.
constexpr size_t kWriteBatchOverheadBytes = 64;
constexpr char kHlcCeilingFile[] = "/HLC_CEILING";
// On-disk format of the whole database (column families, key layouts, record format). A database
// written by a newer format is refused rather than misread. 2: hints keyed by (target, key); a
// format-1 database has its hints migrated at Open (docs/formats.md).
constexpr uint64_t kDatabaseFormatVersion = 2;
// Apply of a large value looks at most this many stored entries of the key; with more pending it
// writes a merge operand instead (always correct, just not in a blob file until compacted).
constexpr int kLargeApplyEntriesMax = 8;

inline std::string_view ToView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

inline void StoreMax(std::atomic<uint64_t>* a, uint64_t v) {
  uint64_t seen = a->load(std::memory_order_relaxed);
  while (seen < v && !a->compare_exchange_weak(seen, v, std::memory_order_acq_rel)) {
  }
}

struct Engine::Impl {
  EngineOptions options;
  rocksdb::WriteOptions write_options;     // per the sync mode
  rocksdb::WriteOptions synced_options;    // clock and meta records: always synced
  rocksdb::WriteOptions unsynced_options;  // HLC ceiling outside `always`
  // Anti-entropy tree: Apply marks segments dirty (lock-free); aae_mu serialises refresh-and-read.
  // Before the filter and db: compactions mark it dirty until db is closed.
  internal::AaeTree aae;
  std::mutex aae_mu;
  internal::TombstoneFilter filter;                   // outlives db (declared before it)
  std::shared_ptr<internal::LwwMergeOperator> merge;  // counts the losers it discards
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  // Apply of a large value reads, then writes a full value that hides what it read: no other
  // Apply of the key may write in between. Every Apply takes its key's stripe (uncontended: ~20
  // ns).
  std::array<std::mutex, kApplyLockStripes> stripes;

  std::atomic<uint64_t> applied{0};
  // `always` only: group commit of data writes (ApplyAsync, and Apply through WriteData). Reset
  // before db closes.
  std::unique_ptr<internal::CommitQueue> commits;
  std::unique_ptr<internal::HintStore> hints;  // set by OpenHints

  std::atomic<bool> failed{false};
  mutable std::mutex failure_mu;
  // GUARDED_BY(failure_mu): the first write-path failure (a later kIoError or kCorruption
  // replaces a kNoSpace: it must not be resumed over), and a count of FailStop calls, so that a
  // resume clears only the failure it probed past.
  Status failure;
  uint64_t failure_generation = 0;
  std::atomic<uint64_t> fail_stops{0};
  std::mutex resume_mu;  // one TryResume at a time
  std::atomic<uint64_t> resumes{0};
  std::shared_ptr<internal::InfoLog> info_log;
  std::unique_ptr<internal::DiskWatch> disk;  // set after the database opens

  // HLC ceiling (the `clock` record kHlcCeilingName). Writes are serialized so that the stored
  // value only grows; a value is published in ceiling_durable only once a sync covers it.
  std::mutex ceiling_mu;
  // Largest value written since Open (or loaded); changed under ceiling_mu. Atomic so that
  // ScheduleRenewal can read it: a written value is durable or covered by a sync under way.
  std::atomic<uint64_t> ceiling_written{0};
  std::atomic<uint64_t> ceiling_requested{0};
  std::atomic<uint64_t> ceiling_durable{0};

  // The background syncer (RunSyncer); absent when periodic_sync_ms >= kSyncerOffPeriodMs. These
  // two are set before the thread starts, constant after.
  bool has_syncer = false;
  bool renewals_ride = false;  // `periodic` renewals ride on the periodic sync (CeilingSchedule)
  std::mutex syncer_mu;
  std::condition_variable syncer_cv;
  bool syncer_stop = false;  // GUARDED_BY(syncer_mu)
  // When the requested ceiling must next be made durable; max: nothing pending.
  SteadyTime renewal_due = SteadyTime::max();  // GUARDED_BY(syncer_mu)
  // The next periodic WAL sync; max outside `periodic`.
  SteadyTime next_periodic = SteadyTime::max();  // GUARDED_BY(syncer_mu)
  std::atomic<uint64_t> background_syncs{0};
  std::thread syncer;

  rocksdb::ColumnFamilyHandle* data() const { return handles[internal::kDataCfIndex]; }
  rocksdb::ColumnFamilyHandle* hints_cf() const { return handles[internal::kHintsCfIndex]; }
  rocksdb::ColumnFamilyHandle* clock() const { return handles[internal::kClockCfIndex]; }

  Status CheckWritable() const {
    if (!failed.load(std::memory_order_acquire)) return Status::Ok();
    std::lock_guard<std::mutex> lock(failure_mu);
    return failure;
  }

  // Maps a write-path RocksDB status; an I/O, no-space or corruption error fail-stops writes.
  Status CheckWrite(const rocksdb::Status& s, std::string_view context) {
    if (s.ok()) return Status::Ok();
    Status status = internal::FromRocksDb(s, context);
    if (internal::IsFailStop(status.code())) FailStop(status);
    return status;
  }

  void FailStop(const Status& status) {
    std::lock_guard<std::mutex> lock(failure_mu);
    if (failure.ok()) fail_stops.fetch_add(1, std::memory_order_relaxed);
    if (failure.ok() ||
        (failure.code() == ErrorCode::kNoSpace && status.code() != ErrorCode::kNoSpace)) {
      failure = status;
    }
    ++failure_generation;
    failed.store(true, std::memory_order_release);
  }

  // The fail-stop (if any), then the disk reserve, for a data write of about `bytes`.
  Status CheckDataWritable(uint64_t bytes) {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return disk->AdmitData(bytes);
  }

  // Memtable bytes of the families that hold values: what their next flushes will write.
  uint64_t PendingFlushBytes() {
    uint64_t total = 0;
    for (rocksdb::ColumnFamilyHandle* cf : {data(), hints_cf()}) {
      uint64_t bytes = 0;
      if (db->GetIntProperty(cf, "rocksdb.cur-size-all-mem-tables", &bytes)) total += bytes;
    }
    return total;
  }

  Status Put(rocksdb::ColumnFamilyHandle* cf, std::string_view key, std::string_view value,
             const rocksdb::WriteOptions& wo) {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return CheckWrite(db->Put(wo, cf, key, value), "put");
  }

  // Writes a version record to `data` as a merge operand, without first copying the value into
  // a record buffer (SliceParts: RocksDB copies it once, into the batch).
  // With `as_value`, a full value (Put) instead.
  // The batch WriteVersion writes.
  Result<rocksdb::WriteBatch> MakeVersionBatch(std::string_view data_key, const Version& v,
                                               bool as_value) {
    internal::RecordParts parts;
    internal::EncodeVersionParts(v, &parts);
    const rocksdb::Slice key_slice(data_key.data(), data_key.size());
    const rocksdb::Slice value_slices[3] = {
        parts.head, {parts.value.data(), parts.value.size()}, parts.tail};
    const rocksdb::SliceParts key_parts(&key_slice, 1), value_parts(value_slices, 3);
    // Sized up front, as DB::Put does: a 1 MiB value must not grow the batch by reallocation.
    rocksdb::WriteBatch batch(data_key.size() + parts.head.size() + parts.value.size() +
                              parts.tail.size() + kWriteBatchOverheadBytes);
    rocksdb::Status s = as_value ? batch.Put(data(), key_parts, value_parts)
                                 : batch.Merge(data(), key_parts, value_parts);
    if (!s.ok()) return internal::FromRocksDb(s, "batch");
    return batch;
  }
  Status WriteVersion(std::string_view data_key, const Version& v, bool as_value) {
    Result<rocksdb::WriteBatch> batch = MakeVersionBatch(data_key, v, as_value);
    if (!batch.ok()) return batch.status();
    return WriteData(std::move(*batch));
  }
  // A data write per the sync mode: in `always` through the group commit queue (so that it is
  // ordered with the queued writes and shares their sync), else a plain DB::Write.
  Status WriteData(rocksdb::WriteBatch batch) {
    if (commits) return commits->Commit(std::move(batch));
    return CheckWrite(db->Write(write_options, &batch), "apply");
  }

  Result<std::optional<std::string>> ReadRaw(rocksdb::ColumnFamilyHandle* cf,
                                             std::string_view key) {
    internal::ReadingScope reading;
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf, key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return internal::FromRocksDb(s, "get");
    return std::optional<std::string>(std::move(value));
  }

  rocksdb::FileSystem* fs() const {
    return (options.env != nullptr ? options.env : rocksdb::Env::Default())->GetFileSystem().get();
  }
  Result<uint64_t> ReadCeilingFile();
  Status MigrateCeilingFile();
  Status MakeCeilingDurable(uint64_t ceiling_ms);
  Status SyncInBackground(uint64_t ceiling_ms);
  void ScheduleRenewal(uint64_t ceiling_ms);
  HlcCeilingSchedule CeilingSchedule() const;
  Status OpenDb();
  void StartDiskWatch();
  void TryResume();
  Status CheckFormatVersion();
  Status OpenHints();
  void RunSyncer();
  Status ApplyLarge(std::string_view data_key, const Version& incoming);
  Status ScanInterval(const std::string& lower, const std::string* upper, const ScanFn& fn,
                      bool* stopped);
  Status AaeRefresh(internal::AaeSegment seg_begin, internal::AaeSegment seg_end);
  Result<uint64_t> AaeSpanRoot(Token first, Token last);
};

}  // namespace causeway
