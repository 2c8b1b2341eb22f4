// HintReplayer: hands the hints this node holds to their targets once they are back
// (docs/design.md, "Hinted handoff").
//
// A hint is a write this node took as a stand-in for a replica that was down (ReplicateRequest
// with hint_for; stored by StorageAction kPutHint in the `hints` column family, keyed by (target,
// key), so a newer version replaces an older one). Every kHintReplayIntervalMs, for each target
// that has hints and is alive, the replayer reads the next slice of them (kScanHints, bounded by
// bytes_per_s x interval: the throttle), sends each as a plain ReplicateRequest, and deletes a hint
// (kDeleteHint, only if it still holds that version) once the target acknowledged it. A replay is
// marked (ReplicateRequest::replayed_hint): the target drops one older than its tombstone
// watermark for the key, acknowledging it, since a delete newer than the hint may already be
// purged there. A failed or timed-out replay leaves the hint for a later round. Hints survive
// restarts (they are on disk); at start the replayer asks which targets have some (kHintTargets).
//
// Its storage operations and peer requests carry ids with kHintIdBit set, so NodeCore routes their
// completions and answers here. Sans-IO and deterministic. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "cluster/messages.h"

namespace causeway::cluster::internal {

inline constexpr uint64_t kHintIdBit = uint64_t{1} << 62;

class HintReplayer {
 public:
  struct Counters {
    uint64_t replayed = 0;         // hints the target acknowledged (then deleted)
    uint64_t replay_failures = 0;  // replays refused or unanswered (kept for a later round)
  };
  // `address_of` names where a target is reached.
  HintReplayer(uint64_t bytes_per_s, std::function<std::string(NodeId)> address_of);

  // Asks which targets have hints on disk (once, at the first tick).
  void Start(Actions* out);
  // A hint for `target` was stored: it has hints to replay.
  void NoteTarget(NodeId target);
  // Starts a round for every live target that has hints and nothing in flight.
  void Tick(TimeMs now, const std::function<bool(NodeId)>& alive, Actions* out);
  // A completion or answer with kHintIdBit in its id.
  void OnStorageDone(uint64_t op_id, StorageResult result, Actions* out);
  void OnReplicateResponse(NodeId from, const ReplicateResponse& r, Actions* out);
  void OnSendFailed(NodeId to, RequestId id);

  bool HasHintsFor(NodeId target) const { return targets_.count(target) != 0; }
  size_t TargetsWithHints() const { return targets_.size(); }
  const Counters& counters() const { return counters_; }

 private:
  struct Target {
    std::string cursor;  // the last key sent this pass ("" : from the start)
    bool scanning = false;
    uint64_t noted = 0;  // NoteTarget calls, to tell a scan that missed a new hint
    uint64_t noted_at_scan = 0;
    size_t in_flight = 0;
  };
  struct Replay {
    NodeId target = 0;
    KeyVersion hint;
  };
  struct Op {
    StorageAction::Kind kind = StorageAction::Kind::kScanHints;
    NodeId target = 0;
  };
  uint64_t NextId() { return kHintIdBit | next_id_++; }
  // A storage operation of `kind` for `target`, with a fresh id, registered in ops_.
  StorageAction NewOp(StorageAction::Kind kind, NodeId target);
  void Delete(NodeId target, const KeyVersion& hint, Actions* out);

  const uint64_t bytes_per_round_;
  std::function<std::string(NodeId)> address_of_;
  bool started_ = false;
  TimeMs next_round_ms_ = 0;
  std::map<NodeId, Target> targets_;
  std::map<uint64_t, Op> ops_;        // storage operations in flight
  std::map<RequestId, Replay> sent_;  // replays awaiting the target's answer
  uint64_t next_id_ = 1;
  Counters counters_;
};

}  // namespace causeway::cluster::internal
