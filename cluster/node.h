// NodeCore: everything one Causeway node decides, with no I/O (STYLE.md 2).
//
// Inputs: client requests, peer messages, storage completions, and Tick(now). Output: Actions.
// It owns the ring, the membership view and failure detector, the coordinators of in-flight
// requests and the replica-side handlers. It never opens a socket, starts a thread, reads a
// clock or touches the engine; the HLC it stamps writes with is passed in (its physical clock
// is injected too, so the simulator controls and skews it).
//
// Not thread-safe: one event loop (or the simulator) owns it and calls it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/hlc.h"
#include "cluster/messages.h"

namespace causeway::cluster {

struct NodeConfig {
  std::string name;                // operator's node name; NodeId = NodeIdFromName(name)
  std::string address;             // where peers and clients reach this node
  std::vector<std::string> seeds;  // addresses of seed nodes (may include our own)
  std::vector<Token> tokens;       // empty: choose on first start (then persist them)
  int tokens_per_node =
      kTokensPerNodeDefault;  // how many a new node chooses (<= kTokensPerNodeMax)
  // `serve --replace`: this node's data was lost; it takes back the tokens its peers remember for
  // its name and rebuilds its ranges by streaming before it serves reads (docs/design.md,
  // "Replace"). A node that finds its tokens remembered by peers rebuilds so even without it.
  bool replace = false;
  // Streaming (cluster/internal/streamer.h): pages pulled at most at this rate.
  uint64_t stream_bytes_per_s = kStreamBytesPerSDefault;
  // A joiner waits this long after announcing its tokens before it streams, so that every
  // coordinator sends it the writes of its pending ranges first (Cassandra's ring delay).
  uint64_t ring_settle_ms = kRingSettleMsDefault;
  uint64_t generation = 1;  // incarnation, bumped and persisted by the driver per start
  int rf = 3;
  int default_w = 2;
  int default_r = 1;
  uint64_t request_timeout_ms = kRequestTimeoutMsDefault;
  uint64_t peer_timeout_ms = kPeerCallTimeoutMsDefault;
  uint64_t gossip_interval_ms = kGossipIntervalMs;
  double phi_convict = 8.0;
  // The clock-offset fence (cluster/internal/clock_monitor.h): a peer whose wall clock is more
  // than this fraction of the clock's max offset away counts as far.
  double clock_fence_fraction = kClockFenceFractionDefault;
  uint64_t hint_replay_bytes_per_s = kHintReplayBytesPerSDefault;  // the replay throttle
  // Anti-entropy (cluster/internal/anti_entropy.h): one exchange starts every aae_interval_ms,
  // its fixes paced to aae_bytes_per_s.
  uint64_t aae_interval_ms = kAaeIntervalMsDefault;
  uint64_t aae_bytes_per_s = kAaeBytesPerSDefault;
  // Tombstone GC (docs/design.md, "Tombstone GC"): a tombstone is purged only once it is
  // tombstone_grace_ms old and below its range's anti-entropy watermark; the watermarks go to
  // the engine every tombstone_watermark_interval_ms. The simulator shortens both to seconds.
  uint64_t tombstone_grace_ms = kTombstoneGraceMsDefault;
  uint64_t tombstone_watermark_interval_ms = kTombstoneWatermarkIntervalMs;
  uint64_t rng_seed = 0;  // 0: derived from the node id
  // The member view persisted by a previous incarnation (kMetaMembers, cluster/persist.h): the
  // ring is complete from the first moment, its members counted dead until their heartbeat is
  // heard, so a write never lands on a node that is not its replica. Our own entry is ignored
  // (except its tokens when `tokens` is empty). Empty: a new node, or one that never persisted.
  std::vector<MemberState> known_members;
  // The bootstrap a previous incarnation persisted (kMetaBootstrap, cluster/persist.h): a joiner
  // that crashed mid-stream resumes it. Empty: none in progress.
  std::string bootstrap_state;
};

// A member's state in words, most telling first: "left", "down", "joining", "leaving",
// "bootstrapping" (a replacement rebuilding its ranges), "catching up" (back from being away),
// "up". `causeway status`, /metrics and the membership log lines all use these words.
std::string_view MemberStateName(const MemberState& m, bool alive);

class NodeCore {
 public:
  NodeCore(NodeConfig config, HybridClock* clock);
  ~NodeCore();
  NodeCore(const NodeCore&) = delete;
  NodeCore& operator=(const NodeCore&) = delete;

