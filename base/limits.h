// Every limit of Causeway, in one place (STYLE.md 9). Each has a name, a unit in its name, and a
// check where input enters. Related limits are tied together by static_asserts.
//
// base/ is the innermost layer (no RocksDB, no Cap'n Proto), so every other layer can include it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace causeway {

// ---- Keys and values ------------------------------------------------------------------------
inline constexpr size_t kKeyBytesMax = 64 << 10;   // keys are 1..64 KiB
inline constexpr size_t kValueBytesMax = 1 << 20;  // values are 0..1 MiB
// A version vector keeps at most this many (node, counter) entries; beyond it the entries with
// the oldest counters are dropped. Dropping can only turn "newer" into "concurrent" (counted),
// never change which version wins, because the winner is chosen by (HLC, node id).
inline constexpr size_t kVersionVectorEntriesMax = 16;
// Encoded record: header + value + version vector, with room to spare.
inline constexpr size_t kRecordBytesMax = kValueBytesMax + 4096;
static_assert(kRecordBytesMax > kValueBytesMax + kVersionVectorEntriesMax * 20 + 64);

// ---- Clock ----------------------------------------------------------------------------------
inline constexpr uint64_t kMaxClockOffsetMsDefault = 500;  // remote HLC ahead by more: rejected
inline constexpr uint64_t kHlcCeilingLeadMs = 1000;        // persisted bound is now + this
inline constexpr uint64_t kHlcCeilingRenewMs = 500;        // ask for a renewal when this close
static_assert(kHlcCeilingRenewMs < kHlcCeilingLeadMs);
// A running node renews its clock's ceiling through its driver, off the loop thread
// (cluster/ceiling.h), and never stores one synchronously: the durable ceiling must stay ahead of
// any timestamp a peer may send (max offset) while a renewal is in flight. So renewals are asked
// for when within max offset + kHlcCeilingStoreLatencyMaxMs of the requested ceiling, and ask
// kHlcCeilingRenewStepMs beyond that (one synced store per step, on the pool). A renewal slower
// than the latency bound makes writes fail with kUnavailable until it lands; it never blocks.
inline constexpr uint64_t kHlcCeilingStoreLatencyMaxMs = 500;
inline constexpr uint64_t kHlcCeilingRenewStepMs = 500;
inline constexpr int kHlcLogicalBits = 16;  // low bits of an HLC: logical counter
// Clock-offset monitor and fence (cluster/internal/clock_monitor.h). A node fences itself (stamps
// no writes) when its wall clock is more than kClockFenceFractionDefault x max offset away from
// the majority of its live peers. Offsets come from gossip round trips; a sample older than
// kClockSampleTtlMs no longer counts, and each gossip round also probes up to
// kClockProbesPerRound live peers whose sample is missing or older than kClockSampleRefreshMs.
// A step of the wall clock against the monotonic clock of more than kClockJumpToleranceMs
// (NTP slews far slower) discards every sample: they measured the old clock.
inline constexpr double kClockFenceFractionDefault = 0.8;  // as CockroachDB's tolerated offset
inline constexpr uint64_t kClockSampleTtlMs = 10000;
inline constexpr uint64_t kClockSampleKeepMs = 600000;  // judged when no peer is live
inline constexpr uint64_t kClockSampleRefreshMs = 5000;
inline constexpr size_t kClockProbesPerRound = 8;
inline constexpr uint64_t kClockJumpToleranceMs = 100;
static_assert(kClockSampleRefreshMs < kClockSampleTtlMs && kClockSampleTtlMs < kClockSampleKeepMs);
// Members restored from the persisted view count as alive for this long after start unless
// shown otherwise, so a restarted node coordinates writes at once; a member not heard from by
// then is dead until it is.
inline constexpr uint64_t kRestoredAliveMs = 3000;

