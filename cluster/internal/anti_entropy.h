// AntiEntropy: replicas of a token range compare their copies and repair each other with no
// client reads (docs/design.md, "Anti-entropy exchange"), in the spirit of Riak's Tictac AAE.
//
// A range is the ring arcs that have one replica set including us (SetRanges). One exchange at a
// time compares, with one other replica (the peer), every span we both replicate:
//  1. hashes: both sides hash the range's spans (AaeHashRequest / kAaeHashes, answered from the
//     engine's incremental tree: no full scan). A span whose hashes differ is split into at most
//     kAaeFanout pieces at segment boundaries and compared again; a span inside one segment, or
//     one that a side holds nothing of (hash 0), goes to step 2;
//  2. digests: both sides list the keys of up to kAaeSpansPerRequestMax such spans with their
//     winners' dots, kAaeDigestsPerResponseMax at a time from a cursor, and the lists are merged;
//  3. fixes: for a key the sides disagree on, the LWW winner is written where it is missing:
//     read locally and replicated to the peer (push), or read from the peer and applied locally
//     (pull). At most kAaeRepairsInFlightMax fixes are outstanding, paced to bytes_per_s.
// Exchanges start every interval_ms, round robin over the live peers (so a full round is one
// exchange per peer, however many ranges vnodes cut the ring into); back
// to back while the node catches up (SetUrgent) and for an on-demand repair (StartRepair).
// Any failed or unanswered step abandons the exchange; a later one starts over.
//
// Tombstone GC: a range's watermark is the oldest start stamp among the last completed
// exchanges with each of its other replicas (0 until each completed once). A tombstone below it
// reached every replica (each exchange started after it was here pushed it over), so purging it
// cannot let a replica that missed the delete bring the key back.
//
// The peer side of the protocol (OnHashRequest, OnDigestRequest) is here too. Every id it uses
// (storage operations, peer requests) has kAaeIdBit set, so NodeCore routes completions and
// answers here. Sans-IO and deterministic. Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/messages.h"
#include "cluster/node.h"

namespace causeway::cluster::internal {

inline constexpr uint64_t kAaeIdBit = uint64_t{1} << 61;

class AntiEntropy {
 public:
  struct Range {
    std::vector<TokenSpan> spans;  // in token order
    std::vector<NodeId> peers;     // the range's other replicas
  };
  struct Hooks {
    std::function<std::string(NodeId)> address_of;
    // A version pulled from a peer, before it is applied here: the node's clock absorbs it (an
    // error refuses it: a timestamp beyond the max offset).
    std::function<Status(const Version&)> accept_pulled;
  };
  struct Counters {
    uint64_t exchanges = 0, failures = 0, keys_differed = 0, keys_pushed = 0, keys_pulled = 0;
    uint64_t bytes = 0;           // versions sent or fetched by fixes
    uint64_t protocol_bytes = 0;  // spans, hashes and digests exchanged (an estimate)
  };

  AntiEntropy(uint64_t interval_ms, uint64_t bytes_per_s, Hooks hooks);

  // Our ranges, after every ring change. Completed-exchange records of the old ranges are
  // dropped (their watermarks restart at 0); an exchange in flight finishes unrecorded.
  void SetRanges(std::vector<Range> ranges);
  // Back to back exchanges, no interval, while true (catching up).
  void SetUrgent(bool urgent) { urgent_ = urgent; }
  // `peer` is back after being seen down (a crash, a partition): exchange with it next, ahead of
  // the schedule. With one exchange per peer per interval, a node with many peers would otherwise
  // reach the returning one only after peers x interval, while its hints may have overflowed.
  void Prioritize(NodeId peer) { priority_.push_back(peer); }
  // `now_hlc`: the clock's Last(); `wall_ms`: its physical clock (for kAaeRecentMs).
  void Tick(TimeMs now, Hlc now_hlc, uint64_t wall_ms, const std::function<bool(NodeId)>& alive,
            Actions* out);

  // ---- the peer side: answer another replica's exchange from our engine
  void OnHashRequest(NodeId from, const AaeHashRequest& r, Actions* out);
  void OnDigestRequest(NodeId from, const AaeDigestRequest& r, Actions* out);

  // ---- completions and answers with kAaeIdBit in their id
  void OnStorageDone(uint64_t op_id, StorageResult result, TimeMs now, Actions* out);
  void OnHashResponse(NodeId from, AaeHashResponse r, TimeMs now, Actions* out);
  void OnDigestResponse(NodeId from, AaeDigestResponse r, TimeMs now, Actions* out);
  void OnReplicateResponse(NodeId from, const ReplicateResponse& r, TimeMs now, Actions* out);
  void OnReadResponse(NodeId from, ReadResponse r, TimeMs now, Actions* out);
  void OnSendFailed(NodeId to, RequestId id, TimeMs now, Actions* out);

  // ---- on-demand repair (NodeCore::StartRepair)
  uint64_t StartRepair(const std::vector<TokenSpan>& spans, TimeMs now);
  NodeCore::RepairStatus repair_status(uint64_t id, TimeMs now) const;

  // ---- tombstone GC and catching up
  // Each range's watermark (see above); a range without peers has `now_hlc`.
  std::vector<SpanWatermark> Watermarks(Hlc now_hlc) const;
  // The watermark of the range holding `token` (0: not ours, or not yet exchanged everywhere).
  Hlc WatermarkAt(Token token, Hlc now_hlc) const;
  // Whether every range with a live peer completed an exchange that started at or after `since`.
  bool ExchangedAllSince(TimeMs since, const std::function<bool(NodeId)>& alive) const;

