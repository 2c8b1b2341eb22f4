#include "engine/engine.h"

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

#include "engine/internal/aae_tree.h"
#include "engine/internal/coding.h"
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

using internal::FromRocksDb;

namespace {

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

std::string_view ToView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

void StoreMax(std::atomic<uint64_t>* a, uint64_t v) {
  uint64_t seen = a->load(std::memory_order_relaxed);
  while (seen < v && !a->compare_exchange_weak(seen, v, std::memory_order_acq_rel)) {
  }
}

}  // namespace

std::string_view SyncModeName(SyncMode mode) {
  switch (mode) {
    case SyncMode::kAlways:
      return "always";
    case SyncMode::kPeriodic:
      return "periodic";
    case SyncMode::kNone:
      return "none";
  }
  return "unknown";
}

Result<SyncMode> ParseSyncMode(std::string_view name) {
  for (SyncMode m : {SyncMode::kAlways, SyncMode::kPeriodic, SyncMode::kNone}) {
    if (name == SyncModeName(m)) return m;
  }
  return Status::InvalidArgument("unknown sync mode '" + std::string(name) +
                                 "' (always, periodic, none)");
}

struct Engine::Impl {
  EngineOptions options;
  rocksdb::WriteOptions write_options;                // per the sync mode
  rocksdb::WriteOptions synced_options;               // clock and meta records: always synced
  rocksdb::WriteOptions unsynced_options;             // HLC ceiling outside `always`
  internal::TombstoneFilter filter;                   // outlives db (declared before it)
  std::shared_ptr<internal::LwwMergeOperator> merge;  // counts the losers it discards
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  // Apply of a large value reads, then writes a full value that hides what it read: no other
  // Apply of the key may write in between. Every Apply takes its key's stripe (uncontended: ~20
  // ns).
  std::array<std::mutex, kApplyLockStripes> stripes;
  // Anti-entropy tree: Apply marks segments dirty (lock-free); aae_mu serialises refresh-and-read.
  internal::AaeTree aae;
  std::mutex aae_mu;

  std::atomic<uint64_t> applied{0};
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
    Status status = FromRocksDb(s, context);
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
  Status WriteVersion(std::string_view data_key, const Version& v, bool as_value) {
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
    if (!s.ok()) return FromRocksDb(s, "batch");
    return CheckWrite(db->Write(write_options, &batch), "apply");
  }

  Result<std::optional<std::string>> ReadRaw(rocksdb::ColumnFamilyHandle* cf,
                                             std::string_view key) {
    internal::ReadingScope reading;
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf, key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocksDb(s, "get");
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

Status Engine::Impl::OpenDb() {
  internal::DbLayout layout = internal::MakeDbLayout(options);
  layout.column_families[internal::kDataCfIndex].options.compaction_filter = &filter;
  merge = layout.merge_operator;
  // Our own info log: RocksDB's aborts on the line after a failed write (internal/info_log.h).
  info_log = std::make_shared<internal::InfoLog>(fs(), options.dir);
  layout.db.info_log = info_log;
  layout.db.listeners.push_back(
      std::make_shared<internal::BackgroundErrorListener>([this](const Status& error) {
        if (internal::IsFailStop(error.code())) FailStop(error);
      }));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(layout.db, options.dir, layout.column_families, &handles, &raw);
  if (!s.ok()) return FromRocksDb(s, "open " + options.dir);
  db.reset(raw);
  filter.Attach(db.get(), data());
  return Status::Ok();
}

void Engine::Impl::StartDiskWatch() {
  disk = std::make_unique<internal::DiskWatch>(options.dir, options.disk_reserve_bytes,
                                               options.disk_space,
                                               [this] { return PendingFlushBytes(); });
  disk->Sample();
  if (options.periodic_sync_ms < kSyncerOffPeriodMs) disk->StartThread([this] { TryResume(); });
}

// After a kNoSpace fail-stop, once the disk has room again: DB::Resume() (RocksDB flushes the
// memtables and leaves read-only mode), then a synced rewrite of the HLC ceiling record proves
// the WAL takes writes again. Only then are writes let through. A failure on the way fail-stops
// again (a kIoError there ends the resumes). RocksDB's own recovery is off
// (internal::BackgroundErrorListener): this and a restart are the only ways out.
void Engine::Impl::TryResume() {
  std::lock_guard<std::mutex> serial(resume_mu);
  uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(failure_mu);
    if (!failed.load(std::memory_order_relaxed) || failure.code() != ErrorCode::kNoSpace) return;
    generation = failure_generation;
  }
  if (!disk->HasRoom()) return;
  rocksdb::Status s = db->Resume();
  uint64_t probed_ms = 0;
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(ceiling_mu);
    probed_ms = ceiling_written.load(std::memory_order_relaxed);
    std::string bytes;
    internal::PutFixed64Le(&bytes, probed_ms);
    s = db->Put(synced_options, clock(), kHlcCeilingName, bytes);
  }
  if (!s.ok()) {
    Status status = FromRocksDb(s, "resume once the disk had room");
    if (internal::IsFailStop(status.code())) FailStop(status);
    return;  // kBusy and the like: the next sample tries again
  }
  StoreMax(&ceiling_durable, probed_ms);
  std::lock_guard<std::mutex> lock(failure_mu);
  if (failure_generation != generation) return;  // failed again meanwhile: the next sample
  failure = Status::Ok();
  failed.store(false, std::memory_order_release);
  resumes.fetch_add(1, std::memory_order_relaxed);
}