// ---- Engine ---------------------------------------------------------------------------------
// A tombstone is purged only below its range's anti-entropy watermark (docs/design.md, "Tombstone
// GC") and never before it is this old: a write stamped before the delete may still be in flight
// (a paused coordinator, a slow link) and must meet the tombstone, not an empty key.
inline constexpr uint64_t kTombstoneGraceMsDefault = 3600ull * 1000;  // 1 hour
// How often the core moves the engine's tombstone watermark (SetTombstoneWatermarkAction).
inline constexpr uint64_t kTombstoneWatermarkIntervalMs = 60000;
inline constexpr uint64_t kPeriodicSyncMsDefault = 1000;  // `periodic` durability: WAL sync
inline constexpr size_t kApplyLockStripes = 256;          // per-key serialisation of Apply
// A periodic_sync_ms this long or longer runs no background syncer at all (EngineOptions).
inline constexpr uint64_t kSyncerOffPeriodMs = 24ull * 3600 * 1000;
static_assert(kPeriodicSyncMsDefault < kSyncerOffPeriodMs);
// `periodic` with periodic_sync_ms at most kHlcCeilingRidePeriodMaxMs: HLC ceiling renewals ride
// on the periodic WAL sync (no sync of their own in steady state). The clock then asks for a
// renewal when within periodic_sync_ms + kHlcCeilingRideMarginMs of the ceiling, for
// kHlcCeilingRideStepMs more than that (the lead; a restarted node starts up to one lead ahead
// of its wall clock). The margin covers two background syncs plus the syncer's wake-up under
// load (kHlcCeilingSyncAllowanceMs each); a renewal that would miss it is synced early instead.
inline constexpr uint64_t kHlcCeilingRidePeriodMaxMs = 2000;
inline constexpr uint64_t kHlcCeilingSyncAllowanceMs = 250;
inline constexpr uint64_t kHlcCeilingRideMarginMs = 2 * kHlcCeilingSyncAllowanceMs;
inline constexpr uint64_t kHlcCeilingRideStepMs = 100;  // requests are an atomic max: cheap
static_assert(kPeriodicSyncMsDefault <= kHlcCeilingRidePeriodMaxMs);
static_assert(kHlcCeilingRidePeriodMaxMs < kSyncerOffPeriodMs);
// Group commit (`always`; engine/internal/commit_queue.h, docs/design.md "Group commit"): one
// synced RocksDB write takes at most this many queued writes and (unless a single write is larger
// by itself) this many bytes of them; at most kCommitQueueWritesMax writes wait (Submit beyond it
// is kOverloaded, so a stalled disk backs callers off instead of growing memory).
inline constexpr size_t kCommitGroupWritesMax = 1024;
inline constexpr size_t kCommitGroupBytesMax = 4 << 20;
inline constexpr size_t kCommitQueueWritesMax = 16384;
static_assert(kCommitGroupWritesMax <= kCommitQueueWritesMax);

// ---- Hints (engine/internal/hint_store.h) ---------------------------------------------------
// Bytes of hints (hint key + version record) one node holds for one target. A write that would
// pass it is not hinted: the coordinator marks the range for anti-entropy instead. 64 MiB holds
// about 60k hints of 1 KiB values per down replica.
inline constexpr uint64_t kHintBytesPerTargetMaxDefault = 64ull << 20;
static_assert(kHintBytesPerTargetMaxDefault >= 8 + kKeyBytesMax + kRecordBytesMax);

