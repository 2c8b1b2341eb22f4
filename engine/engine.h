// Engine: one node's durable storage, on one RocksDB database.
//
// Column families (docs/formats.md):
//   data   token(8, big-endian) + key  -> encoded Version (the current winner for that key)
//   hints  target(8, big-endian) + key -> encoded Version held for a replica that is down
//   clock  small named records: HLC ceiling, node name, on-disk format version
//
// A background syncer thread (unless periodic_sync_ms >= kSyncerOffPeriodMs) syncs the WAL of
// `periodic` every periodic_sync_ms and, in every mode, makes HLC ceiling renewals that the
// clock requests (RequestHlcCeilingMs) durable off the caller's thread. In `periodic` (period up
// to kHlcCeilingRidePeriodMaxMs) renewals ride on the periodic sync: each periodic sync first
// writes the requested ceiling (unsynced) to `clock`, then syncs the WAL once, then publishes the
// ceiling as durable; the clock keeps a lead longer than a period (CeilingSchedule), so there is
// no sync for renewals alone unless one would otherwise come too late (then the sync is brought
// forward). Elsewhere a renewal is made durable as soon as it is asked for: an unsynced write then
// a WAL sync (a synced write in `always`). In `none` these renewal syncs (about one per
// kHlcCeilingLeadMs - kHlcCeilingRenewMs while timestamps are handed out) are the only WAL
// syncs, and they make every earlier write durable too; `none` still promises nothing on power
// loss.
//
// Apply() accepts a version without reading: every version of a key is kept as a RocksDB merge
// operand until a read or a flush/compaction folds them, keeping the LWW winner (and absorbing
// the losers' version vectors). Get and scans always return that winner. A loser is counted
// once, when a flush or compaction discards it. Tombstones are versions like any other; a
// compaction filter purges those older than the GC watermark the caller sets.
//
// Errors: I/O errors, a full disk and corruption on the write path (or in a background flush or
// compaction) fail-stop the engine: every later write returns the same error. Reads keep working.
// A kNoSpace fail-stop ends by itself once free space is back above the reserve (DB::Resume, then
// a synced probe write); kIoError and kCorruption last until the process restarts.
//
// Disk reserve (docs/design.md, "Disk faults"): free space is sampled (engine/internal/
// disk_watch.h); data writes (Apply, PutHint, CompactData) are refused with kNoSpace, writing
// nothing, while it is below EngineOptions::disk_reserve_bytes, so that RocksDB does not reach
// ENOSPC. Meta writes (the HLC ceiling, StoreMeta) are never refused for the reserve: it keeps room
// for them, so a node whose disk is full still stamps and coordinates writes to other replicas.
// A disk thread samples every kDiskSampleIntervalMs and resumes writes (unless periodic_sync_ms >=
// kSyncerOffPeriodMs: then the caller calls CheckDisk). RocksDB's info LOG is written by the
// engine's own logger (engine/internal/info_log.h), which drops lines it cannot write.
//
// Thread-safe: any thread may call any method. Owned by main(); everything else borrows it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/hlc.h"
#include "base/limits.h"
#include "base/status.h"
#include "base/token.h"
#include "base/version.h"

namespace rocksdb {
class Env;
}

