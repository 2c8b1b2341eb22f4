#include "cluster/internal/hint_replayer.h"

#include <algorithm>
#include <utility>

#include "base/limits.h"

namespace causeway::cluster::internal {

HintReplayer::HintReplayer(uint64_t bytes_per_s, std::function<std::string(NodeId)> address_of)
    : bytes_per_round_(std::max<uint64_t>(1, bytes_per_s * kHintReplayIntervalMs / 1000)),
      address_of_(std::move(address_of)) {}

StorageAction HintReplayer::NewOp(StorageAction::Kind kind, NodeId target) {
  StorageAction a;
  a.op_id = NextId();
  a.kind = kind;
  a.target = target;
  ops_[a.op_id] = Op{kind, target};
  return a;
}

void HintReplayer::Start(Actions* out) {
  if (started_) return;
  started_ = true;
  out->push_back(NewOp(StorageAction::Kind::kHintTargets, 0));
}

void HintReplayer::NoteTarget(NodeId target) { targets_[target].noted++; }

void HintReplayer::Tick(TimeMs now, const std::function<bool(NodeId)>& alive, Actions* out) {
  Start(out);
  if (now < next_round_ms_) return;
  next_round_ms_ = now + kHintReplayIntervalMs;
  for (auto& [id, t] : targets_) {
    if (t.scanning || t.in_flight > 0) continue;
    if (!alive(id)) {
      t.cursor.clear();  // a new pass once it is back
      continue;
    }
    t.scanning = true;
    t.noted_at_scan = t.noted;
    StorageAction a = NewOp(StorageAction::Kind::kScanHints, id);
    a.key = t.cursor;
    a.limit_bytes = bytes_per_round_;
    out->push_back(std::move(a));
  }
}

void HintReplayer::Delete(NodeId target, const KeyVersion& hint, Actions* out) {
  StorageAction a = NewOp(StorageAction::Kind::kDeleteHint, target);
  a.key = hint.key;
  a.version = hint.version;
  out->push_back(std::move(a));
}

void HintReplayer::OnStorageDone(uint64_t op_id, StorageResult result, Actions* out) {
  auto it = ops_.find(op_id);
  if (it == ops_.end()) return;
  const Op op = it->second;
  ops_.erase(it);
  if (op.kind == StorageAction::Kind::kHintTargets) {
    for (NodeId t : result.targets) NoteTarget(t);
    return;
  }
  if (op.kind != StorageAction::Kind::kScanHints) return;  // a delete: nothing to do either way
  auto t = targets_.find(op.target);
  if (t == targets_.end()) return;
  t->second.scanning = false;
  if (!result.status.ok()) return;  // the next round tries again
  if (result.hints.empty() && !result.more) {
    // A pass found nothing left; a hint stored since the scan began keeps the target.
    if (t->second.cursor.empty() && t->second.noted == t->second.noted_at_scan) {
      targets_.erase(t);
    } else {
      t->second.cursor.clear();
    }
    return;
  }
  const std::string address = address_of_(op.target);
  for (KeyVersion& hint : result.hints) {
    t->second.cursor = hint.key;
    if (t->second.in_flight >= kHintReplayInFlightMax) break;  // the rest next round
    const RequestId id = NextId();
    out->push_back(
        SendAction{op.target, address,
                   ReplicateRequest{id, hint.key, hint.version, 0, /*replayed_hint=*/true}});
    sent_[id] = Replay{op.target, std::move(hint)};
    t->second.in_flight++;
  }
  if (!result.more)
    t->second.cursor.clear();  // the next pass starts over: what is left was not acked
}

void HintReplayer::OnReplicateResponse(NodeId from, const ReplicateResponse& r, Actions* out) {
  auto it = sent_.find(r.id);
  if (it == sent_.end() || it->second.target != from) return;
  Replay replay = std::move(it->second);
  sent_.erase(it);
  if (auto t = targets_.find(replay.target); t != targets_.end() && t->second.in_flight > 0) {
    t->second.in_flight--;
  }
  if (!r.status.ok()) {
    ++counters_.replay_failures;
    return;
  }
  ++counters_.replayed;
  Delete(replay.target, replay.hint, out);
}

void HintReplayer::OnSendFailed(NodeId to, RequestId id) {
  auto it = sent_.find(id);
  if (it == sent_.end() || it->second.target != to) return;
  if (auto t = targets_.find(to); t != targets_.end() && t->second.in_flight > 0) {
    t->second.in_flight--;
  }
  sent_.erase(it);
  ++counters_.replay_failures;
}

}  // namespace causeway::cluster::internal