// ---- Wire -----------------------------------------------------------------------------------
inline constexpr size_t kBatchKeysMax = 1024;  // MultiGet / MultiPut entries per call
inline constexpr size_t kBatchBytesMax = 16 << 20;
static_assert(kBatchBytesMax >= kValueBytesMax + kKeyBytesMax);
// One Cap'n Proto message: one value at the limit plus key, version vector and framing.
inline constexpr size_t kFrameBytesMax = kValueBytesMax + kKeyBytesMax + (64 << 10);
static_assert(kFrameBytesMax > kRecordBytesMax);
// Traversal limit for a received message, in 8-byte words (capnp also refuses to read a larger
// message at all), never the 64 MiB default. Room for a batch of twice kBatchBytesMax, so that an
// oversize batch is still decoded and answered kInvalidArgument naming the limit; a larger
// message closes that connection.
inline constexpr uint64_t kTraversalWordsMax = (2 * kBatchBytesMax + (1 << 20)) / 8;
static_assert(kTraversalWordsMax * 8 > kBatchBytesMax + kBatchKeysMax * 64);
inline constexpr size_t kConnectionFlowBytesMax = 4 * kFrameBytesMax;  // RPC flow limit
inline constexpr size_t kClientConnectionsMax = 10000;
// The internal HTTP endpoint (/metrics, /livez, /readyz): scrapers and probes, a few at a time.
inline constexpr size_t kHttpConnectionsMax = 64;
// `causeway node snapshot DIR`: the path the node is asked to write (it comes from a client).
inline constexpr size_t kSnapshotDirBytesMax = 4096;
// Read buffer of one RPC connection (rpc/internal/buffered_stream.h): one read syscall serves a
// batch of pipelined messages. Allocated at a connection's first read; frames larger than it are
// read straight into capnp's buffer. Worst case kClientConnectionsMax buffers (640 MiB of address
// space, resident only as far as a read ever filled it).
inline constexpr size_t kRpcReadBufferBytes = 64 << 10;
static_assert(kRpcReadBufferBytes >= 4096 && kRpcReadBufferBytes <= kFrameBytesMax);
// Writes of one RPC connection: messages under kRpcWriteCopyBytesMax are copied into a queue sent
// by one write at the end of the event-loop run (replies of one batch share a syscall); the queue
// is written at once when it reaches kRpcWriteBufferBytes, and later writes wait for that write.
inline constexpr size_t kRpcWriteBufferBytes = 64 << 10;
inline constexpr size_t kRpcWriteCopyBytesMax = 8 << 10;
static_assert(kRpcWriteCopyBytesMax < kRpcWriteBufferBytes);
inline constexpr size_t kNodeInFlightRequestsMax = 20000;  // client calls across connections
inline constexpr size_t kPeerInFlightMax = 4096;           // calls outstanding to one peer
inline constexpr uint64_t kRequestTimeoutMsDefault = 2000;
inline constexpr uint64_t kRequestTimeoutMsMax = 60000;
inline constexpr uint64_t kPeerCallTimeoutMsDefault = 1000;
inline constexpr uint64_t kIdleConnectionTimeoutMs = 60000;  // a client that sends nothing
// A client's new connection must answer a ping within this long (a paused node accepts
// connections but answers nothing): the client then moves on to its next endpoint.
inline constexpr uint64_t kClientProbeTimeoutMsDefault = 500;
// The client waits this much past the timeout it sends the node, so that the node's own answer
// (kTimeout with its reason) normally arrives before the client gives up.
inline constexpr uint64_t kClientDeadlineGraceMs = 250;
// One attempt of a call (connect, probe and request) on one endpoint, unless it is the call's
// last chance (then it gets what is left of the call's deadline). The node is told this timeout.
// Sized so that a call with the default deadline tries three endpoints before its own deadline:
// a paused first and second endpoint still leave the third one a whole attempt.
inline constexpr uint64_t kClientAttemptTimeoutMsDefault = 500;
static_assert(3 * (kClientAttemptTimeoutMsDefault + kClientDeadlineGraceMs) <=
              kRequestTimeoutMsDefault + kClientDeadlineGraceMs);
static_assert(kClientProbeTimeoutMsDefault <= kClientAttemptTimeoutMsDefault);
// An endpoint that just timed out (connect, probe or attempt) goes after every other untried
// endpoint for this long, in every call of that Client; when only such endpoints are left a call
// still tries them, so the window alone never fails a call.
inline constexpr uint64_t kClientSkipWindowMs = 3000;
static_assert(kClientSkipWindowMs > kRequestTimeoutMsDefault);
inline constexpr uint64_t kPeerReconnectBackoffMsMin = 100;
inline constexpr uint64_t kPeerReconnectBackoffMsMax = 5000;

// ---- RESP gateway (rpc/resp/; docs/design.md, "RESP gateway") ------------------------------
// A request is a flat array of bulk strings (nesting 1: an array inside a request is a protocol
// error) or one inline line. A bulk string is at most a value plus a key (a SET's value over
// kValueBytesMax is then refused by the command with an error, the connection staying open; a
// longer bulk is a protocol error that closes it). A command's framed bytes are bounded, so the
// per-connection input buffer (one partial command plus one read) is too.
// Names and addresses in gossip and status replies: generous for "host:port" and operator names,
// still bounded (rpc/internal/convert*.cc cut or refuse longer text).
inline constexpr size_t kMemberTextBytesMax = 256;
inline constexpr size_t kRespBulkBytesMax = kValueBytesMax + kKeyBytesMax;
inline constexpr size_t kRespArgsMax = 1 + 2 * kBatchKeysMax;  // MSET of kBatchKeysMax pairs
inline constexpr size_t kRespNestingMax = 1;
inline constexpr size_t kRespInlineBytesMax = 64 << 10;  // as Redis's PROTO_INLINE_MAX_SIZE
inline constexpr size_t kRespHeaderBytesMax = 32;        // a "*<count>" or "$<length>" line
inline constexpr size_t kRespCommandBytesMax = 4 * kFrameBytesMax;
inline constexpr size_t kRespReadChunkBytes = 64 << 10;
inline constexpr size_t kRespBufferBytesMax = kRespCommandBytesMax + kRespReadChunkBytes;
static_assert(kRespCommandBytesMax >= kRespBulkBytesMax + 3 * kRespHeaderBytesMax + 64);
static_assert(kRespInlineBytesMax < kRespCommandBytesMax);
// Before AUTH, when a password is set: tiny limits, so an unauthenticated peer can make the node
// hold almost nothing ("AUTH user password" and "HELLO 2 AUTH user password SETNAME name" fit).
inline constexpr size_t kRespPreAuthBulkBytesMax = 512;
inline constexpr size_t kRespPreAuthArgsMax = 8;
inline constexpr size_t kRespPreAuthCommandBytesMax = 4096;
static_assert(kRespPreAuthBulkBytesMax < kRespBulkBytesMax && kRespPreAuthArgsMax < kRespArgsMax);
static_assert(kRespPreAuthCommandBytesMax < kRespInlineBytesMax);
// Pipelining: at most this many commands of one connection are executing or waiting to have
// their replies written, and while more than kRespOutputBytesMax of replies wait for the socket
// the connection reads nothing more (back-pressure, not a disconnect).
inline constexpr size_t kRespPipelineInFlightMax = 1024;
inline constexpr size_t kRespOutputBytesMax = 4 * kFrameBytesMax;