Status Engine::Impl::CheckFormatVersion() {
  Result<std::optional<std::string>> stored = ReadRaw(clock(), kFormatVersionName);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) {
    return Put(clock(), kFormatVersionName, std::to_string(kDatabaseFormatVersion), synced_options);
  }
  uint64_t version = 0;
  try {
    version = std::stoull(**stored);
  } catch (...) {
    return Status::Corruption("unreadable format_version '" + **stored + "'");
  }
  if (version > kDatabaseFormatVersion) {
    return Status::InvalidArgument("database format " + std::to_string(version) +
                                   " is newer than this build's " +
                                   std::to_string(kDatabaseFormatVersion));
  }
  return Status::Ok();
}

// The hint store over `hints`; a format-1 database has its (target, seq) hints rewritten, in
// one synced batch with the new format_version, so that a crash leaves either layout whole.
Status Engine::Impl::OpenHints() {
  internal::HintStore::Hooks hooks{
      .db = db.get(),
      .cf = hints_cf(),
      .write_options = write_options,
      .admit_data = [this](uint64_t bytes) { return CheckDataWritable(bytes); },
      .check_writable = [this] { return CheckWritable(); },
      .check_write = [this](const rocksdb::Status& s,
                            std::string_view context) { return CheckWrite(s, context); },
  };
  hints =
      std::make_unique<internal::HintStore>(std::move(hooks), options.hint_bytes_per_target_max);
  Result<std::optional<std::string>> stored = ReadRaw(clock(), kFormatVersionName);
  if (!stored.ok()) return stored.status();
  if (stored->has_value() && **stored == "1") {
    rocksdb::WriteBatch batch;
    if (Status s = hints->MigrateSeqLayout(&batch); !s.ok()) return s;
    rocksdb::Status s =
        batch.Put(clock(), kFormatVersionName, std::to_string(kDatabaseFormatVersion));
    if (s.ok()) s = db->Write(synced_options, &batch);
    if (!s.ok()) return FromRocksDb(s, "migrate hints to format 2");
  }
  return hints->Load();
}