namespace causeway {

enum class SyncMode {
  kAlways,    // fdatasync before acknowledging; concurrent writers share one sync (group commit)
  kPeriodic,  // WAL on every write, synced in the background every periodic_sync_ms
  kNone,      // WAL written, never synced by us: survives a process crash, not a power loss
};
std::string_view SyncModeName(SyncMode mode);
Result<SyncMode> ParseSyncMode(std::string_view name);

// How RocksDB is sized (engine/internal/options.cc; docs/operations.md, "Many nodes on one
// machine"). Only memory, disk preallocation and background work differ; the format does not, so
// a data dir opens under either profile.
enum class StorageProfile {
  kDefault,  // one node per machine: 64 MiB memtables, preallocated WAL and MANIFEST
  kSmall,    // many nodes per machine: small memtables, no preallocation, one background job
};
std::string_view StorageProfileName(StorageProfile profile);
Result<StorageProfile> ParseStorageProfile(std::string_view name);

// Free space of a file system, as statvfs reports it.
struct DiskSpace {
  uint64_t free_bytes = 0;  // available to unprivileged writers (f_bavail)
  uint64_t total_bytes = 0;
};
using DiskSpaceFn = std::function<Result<DiskSpace>(const std::string& dir)>;
// EngineOptions::disk_reserve_bytes: min(kDiskReserveBytesDefault, kDiskReservePercentDefault %
// of the file system's size).
inline constexpr uint64_t kDiskReserveAuto = ~uint64_t{0};

struct EngineOptions {
  std::string dir;
  SyncMode sync = SyncMode::kPeriodic;
  // `periodic`'s WAL sync interval. kSyncerOffPeriodMs or more: no background syncer in any mode;
  // the caller syncs (SyncWal) and the clock renews its ceiling synchronously, so that nothing
  // depends on real time (the deterministic simulator).
  uint64_t periodic_sync_ms = kPeriodicSyncMsDefault;
  size_t block_cache_bytes = 256 << 20;
  StorageProfile storage_profile = StorageProfile::kDefault;
  // Not owned. Null: rocksdb::Env::Default(). Tests pass a fault-injecting Env.
  rocksdb::Env* env = nullptr;
  // Data writes are refused (kNoSpace) below this much free space. 0: never (RocksDB's ENOSPC
  // is then the first sign of a full disk).
  uint64_t disk_reserve_bytes = kDiskReserveAuto;
  // Null: statvfs of `dir`. Tests pass a fake disk.
  DiskSpaceFn disk_space;
  // Hints held for one target, in bytes (hint key + version record); a PutHint that would pass
  // it is refused with HintPut::kOverBudget.
  uint64_t hint_bytes_per_target_max = kHintBytesPerTargetMaxDefault;
};

// ---- hints (docs/design.md, "Hints on disk") ------------------------------------------------
enum class HintPut {
  kStored,      // the hint for (target, key) is now the LWW winner of it and this version
  kOverBudget,  // nothing written: the target's hints would pass hint_bytes_per_target_max
};
// Calls for each hint in key order until it returns false.
using HintFn = std::function<bool(std::string_view key, const Version& version)>;
// Where a ScanHints call stopped.
struct HintScanEnd {
  uint64_t hints = 0;      // hints passed to fn
  uint64_t bytes = 0;      // their bytes, as the budget counts them
  std::string last_key;    // the last key passed to fn (resume after it); empty if none
  bool exhausted = false;  // no hint of the target after last_key when the scan ended
};
struct HintTargetBytes {
  NodeId target = 0;
  uint64_t hints = 0;
  uint64_t bytes = 0;
};

// The disk as the engine last sampled it. Additive struct.
struct DiskReport {
  uint64_t free_bytes = 0;           // statvfs at the last sample
  uint64_t total_bytes = 0;          // size of the file system
  uint64_t pending_flush_bytes = 0;  // memtable bytes a flush will write (counted as used)
  uint64_t reserve_bytes = 0;        // 0: no reserve
  bool below_reserve = false;        // data writes are being refused with kNoSpace
  uint64_t refused_writes = 0;       // data writes refused for the reserve since Open
};

// Apply() returns kApplied: "accepted and durable per the sync mode; the LWW winner among all
// versions of the key will be kept". Whether this version wins is not known at Apply time
// (there is no read); the counters in EngineStats report the losers once they are discarded.
// kShadowed and kDuplicate are no longer returned by Apply; they stay for source compatibility.
enum class ApplyOutcome {
  kApplied,    // accepted; the LWW winner among all versions of the key will be kept
  kShadowed,   // (not returned since Apply became a merge)
  kDuplicate,  // (not returned since Apply became a merge)
};

struct ApplyResult {
  ApplyOutcome outcome = ApplyOutcome::kApplied;
  bool concurrent = false;  // always false from Apply: races are counted in EngineStats
};

// Counters since Open. Losers are counted when a flush or compaction merge physically discards
// them (after which only the merged result survives, so each is counted once); merges that reads
// run are thrown away and count nothing. Once the data family is fully compacted, every key has
// one survivor and applied == keys + shadowed + overwritten + duplicates.
struct EngineStats {
  uint64_t applied = 0;      // Apply calls accepted (every version written)
  uint64_t shadowed = 0;     // losers written after the version that beat them (late arrivals)
  uint64_t overwritten = 0;  // losers written before the version that beat them
  uint64_t concurrent = 0;   // of the above, the ones concurrent with the version that beat them
  uint64_t duplicates = 0;   // second copies of a dot already present
  uint64_t tombstones_purged = 0;
  uint64_t keys_estimate = 0;      // RocksDB's estimate for the data column family
  uint64_t live_bytes = 0;         // SST + memtable bytes of the data column family
  uint64_t hints = 0;              // hints stored (one per target and key)
  uint64_t hint_bytes = 0;         // their bytes (hint key + version record), all targets
  uint64_t hints_over_budget = 0;  // PutHint refusals (kOverBudget) since Open
  uint64_t hints_dropped_below_watermark = 0;  // hints DropHintsBelow deleted since Open
  // Durability points made by the background syncer: WAL syncs (periodic, or for a ceiling
  // renewal), or in `always` a renewal's synced write. Additive field.
  uint64_t background_syncs = 0;
  // Group commit (`always`; docs/design.md, "Group commit"): data writes completed through the
  // commit queue, the synced RocksDB writes that carried them, and the most writes one sync
  // covered. Zero in other modes. Additive fields.
  uint64_t group_commit_writes = 0;
  uint64_t group_commit_syncs = 0;
  uint64_t group_commit_largest = 0;
  // Disk and fail-stop state (docs/design.md, "Disk faults"). Additive fields.
  DiskReport disk;
  Status fail_stop;                // Ok, or the error that fail-stopped writes (health())
  uint64_t fail_stops = 0;         // times writes were fail-stopped since Open
  uint64_t disk_resumes = 0;       // kNoSpace fail-stops that ended by themselves
  uint64_t log_lines_dropped = 0;  // RocksDB info LOG lines that could not be written
};

// RocksDB's own gauges for monitoring (engine/engine_properties.cc), read from its properties:
// what /metrics exports as causeway_rocksdb_*.
struct EngineRocksStats {
  uint64_t pending_compaction_bytes = 0;  // estimate-pending-compaction-bytes, all families
  uint64_t memtable_bytes = 0;            // cur-size-all-mem-tables, all families
  uint64_t block_cache_bytes = 0;         // block-cache-usage (the one shared cache)
  uint64_t block_cache_capacity_bytes = 0;
  uint64_t write_stalls =
      0;  // write slowdowns + stops since Open (cfstats io_stalls), all families
  bool write_stopped = false;        // is-write-stopped now
  uint64_t delayed_write_rate = 0;   // actual-delayed-write-rate, bytes/s (0: not delayed)
  uint64_t live_sst_bytes = 0;       // live-sst-files-size, all families
  uint64_t running_compactions = 0;  // num-running-compactions
};

// What RemoveOutside removed. Counted by a scan of each gap just before its delete: a key written
// into a gap between the two is removed but not counted.
struct CleanupResult {
  uint64_t keys = 0;   // data keys removed, tombstones included
  uint64_t bytes = 0;  // their stored bytes (data key + version record)
  // Ok, or why the compaction that reclaims the removed keys' disk space did not run (the keys
  // are gone either way; a later compaction reclaims the space).
  Status compaction;
};

// ---- the offline tool and bulk ingestion (engine/engine_offline.cc, engine/engine_ingest.cc) --
// One damaged record found by CheckDataDir. `key` is the user key when the damage could be tied
// to one (a record whose checksum or format is wrong); empty when only a file or WAL region is
// known (then `where` names it).
struct OfflineCorruption {
  std::string key;
  std::string where;  // "data", "hints", a file name, "WAL" or "WAL <file>"
  std::string reason;
  // The record's key bytes themselves are damaged (its token is not the key's): `key` is what the
  // damaged bytes say, not a key that was written.
  bool key_damaged = false;
  // WAL damage: data keys of the whole WAL records next to the damaged one (their writes are
  // intact; they bound where the lost ones were).
  std::vector<std::string> nearby_keys;
};
struct OfflineHintTarget {
  NodeId target = 0;
  uint64_t hints = 0;
  uint64_t bytes = 0;
};
// What CheckDataDir found. Healthy when `corrupt` is empty.
struct OfflineCheckReport {
  uint64_t keys = 0;   // live keys and tombstones
  uint64_t bytes = 0;  // data keys + version records as read
  uint64_t tombstones = 0;
  uint64_t tombstones_purgeable = 0;  // of those, below the watermark given
  uint64_t file_bytes = 0;            // SST + blob + WAL bytes on disk (what the scan reads)
  std::vector<OfflineHintTarget> hints;
  uint64_t hlc_ceiling_ms = 0;
  std::string node_name;  // the meta record "node_name"; empty when none
  std::vector<OfflineCorruption> corrupt;
};
// Progress of a long offline scan: the token the scan has reached (fraction = token / 2^64).
using OfflineProgressFn = std::function<void(Token reached, uint64_t keys)>;
// Checks a stopped node's data dir without writing to it: takes its RocksDB LOCK (a dir a running
// node holds is kUnavailable, "in use"), opens it read-only with WAL replay in absolute-consistency
// mode (a damaged WAL record is reported, then the rest is read skipping it), scans the data and
// hints families with block checksums verified and decodes every record, reporting each damaged
// one with its key. With `all_blocks`, first RocksDB's VerifyChecksum over every file (index and
// filter blocks too, and the small families; a second read of everything). Errors are for a dir
// that cannot be read at all.
Result<OfflineCheckReport> CheckDataDir(const std::string& dir, Hlc watermark, bool all_blocks,
                                        const OfflineProgressFn& progress);

// ---- rebuilding a damaged data dir (engine/engine_rebuild.cc; docs/design.md, "The offline
// tool") ------------------------------------------------------------------------------------------
// The stored versions of `keys` in a stopped node's dir, read-only, block checksums verified:
// a key whose records cannot all be read soundly (a damaged record or block) maps to nullopt, as
// does an absent one, so that only what is whole is ever used as a replacement. Errors are for a
// dir that cannot be opened (in use: kUnavailable).
Result<std::map<std::string, std::optional<Version>>> ReadKeysOffline(
    const std::string& dir, const std::vector<std::string>& keys);

struct RebuildResult {
  uint64_t keys = 0;                 // data keys in the rebuilt dir
  uint64_t salvaged = 0;             // of those, carried over from the damaged dir's sound records
  uint64_t replaced = 0;             // damaged keys given a replacement version
  uint64_t hints = 0;                // hints carried over
  uint64_t hints_dropped = 0;        // damaged hints left out
  std::vector<std::string> damaged;  // the damaged data keys found (user keys)
  uint64_t keys_damaged = 0;         // records whose key bytes were damaged: left out, key unknown
  std::string damaged_copy;          // where the damaged dir was moved
  // Token spans dropped because a block in them could not be parsed at all (their keys unknown):
  // every key in them, in any level, is missing from the rebuilt dir.
  std::vector<TokenSpan> lost_spans;
};
// Rebuilds a stopped node's damaged data dir into a fresh database: every sound record of the
// data family is salvaged (read read-only with block checksums off, so a block that fails its
// checksum still yields its sound records; each record is checked by its own checksum, format and
// key token), a damaged key gets the LWW fold of what it still holds soundly and its entry of
// `replacements` (user key -> version), the other families (hints, clock and meta records) are
// copied record by record (a damaged hint is left out), and the fresh database replaces the old
// one: built in "<dir>.rebuilding", renamed "<dir>.rebuilt" once complete, then the damaged dir
// is renamed "<dir>.damaged-<ms since epoch>" (kept as evidence) and "<dir>.rebuilt" becomes
// `dir` (FinishInterruptedRebuild completes an interrupted swap). Changes nothing and is
// kCorruption naming the keys when a damaged data key has no replacement. A block that cannot be
// parsed at all (its keys unknown) costs the token span it covers, listed in `lost_spans` (more
// than 64 such: kCorruption, nothing changed). A WAL record that fails its checksum is skipped (the
// writes it held are lost from this dir: the caller restores them from the other replicas).
Result<RebuildResult> RebuildDataDir(const std::string& dir,
                                     const std::map<std::string, Version>& replacements);
// If a rebuild of `dir` was interrupted between its renames ("<dir>" missing, "<dir>.rebuilt"
// complete), finishes it: true when it did. A leftover "<dir>.rebuilding" is removed.
Result<bool> FinishInterruptedRebuild(const std::string& dir);

// One row of a bulk ingestion file (engine/ingest_file.h writes them).
struct IngestRow {
  std::string key;
  Version version;
};
// What an ingestion added.
struct IngestResult {
  uint64_t entries = 0;   // merge operands ingested
  uint64_t bytes = 0;     // the file's size
  uint64_t segments = 0;  // anti-entropy segments marked dirty
};

class Engine : public ClockStore {
 public:
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  ~Engine() override;  // flushes the WAL and closes the database
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // ---- data ---------------------------------------------------------------------------------
  [[nodiscard]] Result<ApplyResult> Apply(std::string_view key, const Version& version);
  // Apply without blocking the caller for the sync. When AppliesAsync(version) (`always`, and a
  // value below the large-value size), the version is queued for the next group commit and
  // `done` runs on the engine's commit thread once the fsync that covers it returned (it must be
  // short and must not call back into the engine's write path). Otherwise Apply runs in this
  // thread and `done` runs before ApplyAsync returns. Errors (a full commit queue is
  // kOverloaded) go to `done` too. Per key, versions are written in call order.
  using ApplyDone = std::function<void(Result<ApplyResult>)>;
  void ApplyAsync(std::string_view key, const Version& version, const ApplyDone& done);
  bool AppliesAsync(const Version& version) const;
  // The stored version, tombstones included (the caller decides what a tombstone means).
  [[nodiscard]] Result<std::optional<Version>> Get(std::string_view key);
  // Calls fn for each key whose token is in [begin, end) in token order, until fn returns false.
  // begin > end wraps around the ring.
  using ScanFn = std::function<bool(std::string_view key, const Version& version)>;
  [[nodiscard]] Status ScanTokenRange(Token begin, Token end, const ScanFn& fn);
  // Calls fn for each key of `span` in (token, key) order after `after_key` ("": from the first;
  // otherwise a key inside the span), until fn returns false (streaming's page scan).
  [[nodiscard]] Status ScanSpan(TokenSpan span, std::string_view after_key, const ScanFn& fn);
  // Tombstones with timestamp below `watermark` may be purged by compaction from now on.
  void SetTombstoneWatermark(Hlc watermark);
  // Per token span, replacing any earlier watermark; keys in no span keep their tombstones.
  void SetTombstoneWatermarks(std::vector<SpanWatermark> marks);
  // Forces a compaction of the data column family (tests, the offline tool).
  [[nodiscard]] Status CompactData();
  // Cleanup (docs/operations.md, "Cleanup"): physically removes every data key whose token is in
  // none of `keep` (the spans a node replicates; in token order, disjoint, each first <= last),
  // then compacts the data family to reclaim the space. An empty `keep` is kInvalidArgument,
  // never "remove everything". The gaps go as RocksDB range deletes, so keys written into a gap
  // meanwhile go too; the anti-entropy segments the gaps touch are marked dirty after each delete
  // is visible (as Apply does), so the tree stays exact. Not refused below the disk reserve (it
  // frees space); refused once writes are fail-stopped. Runs for as long as the scan and the
  // compaction take: call it off the event loop.
  [[nodiscard]] Result<CleanupResult> RemoveOutside(const std::vector<TokenSpan>& keep);