// ---- Cluster --------------------------------------------------------------------------------
inline constexpr size_t kClusterNodesMax = 128;  // the mission promises 100
inline constexpr int kTokensPerNodeDefault = 16;
inline constexpr int kTokensPerNodeMax = 256;
inline constexpr int kReplicationFactorMax = 7;
static_assert(kReplicationFactorMax <= kVersionVectorEntriesMax);
inline constexpr uint64_t kGossipIntervalMs = 200;
inline constexpr int kGossipFanout = 3;
// Failure detection: phi accrual over at most this many heartbeat inter-arrival samples; a
// sample longer than kPhiSampleMaxIntervals gossip intervals (a return from downtime) is capped.
inline constexpr size_t kPhiWindowSamples = 64;
inline constexpr uint64_t kPhiSampleMaxIntervals = 10;
// A node without tokens waits this many gossip intervals after a seed first answers, so that it
// sees the ring (and other concurrent joiners) before choosing its tokens...
inline constexpr uint64_t kJoinSettleIntervals = 3;
// ...and falls back to hashed tokens if no seed answers within this time.
inline constexpr uint64_t kJoinWaitMsMax = 5000;
// The member view a node persists (cluster/persist.h) is stored at most this often while it
// changes (plus at once on a graceful leave): a restart routes by it from its first moment.
inline constexpr uint64_t kMembersPersistIntervalMs = 2000;
inline constexpr size_t kNodeNameBytesMax = 256;     // a member's name in gossip
inline constexpr size_t kNodeAddressBytesMax = 256;  // a member's "host:port" in gossip
// Hinted handoff (cluster/internal/hint_replayer.h): every kHintReplayIntervalMs a node with hints
// for a live target reads up to kHintReplayBytesPerSDefault x interval of them and sends them to
// it, with at most kHintReplayInFlightMax outstanding per target.
inline constexpr uint64_t kHintReplayIntervalMs = 250;
inline constexpr uint64_t kHintReplayBytesPerSDefault = 8 << 20;
inline constexpr size_t kHintReplayInFlightMax = 256;
// Stand-ins for replicas that are down are the next live nodes on the ring after the preference
// list, looked for among this many more nodes than are needed.
inline constexpr size_t kHintHolderSlack = 2;
// Replica calls still unanswered when their write finished, kept so that a failure leaves a hint.
inline constexpr size_t kOrphanCallsMax =
    kNodeInFlightRequestsMax * static_cast<size_t>(kReplicationFactorMax);
// A node back from being away reads other replicas first until no write stamped before its start
// has reached it for kCatchUpQuietMs (hints replayed, read repair), at most kCatchUpMaxMs.
inline constexpr uint64_t kCatchUpQuietMs = 2000;
inline constexpr uint64_t kCatchUpMaxMs = 30000;
// A read whose replicas are all below the session's floor is retried this often until its deadline.
inline constexpr uint64_t kSessionReadRetryMs = 50;

// ---- Sessions -------------------------------------------------------------------------------
// A session token remembers exactly the newest version of at most this many keys; older entries
// fold into kSessionSketchBuckets per-bucket floors (see docs/design.md, "Session token").
inline constexpr size_t kSessionKeysMax = 1024;
inline constexpr size_t kSessionSketchBuckets = 64;
inline constexpr size_t kSessionTokenBytesMax = 64 << 10;
static_assert(kSessionKeysMax * 24 + kSessionSketchBuckets * 8 + 64 < kSessionTokenBytesMax);