// In `periodic`, syncs the WAL every periodic_sync_ms (counted from the end of the previous
// sync, like RocksDB users usually do); each sync first writes the requested HLC ceiling, if any,
// and publishes it once synced. A renewal due earlier (ScheduleRenewal: at once outside riding
// `periodic`; in `none` these are the only syncs) brings the sync forward. Waits with a predicate,
// so a spurious wakeup syncs nothing, and returns at once on shutdown.
void Engine::Impl::RunSyncer() {
  const bool periodic = options.sync == SyncMode::kPeriodic;
  const auto period = std::chrono::milliseconds(options.periodic_sync_ms);
  std::unique_lock<std::mutex> lock(syncer_mu);
  if (periodic) next_periodic = SteadyClock::now() + period;
  while (true) {
    const SteadyTime due = std::min(next_periodic, renewal_due);
    const auto woken = [this, due] { return syncer_stop || renewal_due < due; };
    if (due == SteadyTime::max()) {
      syncer_cv.wait(lock, woken);
    } else {
      syncer_cv.wait_until(lock, due, woken);
    }
    if (syncer_stop) return;
    const SteadyTime now = SteadyClock::now();
    const bool periodic_due = now >= next_periodic;
    if (!periodic_due && now < renewal_due) continue;  // an earlier due time came in
    renewal_due = SteadyTime::max();
    // Read under syncer_mu: a request that set renewal_due before this had raised it already.
    const uint64_t ceiling_ms = ceiling_requested.load(std::memory_order_acquire);
    lock.unlock();
    // A renewal already made durable (synchronously, by the clock) needs no sync of its own.
    if (periodic_due || ceiling_ms > ceiling_durable.load(std::memory_order_acquire)) {
      SyncInBackground(ceiling_ms).IgnoreError();  // a fail-stop is recorded; health() says it
    }
    lock.lock();
    if (periodic) next_periodic = SteadyClock::now() + period;  // any sync covers the data too
  }
}

Status Engine::Impl::SyncInBackground(uint64_t ceiling_ms) {
  if (Status s = CheckWritable(); !s.ok()) return s;
  background_syncs.fetch_add(1, std::memory_order_relaxed);
  return MakeCeilingDurable(ceiling_ms);
}

// When the syncer must make `ceiling_ms` durable: at once, unless renewals ride on the periodic
// sync; then no later than one sync allowance before the clock reaches the written ceiling
// (durable, or covered by a sync under way). The clock asked when its physical part was
// ceiling_ms - lead_ms, and reaches that ceiling that many ms of wall time later (taken as steady
// time: a wall clock that jumps ahead only makes the clock renew synchronously, which is always
// correct). In steady state that is after the next periodic sync, which then carries the renewal;
// after a pause in stamping it may be earlier, and the sync is brought forward instead of the clock
// syncing in its caller's thread.
void Engine::Impl::ScheduleRenewal(uint64_t ceiling_ms) {
  const SteadyTime now = SteadyClock::now();
  SteadyTime due = now;
  if (renewals_ride) {
    const uint64_t lead_ms = CeilingSchedule().lead_ms;
    const uint64_t physical_ms = ceiling_ms > lead_ms ? ceiling_ms - lead_ms : 0;
    // Not ceiling_durable: a request that comes while a sync is under way would then be
    // measured against the ceiling that sync is about to replace, and brought forward for nothing.
    const uint64_t durable_ms = ceiling_written.load(std::memory_order_acquire);
    const uint64_t safe_ms = physical_ms + kHlcCeilingSyncAllowanceMs;
    due += std::chrono::milliseconds(durable_ms > safe_ms ? durable_ms - safe_ms : 0);
  }
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(syncer_mu);
    if (due < renewal_due) {
      renewal_due = due;
      wake = due < next_periodic;  // else the periodic sync carries it: let the syncer sleep
    }
  }
  if (wake) syncer_cv.notify_one();
}

HlcCeilingSchedule Engine::Impl::CeilingSchedule() const {
  if (!renewals_ride) return {};
  const uint64_t renew_ms = options.periodic_sync_ms + kHlcCeilingRideMarginMs;
  return {.lead_ms = renew_ms + kHlcCeilingRideStepMs, .renew_ms = renew_ms};
}