  NodeId id() const;
  const NodeConfig& config() const;
  // The tokens this node owns (chosen in the constructor when config.tokens was empty). The
  // driver persists them so that a restart keeps its place on the ring.
  const std::vector<Token>& tokens() const;

  // ---- client requests: the core answers each with exactly one ReplyAction, by its deadline.
  Actions StartWrite(RequestId id, ClientWrite request, TimeMs now);
  Actions StartRead(RequestId id, ClientRead request, TimeMs now);
  Actions StartExplain(RequestId id, std::string key, TimeMs now);

  // ---- inputs from the driver
  Actions OnPeerMessage(NodeId from, PeerMessage message, TimeMs now);
  // A SendAction could not be delivered (no connection, peer call failed or timed out).
  Actions OnSendFailed(NodeId to, const PeerMessage& message, TimeMs now);
  Actions OnStorageDone(uint64_t op_id, StorageResult result, TimeMs now);
  // Timeouts, gossip rounds, failure detection. Call at least every 50 ms.
  Actions Tick(TimeMs now);
  // Before a stop that is not a leave (SIGTERM, a restart): stores the member view (so the next
  // start knows the ring at once). The node stays a member; peers see it down and hint for it.
  Actions PrepareStop(TimeMs now);

  // ---- views for status / ring admin calls
  std::vector<MemberView> Members(TimeMs now) const;
  std::vector<NodeId> PreferenceList(std::string_view key) const;
  size_t InFlightRequests() const;
  // The join guard has passed (docs/design.md, "Restart and join safety"): the node has ring
  // tokens and knows the ring, so it coordinates client requests. False while joining.
  bool Coordinating() const;

  // The clock-offset monitor's view (docs/design.md, "Clock offsets and the fence").
  struct ClockStatus {
    std::string state;  // "trusted", "unverified", "fenced"
    int64_t median_offset_ms = 0;
    uint64_t sampled_peers = 0, far_peers = 0, threshold_ms = 0, fences = 0, jumps = 0;
    std::string description;
  };
  ClockStatus clock_status() const;
  // Whether the wall clock may stamp writes and back a stored clock ceiling now.
  bool ClockTrusted() const;
  // What the clock's persisted ceiling may be based on now (the driver stores at most this plus
  // the lead): the wall clock or the clock's Last() while trusted; otherwise Last() or the newest
  // timestamp a peer replicated to us (stamped by a trusted coordinator), never our own wall
  // clock. So a fenced node still takes replicas' writes, and once its clock is fixed it
  // restarts without waiting out the old skew.
  uint64_t CeilingBaseMs() const;

  // Back from being away (restarted with a persisted view), the node reads other replicas first
  // until the writes it missed have arrived (docs/design.md, "Catching up").
  struct CatchUpStatus {
    bool catching_up = false;
    bool by_bound = false;  // it stopped at kCatchUpMaxMs, not because catch-up traffic ended
    TimeMs after_ms = 0;    // how long it took
  };
  CatchUpStatus catch_up_status() const;