// ---- Tools (the `causeway` binary) ----------------------------------------------------------
// `causeway local`: how long to wait for a started node to answer, and for a stopped one to exit
// after SIGTERM before it gets SIGKILL.
inline constexpr uint64_t kLocalStartWaitMsMax = 30000;
inline constexpr uint64_t kLocalStopGraceMsDefault = 10000;
// `causeway serve`: the RocksDB block cache (--block-cache-mb), by storage profile when not set.
inline constexpr uint64_t kBlockCacheMbDefault = 256;
inline constexpr uint64_t kBlockCacheMbSmall = 8;  // storage_profile = small
inline constexpr uint64_t kBlockCacheMbMax = 1 << 20;
static_assert(kBlockCacheMbSmall < kBlockCacheMbDefault && kBlockCacheMbDefault < kBlockCacheMbMax);
// `causeway serve --tick-interval-ms`: how often the node loop ticks the core (timeouts, gossip,
// pacing all advance on ticks). Each tick of an idle node costs ~75 us of CPU, so `local up`
// (many nodes per machine) ticks every kTickIntervalMsLocal.
inline constexpr uint64_t kTickIntervalMsDefault = 25;
inline constexpr uint64_t kTickIntervalMsLocal = 100;
inline constexpr uint64_t kTickIntervalMsMin = 5;
inline constexpr uint64_t kTickIntervalMsMax = 1000;
static_assert(kTickIntervalMsLocal <= kGossipIntervalMs / 2);  // at least two ticks per round
// `causeway serve`: a data dir whose LOCK another process holds (the previous incarnation,
// still stopping) is waited for this long, polled this often, before the open fails.
inline constexpr uint64_t kDataDirLockWaitMsMax = 10000;
inline constexpr uint64_t kDataDirLockPollMs = 20;
// `causeway bench`: client threads and calls outstanding per thread.
inline constexpr int kBenchConnectionsMax = 1024;
inline constexpr int kBenchOutstandingMax = 1024;
// `causeway repair`: a node's progress is polled every kRepairPollMs and, when not on a terminal,
// printed every kRepairPlainProgressMs; a node none of whose polls answered for
// kRepairUnreachableMsMax is given up; the whole run is bounded by --timeout-s (default
// kRepairTimeoutSDefault, at most kRepairTimeoutSMax).
inline constexpr uint64_t kRepairPollMs = 250;
inline constexpr uint64_t kRepairPlainProgressMs = 2000;
inline constexpr uint64_t kRepairUnreachableMsMax = 10000;
inline constexpr uint64_t kRepairTimeoutSDefault = 600;
inline constexpr uint64_t kRepairTimeoutSMax = 7ull * 24 * 3600;
static_assert(kRepairPollMs < kRepairPlainProgressMs);
static_assert(kRepairUnreachableMsMax > 2 * kRequestTimeoutMsDefault);  // several polls fail first
static_assert(kRepairUnreachableMsMax < kRepairTimeoutSDefault * 1000);
// `causeway node decommission`: the node's stream status is polled every kDecommissionPollMs and,
// when not on a terminal, printed every kDecommissionPlainProgressMs. A node silent for
// kDecommissionUnreachableMsMax before it reported leaving is given up; one that stops answering
// after it did (it stops by itself once it has left) is looked up in the other members' views on
// each poll, for up to kDecommissionConfirmMsMax. The run is bounded by --timeout-s (default
// kDecommissionTimeoutSDefault, at most kDecommissionTimeoutSMax); the node goes on without it.
inline constexpr uint64_t kDecommissionPollMs = 250;
inline constexpr uint64_t kDecommissionPlainProgressMs = 2000;
inline constexpr uint64_t kDecommissionUnreachableMsMax = 10000;
inline constexpr uint64_t kDecommissionConfirmMsMax = 10000;
inline constexpr uint64_t kDecommissionTimeoutSDefault = 3600;
inline constexpr uint64_t kDecommissionTimeoutSMax = 7ull * 24 * 3600;
static_assert(kDecommissionPollMs < kDecommissionPlainProgressMs);
static_assert(kDecommissionUnreachableMsMax > 2 * kRequestTimeoutMsDefault);
static_assert(kDecommissionConfirmMsMax < kDecommissionTimeoutSDefault * 1000);
// `causeway node cleanup` waits at most --timeout-s (default kCleanupTimeoutSDefault, at most
// kCleanupTimeoutSMax) for each node's answer; a node goes on with a cleanup its caller left.
inline constexpr uint64_t kCleanupTimeoutSDefault = 3600;
inline constexpr uint64_t kCleanupTimeoutSMax = 7ull * 24 * 3600;