Result<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  if (options.dir.empty()) return Status::InvalidArgument("engine directory not set");
  if (options.sync == SyncMode::kPeriodic && options.periodic_sync_ms == 0) {
    return Status::InvalidArgument("periodic_sync_ms must be > 0");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->write_options = internal::MakeWriteOptions(options.sync);
  impl->synced_options = internal::MakeWriteOptions(SyncMode::kAlways);
  impl->unsynced_options = internal::MakeWriteOptions(SyncMode::kNone);
  if (Status s = impl->OpenDb(); !s.ok()) return s;
  std::unique_ptr<Engine> engine(new Engine(std::move(impl)));
  if (Status s = engine->impl_->CheckFormatVersion(); !s.ok()) return s;
  if (Status s = engine->impl_->MigrateCeilingFile(); !s.ok()) return s;
  Result<uint64_t> ceiling_ms = engine->LoadHlcCeilingMs();
  if (!ceiling_ms.ok()) return ceiling_ms.status();
  engine->impl_->ceiling_written.store(*ceiling_ms);  // only ever written higher
  if (Status s = engine->impl_->OpenHints(); !s.ok()) return s;
  engine->impl_->StartDiskWatch();
  if (options.periodic_sync_ms < kSyncerOffPeriodMs) {
    Impl* p = engine->impl_.get();
    p->has_syncer = true;
    p->renewals_ride = options.sync == SyncMode::kPeriodic &&
                       options.periodic_sync_ms <= kHlcCeilingRidePeriodMaxMs;
    p->syncer = std::thread([p] { p->RunSyncer(); });
  }
  return engine;
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  impl_->disk.reset();  // joins the disk thread, which may be resuming the database
  if (impl_->syncer.joinable()) {
    {
      std::lock_guard<std::mutex> lock(impl_->syncer_mu);
      impl_->syncer_stop = true;
    }
    impl_->syncer_cv.notify_all();
    impl_->syncer.join();
  }
  if (impl_->db == nullptr) return;
  if (impl_->CheckWritable().ok()) impl_->db->SyncWAL().PermitUncheckedError();
  impl_->filter.Detach();
  for (rocksdb::ColumnFamilyHandle* h : impl_->handles) {
    impl_->db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  impl_->db->Close().PermitUncheckedError();
  impl_->db.reset();
}

// ---- data -------------------------------------------------------------------------------------

// No read: the incoming version becomes a merge operand and RocksDB keeps the LWW winner of all
// of the key's versions whenever it reads or compacts it (engine/internal/lww_merge.h).
Result<ApplyResult> Engine::Apply(std::string_view key, const Version& version) {
  if (Status s = ValidateKey(key); !s.ok()) return s;
  if (Status s = ValidateVersion(version); !s.ok()) return s;
  if (Status s =
          impl_->CheckDataWritable(key.size() + version.value.size() + kWriteBatchOverheadBytes);
      !s.ok()) {
    return s;
  }
  const std::string data_key = internal::DataKey(key);
  std::lock_guard<std::mutex> lock(
      impl_->stripes[internal::DecodeFixed64Be(data_key.data()) % kApplyLockStripes]);
  Status s = version.value.size() >= internal::kBlobValueBytesMin
                 ? impl_->ApplyLarge(data_key, version)
                 : impl_->WriteVersion(data_key, version, /*as_value=*/false);
  // After the write is visible, failed or not (docs/design.md, "Anti-entropy trees").
  impl_->aae.MarkDirty(internal::AaeTree::SegmentOf(internal::DecodeFixed64Be(data_key.data())));
  if (!s.ok()) return s;
  impl_->applied.fetch_add(1, std::memory_order_relaxed);
  return ApplyResult{ApplyOutcome::kApplied, false};
}

// Large values belong in blob files (written once at flush, never rewritten by compaction), but
// RocksDB keeps merge operands inline in SSTs. So a large version that wins over everything
// stored is written as a full value holding the fold of all of them (the losers it hides are
// counted now: no merge will ever meet them). One lookup, cheap next to the value's write; a new
// key costs a bloom probe per level. A large version that loses is written as an operand, so the
// result is the same as with a merge. Caller holds the key's stripe.
Status Engine::Impl::ApplyLarge(std::string_view data_key, const Version& incoming) {
  std::array<rocksdb::PinnableSlice, kLargeApplyEntriesMax> entries;
  rocksdb::GetMergeOperandsOptions options;
  options.expected_max_number_of_operands = kLargeApplyEntriesMax;
  int count = 0;
  rocksdb::Status s = db->GetMergeOperands(rocksdb::ReadOptions(), data(), data_key, entries.data(),
                                           &options, &count);
  if (s.IsNotFound()) return WriteVersion(data_key, incoming, /*as_value=*/true);
  if (s.IsIncomplete()) return WriteVersion(data_key, incoming, /*as_value=*/false);
  if (!s.ok()) return CheckWrite(s, "apply: read stored versions");
  std::vector<std::string_view> records;
  records.reserve(records.size() + static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) records.push_back(ToView(entries[i]));
  Version stored;
  if (!merge->Fold(records, /*count=*/false, nullptr, &stored)) {
    FailStop(Status::Corruption("apply: stored version does not decode"));
    return CheckWritable();
  }
  if (stored.SameDot(incoming) || !LastWriteWins(incoming, stored)) {
    return WriteVersion(data_key, incoming, /*as_value=*/false);
  }
  const std::string incoming_record = EncodeVersion(incoming);
  records.push_back(incoming_record);
  std::string winner;
  if (!merge->Fold(records, /*count=*/true, &winner, nullptr)) return Status::Internal("fold");
  if (Status w = CheckWritable(); !w.ok()) return w;
  return CheckWrite(db->Put(write_options, data(), data_key, winner), "apply");
}

Result<std::optional<Version>> Engine::Get(std::string_view key) {
  if (Status s = ValidateKey(key); !s.ok()) return s;
  internal::ReadingScope reading;  // a merge run by this read counts nothing
  rocksdb::PinnableSlice stored;
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->data(), internal::DataKey(key), &stored);
  if (s.IsNotFound()) return std::optional<Version>();
  if (!s.ok()) return FromRocksDb(s, "get");
  Result<Version> v = DecodeVersion(ToView(stored));
  if (!v.ok()) return v.status();
  return std::optional<Version>(std::move(*v));
}

