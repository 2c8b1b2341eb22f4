// The vocabulary of the sans-IO cluster core: what comes in (client requests, peer messages,
// storage completions, time) and what goes out (actions). Plain C++ values: no Cap'n Proto here
// (rpc/ maps these to and from schema/causeway.capnp in one place).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/status.h"
#include "base/token.h"
#include "base/version.h"
#include "cluster/session.h"

namespace causeway::cluster {

using RequestId = uint64_t;  // chosen by whoever starts the request; unique per core
using TimeMs = uint64_t;     // monotonic milliseconds (timeouts, gossip); never the wall clock

// How many replicas must answer: a number, or one/quorum/all of rf.
struct Consistency {
  enum class Kind { kDefault, kNumber, kOne, kQuorum, kAll };
  Kind kind = Kind::kDefault;
  int n = 0;  // for kNumber
  static Consistency Number(int n) { return {Kind::kNumber, n}; }
  static Consistency One() { return {Kind::kOne, 0}; }
  static Consistency Quorum() { return {Kind::kQuorum, 0}; }
  static Consistency All() { return {Kind::kAll, 0}; }
};
// Replicas needed for `c` with replication factor rf; kDefault resolves to `dflt`.
Result<int> ResolveConsistency(Consistency c, int rf, int dflt);

// ---- client requests (arrive through rpc/ from a client, or from the simulator) --------------
struct ClientWrite {
  std::string key;
  std::string value;
  bool tombstone = false;  // a delete
  Consistency w;
  uint64_t timeout_ms = 0;  // 0: the node's default
  // What the session has seen, decoded at the edge (rpc/ checks the client's bytes); its scope
  // for this key suffices (SessionToken::ScopedTo). Empty: a new session.
  SessionToken session;
  // Sloppy quorum: a hint stored on a stand-in for a replica that is down counts toward W (as in
  // Dynamo). False: only real replicas count (docs/design.md, "Hinted handoff").
  bool hinted_counts = true;
};
struct ClientRead {
  std::string key;
  Consistency r;
  uint64_t timeout_ms = 0;
  SessionToken session;  // as ClientWrite's
};
struct ClientResult {
  Status status;
  // Read: the winning version (tombstone = "not found"); nullopt when no replica had the key.
  // Write: the version written.
  std::optional<Version> version;
  // On success: the request's session having observed `version`. On failure: empty (the caller
  // keeps its own).
  SessionToken session;
};

// One replica's answer, for `causeway explain`.
struct ReplicaVersion {
  NodeId node = 0;
  Status status;
  std::optional<Version> version;
};
struct ExplainResult {
  Status status;
  Token token = 0;
  std::vector<NodeId> preference_list;
  std::vector<ReplicaVersion> replicas;
};

// ---- membership -------------------------------------------------------------------------------
// A member's place in the ring's life (docs/design.md, "Membership changes"):
//  * kJoining: has tokens, takes writes for the ranges it will own (a pending replica) and
//    streams their data; not yet read from, not yet in the ring that places reads;
//  * kUp: normal;
//  * kLeaving: decommissioning; still a replica until the nodes gaining its ranges have streamed
//    them, then kLeft;
//  * kLeft: gone for good (only ever after a decommission); off every ring.
// Appended in wire order (schema MemberStatus, persisted views): never renumbered.
enum class MemberStatus { kUp, kLeaving, kLeft, kJoining };
struct MemberState {
  NodeId id = 0;
  std::string name;     // operator's name ("n1")
  std::string address;  // "host:port" peers and clients connect to
  std::vector<Token> tokens;
  uint64_t generation = 0;  // bumped on every restart (persisted)
  uint64_t heartbeat = 0;   // bumped by its owner every gossip round
  MemberStatus status = MemberStatus::kUp;
  // Back from being away and not yet caught up (docs/design.md, "Catching up"): coordinators
  // read its replicas' other copies first. Gossiped, never persisted.
  bool catching_up = false;
  // Receiving its ranges by streaming (joining, or rebuilding after its data was lost: "Replace");
  // hint holders wait until it is done. Gossiped, never persisted.
  bool bootstrapping = false;
};

// What a node reports about a member, for `causeway status`.
struct MemberView {
  MemberState state;
  bool alive = false;       // this node's failure detector's opinion
  double ring_share = 0.0;  // fraction of the token space it is primary for
};

// ---- peer messages -----------------------------------------------------------------------------
struct ReplicateRequest {
  RequestId id = 0;
  std::string key;
  Version version;
  // Nonzero: the receiver is a stand-in for this replica, which is down; it stores the version as
  // a hint for it (the `hints` column family) and hands it over once the replica is back.
  NodeId hint_for = 0;
  // A hint handed over by its holder (cluster/internal/hint_replayer.h). The replica drops one
  // older than its tombstone watermark for the key (acknowledging it): the delete that shadowed
  // it may already be purged here, and applying it would bring the key back.
  bool replayed_hint = false;
};
struct ReplicateResponse {
  RequestId id = 0;
  Status status;
};
struct ReadRequest {
  RequestId id = 0;
  std::string key;
};
struct ReadResponse {
  RequestId id = 0;
  Status status;
  std::optional<Version> version;
};
// A member's gossip summary (Scuttlebutt digest): who is newer is decided by (generation,
// heartbeat); `state_hash` (MemberStateHash) tells whether only the heartbeat moved, in which case
// the digest alone updates the receiver's copy.
struct MemberDigest {
  NodeId id = 0;
  uint64_t generation = 0;
  uint64_t heartbeat = 0;
  uint64_t state_hash = 0;
};
// Hash of what a member's digest does not carry: name, address, tokens, status.
uint64_t MemberStateHash(const MemberState& m);

// One gossip exchange is a push (reply_wanted), its reply, and, when the reply asked for states
// (`wanted`), those states. A push lists the sender's whole view: its own state and members whose
// state changed recently in full, every other member as a digest. A reply carries full states
// for what the pusher lacks or holds older with other content, digests for heartbeat-only news,
// and `wanted`: members the pusher has newer that the replier cannot update from a digest.
// Every list is bounded by kClusterNodesMax (receivers ignore the excess).
// Clock samples ride along (cluster/internal/clock_monitor.h): every gossip message carries the
// sender's wall clock when sent, a push its monotonic send time, and the reply echoes that time.
struct GossipMessage {
  std::vector<MemberState> members;   // full states
  bool reply_wanted = false;          // a push: answer with what the sender lacks
  std::vector<MemberDigest> digests;  // summaries of members not sent in full
  std::vector<NodeId> wanted;         // full states the sender asks for
  uint64_t wall_ms = 0;               // the sender's wall clock (ms since the epoch); 0: unknown
  TimeMs probe_ms = 0;                // a push: the sender's monotonic send time
  TimeMs echo_ms = 0;                 // a reply: the push's probe_ms
};

// Anti-entropy (cluster/internal/anti_entropy.h): a replica compares its copy of a token range
// with a peer's by hashes of spans, descending only into spans that differ, then by key digests.
// The exact hash of each span (AaeTree::EntryHash XORed over its keys); at most
// kAaeSpansPerRequestMax spans.
struct AaeHashRequest {
  RequestId id = 0;
  std::vector<TokenSpan> spans;
};
struct AaeHashResponse {
  RequestId id = 0;
  Status status;
  std::vector<uint64_t> hashes;  // one per span, in order
};
// What a replica holds for one key, without its value: the winner's dot and whether it deletes.
struct KeyDigest {
  std::string key;
  Hlc timestamp = 0;
  NodeId writer = 0;
  bool tombstone = false;
};
// The digests of the keys of `spans` (in token order, disjoint, at most kAaeSpansPerRequestMax) in
// (token, key) order after `after_key` ("": from the first), at most `limit`
// (<= kAaeDigestsPerResponseMax).
struct AaeDigestRequest {
  RequestId id = 0;
  std::vector<TokenSpan> spans;
  std::string after_key;
  uint32_t limit = 0;
};
struct AaeDigestResponse {
  RequestId id = 0;
  Status status;
  std::vector<KeyDigest> digests;
  bool more = false;  // keys are left after the last one
};
// A key and the winner a replica holds for it.
struct KeyVersion {
  std::string key;
  Version version;
};
// Streaming (cluster/internal/streamer.h): a node taking over token ranges (joining, rebuilding,
// or gaining them from a leaver) pulls their data from a current replica, page by page: the
// winners of the keys of `spans` (in token order, disjoint, at most kAaeSpansPerRequestMax) in
// (token, key) order after `after_key` ("": from the first), up to about `limit_bytes` of values
// (<= kStreamPageBytesMax; at least one key).
struct StreamRequest {
  RequestId id = 0;
  std::vector<TokenSpan> spans;
  std::string after_key;
  uint64_t limit_bytes = 0;
};
struct StreamResponse {
  RequestId id = 0;
  Status status;
  std::vector<KeyVersion> versions;
  bool more = false;  // keys are left after the last one
};
using PeerMessage = std::variant<ReplicateRequest, ReplicateResponse, ReadRequest, ReadResponse,
                                 GossipMessage, AaeHashRequest, AaeHashResponse, AaeDigestRequest,
                                 AaeDigestResponse, StreamRequest, StreamResponse>;

// ---- actions (what the core asks its driver to do) -------------------------------------------
// Deliver `message` to node `to` at `address`. Delivery may fail or be late; the core copes.
// A message to the core's own id must be looped back through OnPeerMessage.
struct SendAction {
  NodeId to = 0;
  std::string address;
  PeerMessage message;
};
// Answer client request `id`.
struct ReplyAction {
  RequestId id = 0;
  ClientResult result;
};
struct ExplainReplyAction {
  RequestId id = 0;
  ExplainResult result;
};
// Run an operation on the local engine, then call OnStorageDone(op_id, ...). The driver may run
// it on another thread; the core never touches the engine itself.
//
// Hints (writes held for a replica that is down: docs/design.md, "Hinted handoff"):
//  * kPutHint: keep `version` of `key` for `target` (the newer of it and a stored one); a target
//    over its byte budget is `over_budget`, not an error;
//  * kScanHints: up to `limit_bytes` of target's hints in key order after `key` ("" = from the
//    start), into `hints`; `more` when some are left;
//  * kDeleteHint: drop target's hint of `key` if it still is `version` (a newer one stays);
//  * kHintTargets: which targets have hints, into `targets`.
// Anti-entropy (cluster/internal/anti_entropy.h):
//  * kAaeHashes: the exact hash of each of `spans`, into `hashes`;
//  * kAaeDigests: up to `limit` digests of the keys of `spans` (in token order, disjoint) after
//    `key` ("": from the first), into `digests`; `more` when some are left.
// Streaming (cluster/internal/streamer.h):
//  * kStreamScan: the winners of the keys of `spans` after `key`, up to about `limit_bytes` of
//    values (at least one key), into `hints`; `more` when some are left;
//  * kApplyBatch: merge every entry of `batch` (as kApply, in one engine write).
struct StorageAction {
  enum class Kind {
    kApply,
    kRead,
    kPutHint,
    kScanHints,
    kDeleteHint,
    kHintTargets,
    kAaeHashes,
    kAaeDigests,
    kStreamScan,
    kApplyBatch
  };
  uint64_t op_id = 0;
  Kind kind = Kind::kRead;
  std::string key;
  Version version;                // for kApply, kPutHint, kDeleteHint
  NodeId target = 0;              // for the hint kinds
  uint64_t limit_bytes = 0;       // for kScanHints, kStreamScan
  std::vector<TokenSpan> spans;   // for kAaeHashes, kAaeDigests, kStreamScan
  uint32_t limit = 0;             // for kAaeDigests
  std::vector<KeyVersion> batch;  // for kApplyBatch
};
struct StorageResult {
  Status status;
  std::optional<Version> version;  // for kRead
  bool over_budget = false;        // kPutHint: refused, the target's hints are at their budget
  std::vector<KeyVersion> hints;   // kScanHints, kStreamScan
  bool more = false;               // kScanHints: hints are left after the last one returned
  std::vector<NodeId> targets;     // kHintTargets
  std::vector<uint64_t> hashes;    // kAaeHashes
  std::vector<KeyDigest> digests;  // kAaeDigests (`more` as for kScanHints)
};
// Store `value` as the engine meta record `name` (Engine::StoreMeta, synced), replacing what was
// there. The core asks for kMetaTokens once its ring tokens are chosen and kMetaMembers (its member
// view) when the view changes, at most every kMembersPersistIntervalMs, and on Leave (names and
// encodings: cluster/persist.h). The driver restores both into NodeConfig on the next start. Keep
// the order of two such actions for the same name; a failed store is logged, not fatal.
struct PersistMetaAction {
  std::string name;
  std::string value;
};
// Tombstones of keys in each span older than its watermark may be purged by the engine's
// compaction from now on (Engine::SetTombstoneWatermarks); keys in no span keep theirs. The core
// asks every kTombstoneWatermarkIntervalMs, per range it replicates: the oldest start of the last
// completed anti-entropy exchange with each other replica, and never less than kTombstoneGraceMs
// old (docs/design.md, "Tombstone GC").
struct SetTombstoneWatermarkAction {
  std::vector<SpanWatermark> spans;
};
using Action = std::variant<SendAction, ReplyAction, ExplainReplyAction, StorageAction,
                            PersistMetaAction, SetTombstoneWatermarkAction>;
using Actions = std::vector<Action>;

}  // namespace causeway::cluster