// ---- Disk (engine/internal/disk_watch.h, engine/internal/info_log.h) ------------------------
// Data writes (replica applies, hints) are refused with kNoSpace while the free space of the data
// dir's file system, less what the memtables will write when flushed and what was admitted since
// the last sample, is below the reserve. Meta writes (the HLC ceiling, node records: a few bytes
// each) are not, so a node whose disk is full still coordinates writes to healthy replicas. The
// default reserve is the smaller of kDiskReserveBytesDefault and kDiskReservePercentDefault % of
// the file system (4.8 MiB on a 96 MiB tmpfs); `serve --disk-reserve-mb` sets it, up to
// kDiskReserveMbMax; 0 turns the check off.
inline constexpr uint64_t kDiskReserveBytesDefault = 256ull << 20;
inline constexpr uint64_t kDiskReservePercentDefault = 5;
inline constexpr uint64_t kDiskReserveMbMax = 1ull << 20;  // 1 TiB
// Free space is sampled (statvfs) every kDiskSampleIntervalMs by the engine's disk thread, which
// then also resumes writes after a kNoSpace fail-stop once there is room; and inline by the writer
// whose admitted bytes since the last sample pass kDiskResampleBytes.
inline constexpr uint64_t kDiskSampleIntervalMs = 1000;
inline constexpr uint64_t kDiskResampleBytes = 1 << 20;
static_assert(kDiskResampleBytes * 4 <= kDiskReserveBytesDefault);
// RocksDB's info LOG is written by the engine's own logger (RocksDB's own one asserts on the
// write after a failed one): LOG plus LOG.old, each at most kInfoLogBytesMax; a longer line is cut.
inline constexpr uint64_t kInfoLogBytesMax = 16 << 20;
inline constexpr size_t kInfoLogLineBytesMax = 16 << 10;
static_assert(kInfoLogLineBytesMax < kInfoLogBytesMax);

// ---- Anti-entropy (engine/internal/aae_tree.h) -----------------------------------------------
// Each engine keeps one tree over the whole token space: kAaeSegments segments, a segment being
// the top kAaeSegmentBits bits of a token, so a token range is a contiguous run of segments.
// Segments are grouped into kAaeBranches branches of kAaeSegmentsPerBranch for a two-level
// descent. At 1M keys per node a segment holds ~15 keys: a differing segment costs one short scan.
inline constexpr int kAaeSegmentBits = 16;
inline constexpr uint32_t kAaeSegments = uint32_t{1} << kAaeSegmentBits;
inline constexpr uint32_t kAaeSegmentsPerBranch = 256;
inline constexpr uint32_t kAaeBranches = kAaeSegments / kAaeSegmentsPerBranch;
static_assert(kAaeSegmentBits > 0 && kAaeSegmentBits <= 24);  // the tree is 8 B per segment
static_assert(kAaeBranches * kAaeSegmentsPerBranch == kAaeSegments);
static_assert(kAaeSegments % 64 == 0);  // the dirty bitmap is whole 64-bit words

// Anti-entropy exchange (cluster/internal/anti_entropy.h). A hash request names at most
// kAaeSpansPerRequestMax spans; a differing span is split into at most kAaeFanout pieces at the
// next level; a digest answer holds at most kAaeDigestsPerResponseMax keys (the rest follow on
// request). An exchange has at most kAaeRepairsInFlightMax key transfers outstanding, paced to
// kAaeBytesPerSDefault; one starts every kAaeIntervalMsDefault (back to back while catching up).
// A step unanswered for kAaeStepTimeoutMs abandons the exchange (retried on a later round).
inline constexpr size_t kAaeSpansPerRequestMax = 1024;
inline constexpr size_t kAaeFanout = 256;
static_assert(kAaeFanout <= kAaeSpansPerRequestMax);
inline constexpr size_t kAaeDigestsPerResponseMax = 4096;
inline constexpr size_t kAaeRepairsInFlightMax = 64;
inline constexpr uint64_t kAaeFixBytesInFlightMax = 4 << 20;
inline constexpr uint64_t kAaeBytesPerSDefault = 8 << 20;
inline constexpr uint64_t kAaeIntervalMsDefault = 10000;
// Keys whose newest version is younger than this when an exchange starts are left alone by it:
// they are most likely writes still on their way to the other replica (peer calls time out
// after kPeerCallTimeoutMsDefault, then a hint carries them), and fixing them would send them
// twice. The next exchange sees them if they still differ.
inline constexpr uint64_t kAaeRecentMs = 2000;
static_assert(kAaeRecentMs >= kPeerCallTimeoutMsDefault);
inline constexpr uint64_t kAaeStepTimeoutMs = 10000;
// Peers' hash and digest queries a node runs on its engine at once (more: kOverloaded), and the
// on-demand repairs whose progress it remembers.
inline constexpr size_t kAaeServeInFlightMax = 8;
inline constexpr size_t kAaeRepairsKept = 64;

