// AntiEntropy: the peer side of the exchange (answering another replica from our engine), the
// on-demand repairs, and the per-range records behind the tombstone watermark and catching up.
#include <algorithm>

#include "base/limits.h"
#include "base/strings.h"
#include "cluster/internal/anti_entropy.h"

namespace causeway::cluster::internal {

// ---- the peer side ----------------------------------------------------------------------------

void AntiEntropy::OnHashRequest(NodeId from, const AaeHashRequest& r, Actions* out) {
  Status s;
  if (r.spans.size() > kAaeSpansPerRequestMax) {
    s = Status::InvalidArgument(StrCat("anti-entropy request with ", r.spans.size(), " spans"));
  } else if (serving_ >= kAaeServeInFlightMax) {
    s = Status::Overloaded("too many anti-entropy queries in flight; retry later");
  }
  if (!s.ok()) return Send(from, AaeHashResponse{r.id, std::move(s), {}}, out);
  serving_++;
  const uint64_t op = NextId();
  ops_[op] = Op{OpKind::kServeHashes, 0, from, r.id, ""};
  StorageAction a;
  a.op_id = op;
  a.kind = StorageAction::Kind::kAaeHashes;
  a.spans = r.spans;
  out->push_back(std::move(a));
}

void AntiEntropy::OnDigestRequest(NodeId from, const AaeDigestRequest& r, Actions* out) {
  Status s;
  bool ordered = r.spans.size() <= kAaeSpansPerRequestMax;
  for (size_t i = 0; ordered && i < r.spans.size(); ++i) {
    ordered =
        r.spans[i].first <= r.spans[i].last && (i == 0 || r.spans[i - 1].last < r.spans[i].first);
  }
  if (r.limit == 0 || r.limit > kAaeDigestsPerResponseMax || !ordered) {
    s = Status::InvalidArgument(
        "anti-entropy digest request out of bounds (limit, span count, or spans not in order)");
  } else if (serving_ >= kAaeServeInFlightMax) {
    s = Status::Overloaded("too many anti-entropy queries in flight; retry later");
  }
  if (!s.ok()) return Send(from, AaeDigestResponse{r.id, std::move(s), {}, false}, out);
  serving_++;
  const uint64_t op = NextId();
  ops_[op] = Op{OpKind::kServeDigests, 0, from, r.id, ""};
  StorageAction a;
  a.op_id = op;
  a.kind = StorageAction::Kind::kAaeDigests;
  a.spans = r.spans;
  a.key = r.after_key;
  a.limit = r.limit;
  out->push_back(std::move(a));
}

// ---- repair, watermarks, catching up ---------------------------------------------------------

uint64_t AntiEntropy::StartRepair(const std::vector<TokenSpan>& spans, TimeMs now) {
  const uint64_t id = next_repair_++;
  Repair& r = repairs_[id];
  r.started_ms = now;
  for (const auto& [peer, shared] : peer_spans_) {
    Pair pair{peer, id, {}, spans.empty()};
    if (spans.empty()) {
      pair.spans = shared;
    } else {
      for (const TokenSpan& have : shared) {  // the intersection, in token order
        for (const TokenSpan& want : spans) {
          if (want.first > have.last || have.first > want.last) continue;
          pair.spans.push_back({std::max(want.first, have.first), std::min(want.last, have.last)});
        }
      }
      std::sort(pair.spans.begin(), pair.spans.end(),
                [](const TokenSpan& a, const TokenSpan& b) { return a.first < b.first; });
      pair.full = pair.spans == shared;
    }
    if (pair.spans.empty()) continue;
    r.total++;
    r.weight_total += Weight(pair.spans);
    repair_queue_.push_back(std::move(pair));
  }
  if (r.total == 0) r.finished_ms = now;
  // Only the latest kAaeRepairsKept repairs are remembered.
  while (repairs_.size() > kAaeRepairsKept) repairs_.erase(repairs_.begin());
  return id;
}

NodeCore::RepairStatus AntiEntropy::repair_status(uint64_t id, TimeMs now) const {
  NodeCore::RepairStatus st;
  auto it = repairs_.find(id);
  if (it == repairs_.end()) return st;
  const Repair& r = it->second;
  st.known = true;
  st.done = r.done + r.failed == r.total;
  st.exchanges_total = r.total;
  st.exchanges_done = r.done;
  st.exchanges_failed = r.failed;
  st.fraction = r.weight_total == 0 ? (st.done ? 1.0 : 0.0) : r.weight_done / r.weight_total;
  if (st.done) st.fraction = 1.0;
  st.keys_compared = r.keys_compared;
  st.keys_differed = r.keys_differed;
  st.keys_written = r.keys_written;
  st.bytes = r.bytes;
  if (ex_ && ex_->pair.repair == id) {  // the exchange in flight counts as it goes
    st.keys_compared += ex_->keys_compared;
    st.keys_differed += ex_->keys_differed;
    st.keys_written += ex_->keys_written;
    st.bytes += ex_->bytes;
  }
  st.elapsed_ms = (st.done ? r.finished_ms : now) - r.started_ms;
  if (st.done && r.failed > 0) {
    st.status = Status::Unavailable(
        StrCat(r.failed, " of ", r.total, " exchanges did not complete; first: ", r.first_error));
  }
  return st;
}

Hlc AntiEntropy::RangeMark(const Range& range, Hlc now_hlc) const {
  Hlc mark = now_hlc;
  for (NodeId peer : range.peers) {
    auto it = completed_.find(peer);
    mark = std::min(mark, it == completed_.end() ? Hlc{0} : it->second.started_hlc);
  }
  return mark;
}

std::vector<SpanWatermark> AntiEntropy::Watermarks(Hlc now_hlc) const {
  std::vector<SpanWatermark> out;
  for (const Range& range : ranges_) {
    const Hlc mark = RangeMark(range, now_hlc);
    for (const TokenSpan& s : range.spans) out.push_back({s, mark});
  }
  std::sort(out.begin(), out.end(), [](const SpanWatermark& a, const SpanWatermark& b) {
    return a.span.first < b.span.first;
  });
  return out;
}

Hlc AntiEntropy::WatermarkAt(Token token, Hlc now_hlc) const {
  for (const Range& range : ranges_) {
    for (const TokenSpan& s : range.spans) {
      if (s.Contains(token)) return RangeMark(range, now_hlc);
    }
  }
  return 0;
}

bool AntiEntropy::ExchangedAllSince(TimeMs since, const std::function<bool(NodeId)>& alive) const {
  for (const Range& range : ranges_) {
    bool any_alive = false, exchanged = false;
    for (NodeId peer : range.peers) {
      any_alive = any_alive || alive(peer);
      auto it = completed_.find(peer);
      exchanged = exchanged || (it != completed_.end() && it->second.started_ms >= since);
    }
    if (any_alive && !exchanged) return false;
  }
  return true;
}

}  // namespace causeway::cluster::internal