  // ---- bulk ingestion (engine/engine_ingest.cc; docs/design.md, "Bulk import and LWW") --------
  // Ingests an SST file of data-family merge operands (IngestFileWriter) with IngestExternalFile:
  // every operand folds with what the key already holds through the LWW merge operator, so a
  // newer write or a newer tombstone stays the winner. Every record is checked first (the file
  // comes from outside: a bad key or record is kInvalidArgument and nothing is ingested); after
  // the ingestion is visible, the anti-entropy segments of its keys are marked dirty. The file is
  // moved (or copied) into the database; the caller removes `path` afterwards. Refused once
  // writes are fail-stopped and below the disk reserve. Runs as long as the ingestion: off the
  // event loop.
  [[nodiscard]] Result<IngestResult> IngestFile(const std::string& path);
  // Where a node stages ingestion files: "<dir>/ingest" (docs/formats.md).
  std::string IngestStagingDir() const;
  // The data dir (EngineOptions::dir).
  const std::string& dir() const;
  // Every live key (tombstones included) in (token, key) order after `after_key` ("": from the
  // first), at most `limit`, like ScanSpan over the whole ring. True when keys are left.
  [[nodiscard]] Result<bool> ScanPage(std::string_view after_key, size_t limit, const ScanFn& fn);

  // ---- anti-entropy tree (docs/design.md, "Anti-entropy trees") -------------------------------
  // kAaeSegments segments over the token space (segment = top kAaeSegmentBits bits of the
  // token); a segment's hash is the XOR over its keys of XXH3(key, winner's timestamp, writer,
  // tombstone): equal on two replicas exactly when they hold the same winners, whatever history
  // led there. Apply only marks the segment dirty; each call below first rescans the dirty
  // segments it covers. Nothing is persisted: after Open every segment is dirty, so the first
  // query of a range rebuilds it from the data. Segment and branch ranges are half-open;
  // out-of-range arguments (they come from peers) are kInvalidArgument.
  // Exact root of the keys whose token is in [begin, end) (begin > end wraps; begin == end: the
  // whole ring). Whole segments come from the tree; the (at most two) partial boundary segments
  // are scanned.
  [[nodiscard]] Result<uint64_t> AaeRangeRoot(Token begin, Token end);
  // Hashes of segments [seg_begin, seg_end), seg_end <= kAaeSegments.
  [[nodiscard]] Result<std::vector<uint64_t>> AaeSegmentHashes(uint32_t seg_begin,
                                                               uint32_t seg_end);
  // Hashes of branches [branch_begin, branch_end) (kAaeSegmentsPerBranch segments each; XOR).
  [[nodiscard]] Result<std::vector<uint64_t>> AaeBranchHashes(uint32_t branch_begin,
                                                              uint32_t branch_end);
  // Calls fn for each key of `segment` (tombstones included) in token order, until it returns
  // false. Scans only that segment's token range.
  using AaeDigestFn =
      std::function<bool(std::string_view key, Hlc timestamp, NodeId writer, bool tombstone)>;
  [[nodiscard]] Status AaeSegmentDigests(uint32_t segment, const AaeDigestFn& fn);
  // The exact root of each span (as AaeRangeRoot of [first, last + 1)); at most
  // kAaeSpansPerRequestMax spans (more is kInvalidArgument: they come from peers).
  [[nodiscard]] Result<std::vector<uint64_t>> AaeSpanHashes(const std::vector<TokenSpan>& spans);
  // Calls fn for the keys of `span` in (token, key) order after `after_key` ("": from the first;
  // otherwise a key inside the span, typically the last one a previous call passed), at most
  // `limit` of them. True when keys are left after the last one passed.
  [[nodiscard]] Result<bool> AaeSpanDigests(TokenSpan span, std::string_view after_key,
                                            size_t limit, const AaeDigestFn& fn);