// ---- Membership changes and streaming (cluster/internal/streamer.h) ---------------------------
// A page of a stream holds about kStreamPageBytesDefault of values (a requester may ask for up to
// kStreamPageBytesMax; a page always holds at least one key, so at most one value over). At most
// kStreamPagesInFlight pages are requested at once per streaming node, paced to
// kStreamBytesPerSDefault; a page unanswered for kStreamStepTimeoutMs is asked again (of another
// source if one is alive). A node serves at most kStreamServeInFlightMax pages at once.
inline constexpr uint64_t kStreamPageBytesDefault = 1 << 20;
inline constexpr uint64_t kStreamPageBytesMax = 4 << 20;
inline constexpr size_t kStreamPageKeysMax = 1 << 16;  // and at most this many keys
inline constexpr size_t kStreamPagesInFlight = 2;
inline constexpr uint64_t kStreamBytesPerSDefault = 128 << 20;
inline constexpr uint64_t kStreamStepTimeoutMs = 10000;
inline constexpr uint64_t kStreamRetryMs = 500;  // after a failed page, before asking again
inline constexpr size_t kStreamServeInFlightMax = 4;
// A joiner announces its tokens (to every live member at once, then by gossip), then waits
// kRingSettleMsDefault before streaming, so that the coordinators send it the writes of its
// pending ranges before its stream scans them.
inline constexpr uint64_t kRingSettleMsDefault = 1000;
// A leaver waits for a gainer that is down at most this long before it leaves without it (the
// gainer's copies then come from the other replicas by anti-entropy).
inline constexpr uint64_t kLeaveWaitForDownGainerMs = 60000;