Status Engine::Impl::ScanInterval(const std::string& lower, const std::string* upper,
                                  const ScanFn& fn, bool* stopped) {
  internal::ReadingScope reading;  // merges run by this scan count nothing (fn runs inside too)
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper_slice;
  if (upper != nullptr) {
    upper_slice = *upper;
    ro.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, data()));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    if (it->key().size() <= internal::kTokenBytes) return Status::Corruption("bad data key");
    Result<Version> v = DecodeVersion(ToView(it->value()));
    if (!v.ok()) return v.status();
    if (!fn(ToView(it->key()).substr(internal::kTokenBytes), *v)) {
      *stopped = true;
      return Status::Ok();
    }
  }
  return FromRocksDb(it->status(), "scan");
}

// [begin, end) in token order; begin > end wraps around; begin == end is the whole ring.
Status Engine::ScanTokenRange(Token begin, Token end, const ScanFn& fn) {
  bool stopped = false;
  const std::string lower = internal::TokenPrefix(begin);
  const std::string upper = internal::TokenPrefix(end);
  if (begin < end) return impl_->ScanInterval(lower, &upper, fn, &stopped);
  if (Status s = impl_->ScanInterval(lower, nullptr, fn, &stopped); !s.ok() || stopped) return s;
  if (end == 0) return Status::Ok();
  return impl_->ScanInterval(internal::TokenPrefix(0), &upper, fn, &stopped);
}

void Engine::SetTombstoneWatermark(Hlc watermark) { impl_->filter.SetWatermark(watermark); }

Status Engine::CompactData() {
  if (Status s = impl_->CheckDataWritable(0); !s.ok()) return s;
  rocksdb::FlushOptions fo;
  fo.wait = true;
  if (Status s = impl_->CheckWrite(impl_->db->Flush(fo, impl_->data()), "flush"); !s.ok()) {
    return s;
  }
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  return impl_->CheckWrite(impl_->db->CompactRange(co, impl_->data(), nullptr, nullptr), "compact");
}

// ---- hints ------------------------------------------------------------------------------------

Result<HintPut> Engine::PutHint(NodeId target, std::string_view key, const Version& version) {
  return impl_->hints->Put(target, key, version);
}

