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

#include "base/strings.h"
#include "engine/internal/aae_tree.h"
#include "engine/internal/coding.h"
#include "engine/internal/disk_watch.h"
#include "engine/internal/engine_impl.h"
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

Status Engine::Impl::OpenDb() {
  internal::DbLayout layout = internal::MakeDbLayout(options);
  layout.column_families[internal::kDataCfIndex].options.compaction_filter = &filter;
  // A purged tombstone changes its segment's anti-entropy hash.
  filter.SetOnPurge([this](Token t) { aae.MarkDirty(internal::AaeTree::SegmentOf(t)); });
  layout.db.listeners.push_back(std::make_shared<internal::PurgeListener>(&filter));
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
  if (options.sync == SyncMode::kAlways) {
    Impl* p = impl.get();
    impl->commits = std::make_unique<internal::CommitQueue>(internal::CommitQueue::Hooks{
        .db = impl->db.get(),
        .write_options = impl->write_options,
        .check_writable = [p] { return p->CheckWritable(); },
        .check_write = [p](const rocksdb::Status& s) { return p->CheckWrite(s, "apply"); },
    });
  }
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
  impl_->commits.reset();  // writes what is queued; its completions run before this returns
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

bool Engine::AppliesAsync(const Version& version) const {
  return impl_->commits != nullptr && version.value.size() < internal::kBlobValueBytesMin;
}

// Under the key's stripe only while queueing: ApplyLarge drains the queue under the stripe
// before it reads, so it never misses a version queued here.
void Engine::ApplyAsync(std::string_view key, const Version& version, const ApplyDone& done) {
  if (!AppliesAsync(version)) return done(Apply(key, version));
  if (Status s = ValidateKey(key); !s.ok()) return done(s);
  if (Status s = ValidateVersion(version); !s.ok()) return done(s);
  if (Status s =
          impl_->CheckDataWritable(key.size() + version.value.size() + kWriteBatchOverheadBytes);
      !s.ok()) {
    return done(s);
  }
  const std::string data_key = internal::DataKey(key);
  const Token token = internal::DecodeFixed64Be(data_key.data());
  Result<rocksdb::WriteBatch> batch =
      impl_->MakeVersionBatch(data_key, version, /*as_value=*/false);
  if (!batch.ok()) return done(batch.status());
  Impl* impl = impl_.get();
  auto on_synced = [impl, token, done](const Status& s) {
    impl->aae.MarkDirty(internal::AaeTree::SegmentOf(token));  // visible now, failed or not
    if (!s.ok()) return done(s);
    impl->applied.fetch_add(1, std::memory_order_relaxed);
    done(ApplyResult{ApplyOutcome::kApplied, false});
  };
  Status queued;
  {
    std::lock_guard<std::mutex> lock(impl_->stripes[token % kApplyLockStripes]);
    queued = impl_->commits->Submit(std::move(*batch), std::move(on_synced));
  }
  if (!queued.ok()) done(queued);  // nothing queued: on_synced never runs
}

// Large values belong in blob files (written once at flush, never rewritten by compaction), but
// RocksDB keeps merge operands inline in SSTs. So a large version that wins over everything
// stored is written as a full value holding the fold of all of them (the losers it hides are
// counted now: no merge will ever meet them). One lookup, cheap next to the value's write; a new
// key costs a bloom probe per level. A large version that loses is written as an operand, so the
// result is the same as with a merge. Caller holds the key's stripe.
Status Engine::Impl::ApplyLarge(std::string_view data_key, const Version& incoming) {
  // Versions of this key queued by ApplyAsync (under this stripe) must be visible to the read.
  if (commits) commits->Drain();
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
  rocksdb::WriteBatch batch(data_key.size() + winner.size() + kWriteBatchOverheadBytes);
  if (rocksdb::Status b = batch.Put(data(), data_key, winner); !b.ok()) {
    return FromRocksDb(b, "batch");
  }
  return WriteData(std::move(batch));
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

Status Engine::ScanSpan(TokenSpan span, std::string_view after_key, const ScanFn& fn) {
  if (span.first > span.last) {
    return Status::InvalidArgument(
        StrCat("token span [", span.first, ", ", span.last, "] is empty"));
  }
  if (!after_key.empty() && !span.Contains(TokenOf(after_key))) {
    return Status::InvalidArgument("stream cursor outside its span");
  }
  const std::string lower =
      after_key.empty() ? internal::TokenPrefix(span.first) : internal::DataKey(after_key);
  const std::string upper =
      span.last == UINT64_MAX ? std::string() : internal::TokenPrefix(span.last + 1);
  bool stopped = false;
  auto after = [&](std::string_view key, const Version& v) {
    return (!after_key.empty() && key == after_key) || fn(key, v);  // the cursor itself: skipped
  };
  return impl_->ScanInterval(lower, upper.empty() ? nullptr : &upper, after, &stopped);
}

void Engine::SetTombstoneWatermark(Hlc watermark) { impl_->filter.SetWatermark(watermark); }

void Engine::SetTombstoneWatermarks(std::vector<SpanWatermark> marks) {
  impl_->filter.SetWatermarks(std::move(marks));
}

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
  if (impl_->commits) {
    const internal::CommitQueue::Stats commits = impl_->commits->stats();
    st.group_commit_writes = commits.writes;
    st.group_commit_syncs = commits.syncs;
    st.group_commit_largest = commits.largest_group;
  }
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

}  // namespace causeway