  const Counters& counters() const { return counters_; }

 private:
  struct Pair {
    NodeId peer = 0;
    uint64_t repair = 0;           // 0: scheduled
    std::vector<TokenSpan> spans;  // in token order: all we share with the peer, or a repair's cut
    bool full = true;              // spans are all we share (only then it counts for watermarks)
  };
  struct Fix {
    std::string key;
    bool push = false;  // our winner to the peer
    bool pull = false;  // the peer's winner to us
  };
  struct Exchange {
    uint64_t serial = 0;
    Pair pair;
    uint64_t ranges_epoch = 0;
    Hlc started_hlc = 0;  // min(the clock's Last(), recent_from) at the start: the watermark
    Hlc recent_from = 0;  // keys with a version this new or newer are left alone (kAaeRecentMs)
    TimeMs started_ms = 0;
    std::deque<TokenSpan> to_hash;
    std::deque<TokenSpan> to_list;   // spans whose keys are to be listed
    std::vector<TokenSpan> listing;  // the spans being listed (in token order), page by page...
    std::string cursor;              // ...after this key ("": from the first)
    enum class Step { kNone, kHashes, kDigests } step = Step::kNone;
    std::vector<TokenSpan> batch;  // kHashes: the spans being hashed
    std::optional<std::vector<uint64_t>> mine, theirs;
    std::optional<std::vector<KeyDigest>> my_keys, their_keys;
    bool my_more = false, their_more = false;
    TimeMs step_deadline = 0;
    std::deque<Fix> fixes;  // waiting for the pace and the in-flight bound
    size_t fixes_in_flight = 0;
    TimeMs fix_progress_ms = 0;  // when a fix last started or finished
    bool fix_failed = false;
    uint64_t keys_compared = 0, keys_differed = 0, keys_written = 0, bytes = 0;
  };
  enum class OpKind { kServeHashes, kServeDigests, kMyHashes, kMyDigests, kFixRead, kFixApply };
  struct Op {
    OpKind kind = OpKind::kMyHashes;
    uint64_t serial = 0;    // the exchange it belongs to (ours)
    NodeId from = 0;        // kServe*: the peer asking
    RequestId peer_id = 0;  // kServe*: its request id
    std::string key;        // kFix*
    uint64_t version_bytes = 0;
  };
  enum class SentKind { kHashes, kDigests, kPush, kPull };
  struct Sent {
    SentKind kind = SentKind::kHashes;
    uint64_t serial = 0;
    std::string key;
  };
  struct Completed {
    Hlc started_hlc = 0;
    TimeMs started_ms = 0;
  };
  struct Repair {
    uint64_t total = 0, done = 0, failed = 0;
    double weight_total = 0, weight_done = 0;
    std::string first_error;
    uint64_t keys_compared = 0, keys_differed = 0, keys_written = 0, bytes = 0;
    TimeMs started_ms = 0, finished_ms = 0;
  };

  uint64_t NextId() { return kAaeIdBit | next_id_++; }
  void Send(NodeId to, PeerMessage m, Actions* out) const;
  std::optional<Pair> NextPair(TimeMs now, const std::function<bool(NodeId)>& alive);
  void Begin(Pair pair, TimeMs now, Hlc now_hlc, uint64_t wall_ms, Actions* out);
  RequestId StartStep(Exchange::Step step, StorageAction local, TimeMs now, Actions* out);
  void Advance(TimeMs now, Actions* out);
  void AfterHashes();
  void AfterDigests();
  void StartFixes(TimeMs now, Actions* out);
  void FixDone(uint64_t serial, bool ok, bool wrote, TimeMs now);
  void NoteFixBytes(uint64_t bytes);
  void Finish(TimeMs now);
  void Abandon(const std::string& why, TimeMs now);
  void RecordForRepair(const Exchange& ex, bool ok, const std::string& why, TimeMs now);
  static double Weight(const std::vector<TokenSpan>& spans);
  Hlc RangeMark(const Range& range, Hlc now_hlc) const;

  const uint64_t interval_ms_;
  const uint64_t bytes_per_s_;
  Hooks hooks_;
  std::vector<Range> ranges_;
  uint64_t ranges_epoch_ = 1;
  std::map<NodeId, std::vector<TokenSpan>> peer_spans_;  // what we share with each peer
  std::map<NodeId, Completed> completed_;  // last full exchange per peer, for ranges_epoch_
  size_t cursor_ = 0;                      // round robin over peer_spans_
  std::deque<Pair> repair_queue_;
  std::map<uint64_t, Repair> repairs_;
  uint64_t next_repair_ = 1;
  bool urgent_ = false;
  std::deque<NodeId> priority_;  // peers back from being down, exchanged with next
  TimeMs next_start_ms_ = 0;
  int64_t budget_bytes_ = 0;
  // Bytes of the versions fixes moved lately (a moving average): fixes in flight are bounded so
  // that about kAaeFixBytesInFlightMax of them are outstanding, so 1 MiB values go a few at a
  // time (a burst of 64 would outlast the peer call timeout and fail every retry alike).
  uint64_t fix_bytes_avg_ = 1024;
  TimeMs last_refill_ms_ = 0;
  bool ticked_ = false;
  std::optional<Exchange> ex_;
  uint64_t next_serial_ = 1;
  size_t serving_ = 0;  // peers' hash and digest queries on our engine
  std::map<uint64_t, Op> ops_;
  std::map<RequestId, Sent> sent_;
  uint64_t next_id_ = 1;
  Counters counters_;
};

}  // namespace causeway::cluster::internal