  // ---- hints (writes held for a replica that is down) ----------------------------------------
  // Keeps the LWW winner of target's stored hint for `key` and `version` (vectors absorbed);
  // durable per the sync mode. kOverBudget: nothing written, the caller marks the range for
  // anti-entropy. kNoSpace below the disk reserve, like Apply.
  [[nodiscard]] Result<HintPut> PutHint(NodeId target, std::string_view key,
                                        const Version& version);
  // target's hints with key > after_key ("" = from the first), in key order, until fn returns
  // false or the next hint would take the bytes passed past limit_bytes (the first is passed
  // however large, so a replay always moves). Resume with after_key = the result's last_key.
  [[nodiscard]] Result<HintScanEnd> ScanHints(NodeId target, std::string_view after_key,
                                              uint64_t limit_bytes, const HintFn& fn);
  // Targets that have hints, in id order, with their exact counts.
  std::vector<HintTargetBytes> HintTargets();
  // Deletes target's hint for `key` only if it still is `version`'s dot (timestamp, writer):
  // a newer hint stored since the replay read it stays. True if deleted.
  [[nodiscard]] Result<bool> DeleteHintIfSame(NodeId target, std::string_view key,
                                              const Version& version);
  // Deletes every hint whose timestamp is below `watermark` (the tombstone GC watermark: such a
  // hint must never be replayed). Returns how many.
  [[nodiscard]] Result<uint64_t> DropHintsBelow(Hlc watermark);