// ---- the offline tool and bulk import (docs/operations.md, "Bulk import") ---------------------
// An ingestion file travels to a replica in chunks of at most kIngestChunkBytesMax (one RPC
// frame, with room for the call's other fields). A replica stages at most kIngestFileBytesMax per
// file and kIngestStagedBytesMax over all files being received; a staged file untouched for
// kIngestStagedIdleMs (its sender died) is removed by the next chunk that arrives, and every
// staged file is removed when the node starts.
inline constexpr size_t kIngestChunkBytesMax = kValueBytesMax;
static_assert(kIngestChunkBytesMax + kKeyBytesMax + 4096 <= kFrameBytesMax);
inline constexpr uint64_t kIngestFileBytesMax = 1ull << 30;
inline constexpr uint64_t kIngestStagedBytesMax = 4ull << 30;
static_assert(kIngestStagedBytesMax >= kIngestFileBytesMax);
inline constexpr uint64_t kIngestStagedIdleMs = uint64_t{10} * 60 * 1000;
inline constexpr size_t kIngestSessionsMax = 64;  // files staged at once on one replica
// The importer cuts its input into batches of about this many bytes of rows (one SST per target
// replica per batch; the resume state advances per batch). A batch also ends at
// kImportBatchRowsMax rows. Batch i stamps its rows with logical counter i, so at most
// kImportBatchesMax batches (the HLC's logical bits).
inline constexpr uint64_t kImportBatchBytesDefault = 64ull << 20;
inline constexpr uint64_t kImportBatchBytesMax = kIngestFileBytesMax / 2;
inline constexpr size_t kImportBatchRowsMax = 1 << 20;
inline constexpr uint64_t kImportBatchesMax = (uint64_t{1} << kHlcLogicalBits) - 1;
inline constexpr size_t kImportBadRowsPrintedMax = 100;  // then only counted
inline constexpr size_t kImportLineBytesMax = 2 * kValueBytesMax + 2 * kKeyBytesMax + 4096;
inline constexpr size_t kImportStateBytesMax = 1 << 20;
inline constexpr uint64_t kImportPlainProgressMs = 2000;
inline constexpr uint64_t kImportChunkTimeoutMs = 120000;  // a chunk, or the final ingestion
// Offline repair reads each directory in pages of this many keys (a k-way merge in key order).
inline constexpr size_t kOfflinePageKeys = 1024;
inline constexpr size_t kOfflineDirsMax = 64;
inline constexpr uint64_t kOfflinePlainProgressMs = 2000;
// ---- Security (docs/design.md, "Threat model") ---------------------------------------------
// Cluster secret file: one secret per line (the first proves, any one is accepted: rotation).
inline constexpr size_t kClusterSecretBytesMin = 16;
inline constexpr size_t kClusterSecretFileBytesMax = 16 << 10;
inline constexpr size_t kClusterSecretsMax = 4;
inline constexpr size_t kPeerAuthNonceBytes = 32;  // per connection, from the OS's CSPRNG
inline constexpr size_t kPeerAuthProofBytes = 32;  // HMAC-SHA256
// Users file (docs/formats.md, "Users file").
inline constexpr size_t kUserNameBytesMax = 64;
inline constexpr size_t kPasswordBytesMax = 1024;
inline constexpr size_t kUsersMax = 10000;
inline constexpr size_t kUsersFileBytesMax = 4 << 20;
// Logins: each verifies one Argon2id hash (about 64 MiB and ~50-100 ms) on libuv's thread pool,
// never on the loop. At most kLoginKdfInFlightMax run at once and kLoginQueueMax wait; more are
// refused kOverloaded, so a flood of bad logins costs bounded memory and CPU. A connection gets
// kLoginFailuresPerConnectionMax wrong passwords, then is closed.
inline constexpr size_t kLoginKdfInFlightMax = 2;
inline constexpr size_t kLoginQueueMax = 64;
inline constexpr size_t kLoginFailuresPerConnectionMax = 3;
// Connections (rpc/internal/listener.h). A connection is pre-authentication until it completed
// its handshake (client() without a users file, login, peerAuth, or peer() without a secret).
// Pre-authentication connections are bounded per source address and in total; when a bound is
// reached the OLDEST pre-authentication connection (of that source, else any) is closed for the
// newcomer, so a flood never locks a well-behaved client out. One that does not finish its
// handshake within kHandshakeDeadlineMs is closed.
inline constexpr size_t kPreAuthConnectionsPerSourceMax = 512;
inline constexpr size_t kPreAuthConnectionsMax = 2048;
inline constexpr size_t kConnectionsPerSourceMax = 8192;
static_assert(kPreAuthConnectionsPerSourceMax <= kPreAuthConnectionsMax);
static_assert(kPreAuthConnectionsMax < kConnectionsPerSourceMax);
static_assert(kConnectionsPerSourceMax <= kClientConnectionsMax);
inline constexpr uint64_t kHandshakeDeadlineMs = 5000;
// Frames (Cap'n Proto messages) before the handshake: at most this large (a login is < 2 KiB).
inline constexpr size_t kPreAuthFrameBytesMax = 16 << 10;
static_assert(kPreAuthFrameBytesMax > kUserNameBytesMax + kPasswordBytesMax + 1024);
// Half-received frames larger than one read buffer reserve their size from one node-wide budget
// while they arrive; a frame that does not fit is refused (its connection closed). A frame must
// arrive within kPartialFrameMsMin plus its size at kPartialFrameBytesPerSMin, else its
// connection is closed: slow senders cannot park memory.
inline constexpr size_t kPartialFrameBudgetBytes = 256 << 20;
inline constexpr uint64_t kPartialFrameMsMin = 5000;
inline constexpr uint64_t kPartialFrameBytesPerSMin = 1 << 20;
// Replies queued on connections (written to a slow reader's socket buffer and not yet taken): one
// node-wide budget; over it, the connection with the most queued bytes is closed.
inline constexpr size_t kQueuedReplyBudgetBytes = 256 << 20;
inline constexpr size_t kConnectionQueuedReplyBytesMax = 64 << 20;
static_assert(kConnectionQueuedReplyBytesMax < kQueuedReplyBudgetBytes);
// TLS (rpc/tls.h): a certificate, key or CA file is at most this large; the listener reads a
// TLS connection's first record (its ClientHello, for the server name) of at most this size
// before the handshake, within kHandshakeDeadlineMs.
inline constexpr size_t kTlsFileBytesMax = 1 << 20;
inline constexpr size_t kTlsClientHelloBytesMax = (16 << 10) + 5;
static_assert(kTlsClientHelloBytesMax <= kPreAuthFrameBytesMax + 5);
// A client's new connection that logs in gets this much longer to answer its probe.
inline constexpr uint64_t kClientLoginProbeExtraMs = 2000;

}  // namespace causeway