  // ---- anti-entropy (docs/design.md, "Anti-entropy exchange")
  // An on-demand repair: exchanges, ahead of the schedule, every range of ours that intersects
  // `spans` (empty: all of them) with each of its other replicas. Returns its id, for
  // repair_status. Exchanges start on the following ticks.
  uint64_t StartRepair(const std::vector<TokenSpan>& spans, TimeMs now);
  struct RepairStatus {
    bool known = false;  // false: no such repair (ids do not survive a restart)
    bool done = false;
    Status status;  // once done: Ok, or why some exchange could not complete
    uint64_t exchanges_total = 0, exchanges_done = 0, exchanges_failed = 0;  // (range, peer) pairs
    double fraction = 0;         // of the work: exchanges done or failed, weighted by token width
    uint64_t keys_compared = 0;  // key digests compared (only in spans whose hashes differed)
    uint64_t keys_differed = 0;  // keys whose replicas held different winners
    uint64_t keys_written = 0;   // winners written to a replica that lacked them (either side)
    uint64_t bytes = 0;          // bytes of versions sent or fetched to repair them
    TimeMs elapsed_ms = 0;
  };
  RepairStatus repair_status(uint64_t repair_id, TimeMs now) const;

  // ---- membership changes (docs/design.md, "Membership changes")
  // Starts a decommission: from the next tick the node is kLeaving, the nodes that gain its
  // ranges stream them from it, and once they have it announces kLeft (the host then stops).
  // Refused unless it is a normal member and at least rf normal members would remain.
  Status StartDecommission(TimeMs now);
  // The node's own streaming: a bootstrap (joining), a rebuild (replace), ranges gained from a
  // leaver, or, on a leaver, its hand-over.
  struct StreamStatus {
    std::string phase;  // "" (none since start), "bootstrap", "rebuild", "gain", "decommission"
    bool done = false;  // finished (status says how)
    Status status;
    MemberStatus member_status = MemberStatus::kUp;  // our own, as gossiped
    uint64_t keys = 0, bytes = 0;                    // received (or, decommissioning, served)
    double fraction = 0;                             // of the work, 0..1, by token width
    TimeMs elapsed_ms = 0;
  };
  StreamStatus stream_status(TimeMs now) const;
  // The spans of every range this node replicates in the current ring (kUp and kLeaving
  // members), in token order, disjoint: what a cleanup keeps.
  std::vector<TokenSpan> OwnedSpans() const;

  // Monotonic since start (docs/design.md, "Counters").
  struct Counters {
    uint64_t writes = 0, reads = 0, read_repairs = 0, session_escalations = 0;
    uint64_t session_unavailable = 0, clock_skew_rejections = 0, timeouts = 0;
    // Pairs of causally concurrent versions (CompareCausality == kConcurrent) that successful
    // reads received from different replicas; an observation count, not a count of races.
    uint64_t concurrent_seen = 0;
    uint64_t fenced_writes = 0;  // refused: the clock monitor did not trust the wall clock
    // Hinted handoff: writes sent to a stand-in for a replica that was down; hints this node
    // stored as a stand-in, refused over the target's budget, replayed to their target (and
    // deleted), replays that failed (kept), and replays this node (their target) dropped below its
    // tombstone watermark.
    uint64_t hinted_writes = 0, hints_stored = 0, hints_over_budget = 0, hints_replayed = 0;
    uint64_t hint_replay_failures = 0, hints_dropped = 0;
    // Anti-entropy: exchanges completed and abandoned (a peer failed or timed out), keys whose
    // replicas differed, winners written to the peer and to ourselves, and their bytes.
    uint64_t aae_exchanges = 0, aae_exchange_failures = 0, aae_keys_differed = 0;
    uint64_t aae_keys_pushed = 0, aae_keys_pulled = 0, aae_bytes = 0, aae_protocol_bytes = 0;
    // Streaming: pages and keys received and applied, their bytes, pages served to others, and
    // writes sent to pending replicas (joining nodes, gainers of a leaver's ranges).
    uint64_t stream_pages = 0, stream_keys = 0, stream_bytes = 0, stream_pages_served = 0;
    uint64_t pending_writes = 0;
  };
  Counters counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace causeway::cluster