  // ---- clock and identity --------------------------------------------------------------------
  // The HLC ceiling is the `clock` record "hlc_ceiling" (fixed64 LE ms). Store: synced in this
  // thread. Request: handed to the background syncer (a no-op without one). Durable: the largest
  // value a completed sync covered since Open.
  Result<uint64_t> LoadHlcCeilingMs() override;
  Status StoreHlcCeilingMs(uint64_t ceiling_ms) override;
  void RequestHlcCeilingMs(uint64_t ceiling_ms) override;
  uint64_t DurableHlcCeilingMs() override;
  // `periodic` with the syncer and periodic_sync_ms <= kHlcCeilingRidePeriodMaxMs: renew when
  // within periodic_sync_ms + kHlcCeilingRideMarginMs, lead kHlcCeilingRideStepMs more. Else the
  // defaults (kHlcCeilingLeadMs, kHlcCeilingRenewMs).
  HlcCeilingSchedule CeilingSchedule() override;
  // Small named node records in the `clock` column family (node name, ring tokens, gossip
  // generation). Stored synced. The names "hlc_ceiling" and "format_version" are the engine's own.
  [[nodiscard]] Result<std::optional<std::string>> LoadMeta(std::string_view name);
  [[nodiscard]] Status StoreMeta(std::string_view name, std::string_view value);