Result<HintScanEnd> Engine::ScanHints(NodeId target, std::string_view after_key,
                                      uint64_t limit_bytes, const HintFn& fn) {
  return impl_->hints->Scan(target, after_key, limit_bytes, fn);
}

std::vector<HintTargetBytes> Engine::HintTargets() { return impl_->hints->Targets(); }

Result<bool> Engine::DeleteHintIfSame(NodeId target, std::string_view key, const Version& version) {
  return impl_->hints->DeleteIfSame(target, key, version);
}

Result<uint64_t> Engine::DropHintsBelow(Hlc watermark) {
  return impl_->hints->DropBelow(watermark);
}

// ---- clock and identity -----------------------------------------------------------------------

// 0 when the file does not exist (a new database, or one written before or after the file).
Result<uint64_t> Engine::Impl::ReadCeilingFile() {
  const std::string name = options.dir + kHlcCeilingFile;
  if (fs()->FileExists(name, rocksdb::IOOptions(), nullptr).IsNotFound()) return uint64_t{0};
  std::string bytes;
  rocksdb::IOStatus s = rocksdb::ReadFileToString(fs(), name, &bytes);
  if (!s.ok()) return FromRocksDb(s, "read hlc ceiling");
  if (bytes.size() != 8) return Status::Corruption("bad HLC_CEILING file");
  return internal::DecodeFixed64Le(bytes.data());
}

// Moves an HLC_CEILING file's value into the `clock` record (synced, kept if the record is
// higher), then deletes the file. A power loss that undoes the deletion only means reading it
// once more: the record is already at least as high.
Status Engine::Impl::MigrateCeilingFile() {
  Result<uint64_t> from_file = ReadCeilingFile();
  if (!from_file.ok()) return from_file.status();
  if (*from_file == 0) return Status::Ok();
  std::string bytes;
  internal::PutFixed64Le(&bytes, *from_file);
  Result<std::optional<std::string>> stored = ReadRaw(clock(), kHlcCeilingName);
  if (!stored.ok()) return stored.status();
  if (stored->has_value() && (*stored)->size() != 8) {
    return Status::Corruption("bad hlc_ceiling record");
  }
  if (!stored->has_value() || internal::DecodeFixed64Le((*stored)->data()) < *from_file) {
    if (Status s = Put(clock(), kHlcCeilingName, bytes, synced_options); !s.ok()) return s;
  }
  return CheckWrite(fs()->DeleteFile(options.dir + kHlcCeilingFile, rocksdb::IOOptions(), nullptr),
                    "remove HLC_CEILING");
}

// Writes the ceiling record if `ceiling_ms` is above what was written (never lowering it), and
// publishes the written value as durable once a sync covers it: a synced write in `always`
// (writers there sync anyway), elsewhere an unsynced write and then one WAL sync, which, unlike a
// synced write, holds up no other writer (and is the periodic sync itself when the syncer calls
// this in `periodic`).
Status Engine::Impl::MakeCeilingDurable(uint64_t ceiling_ms) {
  const bool always = options.sync == SyncMode::kAlways;
  uint64_t written_ms = 0;
  {
    std::lock_guard<std::mutex> lock(ceiling_mu);
    written_ms = ceiling_written.load(std::memory_order_relaxed);  // `always`: written = synced
    if (ceiling_ms > written_ms) {
      std::string bytes;
      internal::PutFixed64Le(&bytes, ceiling_ms);
      const rocksdb::WriteOptions& wo = always ? synced_options : unsynced_options;
      if (Status s = Put(clock(), kHlcCeilingName, bytes, wo); !s.ok()) return s;
      written_ms = ceiling_ms;
      ceiling_written.store(written_ms, std::memory_order_release);
    }
  }
  if (!always) {
    if (Status s = CheckWrite(db->SyncWAL(), "sync hlc ceiling"); !s.ok()) return s;
  }
  StoreMax(&ceiling_durable, written_ms);
  return Status::Ok();
}

// The stored record: what the last durable (or later) write left. Migration ran at Open.
Result<uint64_t> Engine::LoadHlcCeilingMs() {
  Result<std::optional<std::string>> stored = impl_->ReadRaw(impl_->clock(), kHlcCeilingName);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return uint64_t{0};
  if ((*stored)->size() != 8) return Status::Corruption("bad hlc_ceiling record");
  return internal::DecodeFixed64Le((*stored)->data());
}