  // ---- durability and health -----------------------------------------------------------------
  // Syncs the WAL now (what the periodic syncer does every second).
  [[nodiscard]] Status SyncWal();
  // Ok, or the error that fail-stopped writes.
  Status health() const;
  // Samples free space now and, after a kNoSpace fail-stop, resumes writes if there is room
  // again. The disk thread does this every kDiskSampleIntervalMs; without it (periodic_sync_ms
  // >= kSyncerOffPeriodMs) only callers do.
  void CheckDisk();
  EngineStats GetStats();
  // RocksDB's gauges (engine/engine_properties.cc). Cheap (in-memory properties): callable on
  // the event loop at every scrape.
  EngineRocksStats GetRocksStats();
  // A RocksDB checkpoint of the whole database (every column family) into `dir`, which must not
  // exist: hard links to the live SST files plus copies of the rest, so it costs little space
  // while the node keeps running. Open it with `causeway serve --data-dir DIR` to restore.
  // Blocks for the flush and the copies: call it off the event loop.
  [[nodiscard]] Status Checkpoint(const std::string& dir);
  SyncMode sync_mode() const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Opens a stopped node's data dir for offline writes (repair, compaction): no background syncer,
// no disk reserve, WAL synced by the engine's normal Apply path (`always`). A dir a running node
// holds is kUnavailable with a message that says so (its RocksDB LOCK is held).
Result<std::unique_ptr<Engine>> OpenOffline(const std::string& dir);

}  // namespace causeway