Status Engine::StoreHlcCeilingMs(uint64_t ceiling_ms) {
  if (Status s = impl_->CheckWritable(); !s.ok()) return s;
  return impl_->MakeCeilingDurable(ceiling_ms);
}

void Engine::RequestHlcCeilingMs(uint64_t ceiling_ms) {
  if (!impl_->has_syncer) return;  // no syncer: the clock renews synchronously
  StoreMax(&impl_->ceiling_requested, ceiling_ms);
  impl_->ScheduleRenewal(ceiling_ms);
}

HlcCeilingSchedule Engine::CeilingSchedule() { return impl_->CeilingSchedule(); }

uint64_t Engine::DurableHlcCeilingMs() {
  return impl_->ceiling_durable.load(std::memory_order_acquire);
}

Result<std::optional<std::string>> Engine::LoadMeta(std::string_view name) {
  if (name.empty() || name.size() > kKeyBytesMax) return Status::InvalidArgument("bad meta name");
  return impl_->ReadRaw(impl_->clock(), name);
}

Status Engine::StoreMeta(std::string_view name, std::string_view value) {
  if (name == kHlcCeilingName || name == kFormatVersionName) {
    return Status::InvalidArgument("meta name '" + std::string(name) + "' is the engine's own");
  }
  if (name.empty() || name.size() > kKeyBytesMax || value.size() > kValueBytesMax) {
    return Status::InvalidArgument("bad meta record size");
  }
  return impl_->Put(impl_->clock(), name, value, impl_->synced_options);
}

// ---- durability and health --------------------------------------------------------------------

Status Engine::SyncWal() {
  if (Status s = impl_->CheckWritable(); !s.ok()) return s;
  return impl_->CheckWrite(impl_->db->SyncWAL(), "WAL sync");
}

Status Engine::health() const { return impl_->CheckWritable(); }

void Engine::CheckDisk() {
  impl_->disk->Sample();
  impl_->TryResume();
}

SyncMode Engine::sync_mode() const { return impl_->options.sync; }

EngineStats Engine::GetStats() {
  EngineStats st;
  st.applied = impl_->applied.load(std::memory_order_relaxed);
  const internal::MergeCounters& merged = impl_->merge->counters();
  st.shadowed = merged.shadowed.load(std::memory_order_relaxed);
  st.overwritten = merged.overwritten.load(std::memory_order_relaxed);
  st.concurrent = merged.concurrent.load(std::memory_order_relaxed);
  st.duplicates = merged.duplicates.load(std::memory_order_relaxed);
  st.tombstones_purged = impl_->filter.purged();
  st.hints = impl_->hints->hints();
  st.hint_bytes = impl_->hints->bytes();
  st.hints_over_budget = impl_->hints->over_budget();
  st.hints_dropped_below_watermark = impl_->hints->dropped_below_watermark();
  st.background_syncs = impl_->background_syncs.load(std::memory_order_relaxed);
  st.disk = impl_->disk->Report();
  st.fail_stop = impl_->CheckWritable();
  st.fail_stops = impl_->fail_stops.load(std::memory_order_relaxed);
  st.disk_resumes = impl_->resumes.load(std::memory_order_relaxed);
  st.log_lines_dropped = impl_->info_log->dropped_lines();
  uint64_t v = 0;
  if (impl_->db->GetIntProperty(impl_->data(), "rocksdb.estimate-num-keys", &v)) {
    st.keys_estimate = v;
  }
  uint64_t sst = 0, mem = 0, blob = 0;
  impl_->db->GetIntProperty(impl_->data(), "rocksdb.total-sst-files-size", &sst);
  impl_->db->GetIntProperty(impl_->data(), "rocksdb.cur-size-all-mem-tables", &mem);
  impl_->db->GetIntProperty(impl_->data(), "rocksdb.live-blob-file-size", &blob);
  st.live_bytes = sst + mem + blob;
  return st;
}

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

}  // namespace causeway
