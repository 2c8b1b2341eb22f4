#include "cluster/internal/anti_entropy.h"

#include <algorithm>

#include "base/assert.h"
#include "base/limits.h"
#include "base/strings.h"

namespace causeway::cluster::internal {
namespace {

constexpr uint32_t SegmentOf(Token t) { return static_cast<uint32_t>(t >> (64 - kAaeSegmentBits)); }
constexpr Token SegmentFirst(uint64_t segment) { return Token{segment} << (64 - kAaeSegmentBits); }

// Pieces of `span` cut at segment boundaries, at most kAaeFanout; a span inside one segment is
// not split (it goes to digests).
std::vector<TokenSpan> Split(TokenSpan span) {
  const uint64_t s0 = SegmentOf(span.first);
  const uint64_t n = uint64_t{SegmentOf(span.last)} - s0 + 1;
  const uint64_t pieces = std::min<uint64_t>(n, kAaeFanout);
  std::vector<TokenSpan> out;
  out.reserve(pieces);
  Token first = span.first;
  for (uint64_t j = 1; j <= pieces; ++j) {
    const Token last = j == pieces ? span.last : SegmentFirst(s0 + j * n / pieces) - 1;
    out.push_back({first, last});
    first = last + 1;
  }
  return out;
}

// (token, key): the order the engine lists digests in.
std::pair<Token, std::string_view> Order(const KeyDigest& d) { return {TokenOf(d.key), d.key}; }

bool SameWinner(const KeyDigest& a, const KeyDigest& b) {
  return a.timestamp == b.timestamp && a.writer == b.writer && a.tombstone == b.tombstone;
}

uint64_t DigestBytes(const std::vector<KeyDigest>& digests) {
  uint64_t bytes = 0;
  for (const KeyDigest& d : digests) bytes += d.key.size() + 17;
  return bytes;
}

uint64_t VersionBytes(const Version& v) { return v.value.size() + 32 + 16 * v.vv.size(); }

}  // namespace

AntiEntropy::AntiEntropy(uint64_t interval_ms, uint64_t bytes_per_s, Hooks hooks)
    : interval_ms_(interval_ms),
      bytes_per_s_(std::max<uint64_t>(bytes_per_s, 1)),
      hooks_(std::move(hooks)) {}

void AntiEntropy::SetRanges(std::vector<Range> ranges) {
  ranges_ = std::move(ranges);
  ranges_epoch_++;
  completed_.clear();
  peer_spans_.clear();
  for (const Range& r : ranges_) {
    for (NodeId peer : r.peers) {
      auto& spans = peer_spans_[peer];
      spans.insert(spans.end(), r.spans.begin(), r.spans.end());
    }
  }
  for (auto& [peer, spans] : peer_spans_) {
    std::sort(spans.begin(), spans.end(),
              [](const TokenSpan& a, const TokenSpan& b) { return a.first < b.first; });
  }
  cursor_ = 0;
  // Queued repair pairs name ranges of the old ring: they fail, and the operator repairs again.
  for (const Pair& p : repair_queue_) {
    auto it = repairs_.find(p.repair);
    if (it == repairs_.end()) continue;
    it->second.failed++;
    if (it->second.first_error.empty()) it->second.first_error = "the ring changed; repair again";
  }
  repair_queue_.clear();
}

void AntiEntropy::Send(NodeId to, PeerMessage m, Actions* out) const {
  out->push_back(SendAction{to, hooks_.address_of(to), std::move(m)});
}

double AntiEntropy::Weight(const std::vector<TokenSpan>& spans) {
  double w = 0;
  for (const TokenSpan& s : spans) w += static_cast<double>(s.last - s.first) + 1;
  return w;
}

// ---- scheduling -------------------------------------------------------------------------------

void AntiEntropy::Tick(TimeMs now, Hlc now_hlc, uint64_t wall_ms,
                       const std::function<bool(NodeId)>& alive, Actions* out) {
  if (!ticked_) ticked_ = true, last_refill_ms_ = now, budget_bytes_ = 0;
  const uint64_t refill = (now - last_refill_ms_) * bytes_per_s_ / 1000;
  if (refill > 0) {
    budget_bytes_ = std::min<int64_t>(budget_bytes_ + static_cast<int64_t>(refill),
                                      static_cast<int64_t>(bytes_per_s_));
    last_refill_ms_ = now;
  }
  if (ex_) {
    const bool step_late = ex_->step != Exchange::Step::kNone && now >= ex_->step_deadline;
    const bool fix_late =
        ex_->fixes_in_flight > 0 && now >= ex_->fix_progress_ms + kAaeStepTimeoutMs;
    if (step_late || fix_late) {
      Abandon(StrCat("node ", ex_->pair.peer, " did not answer within ", kAaeStepTimeoutMs, " ms"),
              now);
    } else {
      StartFixes(now, out);
      Advance(now, out);
      return;
    }
  }
  std::optional<Pair> next = NextPair(now, alive);
  if (next) Begin(std::move(*next), now, now_hlc, wall_ms, out);
}

std::optional<AntiEntropy::Pair> AntiEntropy::NextPair(TimeMs now,
                                                       const std::function<bool(NodeId)>& alive) {
  while (!repair_queue_.empty()) {
    Pair p = repair_queue_.front();
    repair_queue_.pop_front();
    if (alive(p.peer)) return p;
    Repair& r = repairs_[p.repair];
    r.failed++;
    if (r.first_error.empty()) r.first_error = StrCat("replica ", p.peer, " is down");
    if (r.done + r.failed == r.total) r.finished_ms = now;
  }
  while (!priority_.empty()) {
    const NodeId peer = priority_.front();
    priority_.pop_front();
    auto it = peer_spans_.find(peer);
    if (it != peer_spans_.end() && alive(peer)) return Pair{it->first, 0, it->second, true};
  }
  if (!urgent_ && now < next_start_ms_) return std::nullopt;
  const size_t peers = peer_spans_.size();
  for (size_t tried = 0; tried < peers; ++tried) {
    auto it = std::next(peer_spans_.begin(), static_cast<std::ptrdiff_t>(cursor_++ % peers));
    if (alive(it->first)) return Pair{it->first, 0, it->second, true};
  }
  next_start_ms_ = now + interval_ms_;  // nobody to exchange with: look again later
  return std::nullopt;
}

void AntiEntropy::Begin(Pair pair, TimeMs now, Hlc now_hlc, uint64_t wall_ms, Actions* out) {
  Exchange ex;
  ex.serial = next_serial_++;
  ex.to_hash.assign(pair.spans.begin(), pair.spans.end());
  ex.pair = std::move(pair);
  ex.ranges_epoch = ranges_epoch_;
  ex.recent_from = wall_ms > kAaeRecentMs ? HlcMake(wall_ms - kAaeRecentMs, 0) : 0;
  // Below the watermark every key was compared: the ones left alone as recent are above it.
  ex.started_hlc = std::min(now_hlc, ex.recent_from);
  ex.started_ms = now;
  ex_ = std::move(ex);
  Advance(now, out);
}

// Puts step `step` in flight: our half (`local`, of kind kAaeHashes or kAaeDigests) goes to the
// engine now; returns the id for the peer's half, which the caller sends.
RequestId AntiEntropy::StartStep(Exchange::Step step, StorageAction local, TimeMs now,
                                 Actions* out) {
  Exchange& ex = *ex_;
  const bool hashes = step == Exchange::Step::kHashes;
  ex.step = step;
  ex.step_deadline = now + kAaeStepTimeoutMs;
  local.op_id = NextId();
  ops_[local.op_id] = Op{hashes ? OpKind::kMyHashes : OpKind::kMyDigests, ex.serial, 0, 0, ""};
  out->push_back(std::move(local));
  const RequestId id = NextId();
  sent_[id] = Sent{hashes ? SentKind::kHashes : SentKind::kDigests, ex.serial, ""};
  return id;
}

// Starts the next hash or digest step when none is in flight; finishes when nothing is left.
void AntiEntropy::Advance(TimeMs now, Actions* out) {
  if (!ex_ || ex_->step != Exchange::Step::kNone) return;
  Exchange& ex = *ex_;
  const NodeId peer = ex.pair.peer;
  if (!ex.to_hash.empty()) {
    ex.batch.clear();
    while (!ex.to_hash.empty() && ex.batch.size() < kAaeSpansPerRequestMax) {
      ex.batch.push_back(ex.to_hash.front());
      ex.to_hash.pop_front();
    }
    ex.mine.reset();
    ex.theirs.reset();
    StorageAction a;
    a.kind = StorageAction::Kind::kAaeHashes;
    a.spans = ex.batch;
    counters_.protocol_bytes += 16 * ex.batch.size();
    const RequestId id = StartStep(Exchange::Step::kHashes, std::move(a), now, out);
    Send(peer, AaeHashRequest{id, ex.batch}, out);
    return;
  }
  // Back-pressure: list more keys only once the fixes found so far are mostly under way.
  if ((!ex.listing.empty() || !ex.to_list.empty()) && ex.fixes.size() < kAaeDigestsPerResponseMax) {
    if (ex.listing.empty()) {
      while (!ex.to_list.empty() && ex.listing.size() < kAaeSpansPerRequestMax) {
        ex.listing.push_back(ex.to_list.front());
        ex.to_list.pop_front();
      }
      // Disjoint pieces of one partition, found level by level: put them in token order.
      std::sort(ex.listing.begin(), ex.listing.end(),
                [](const TokenSpan& a, const TokenSpan& b) { return a.first < b.first; });
      ex.cursor.clear();
    }
    ex.my_keys.reset();
    ex.their_keys.reset();
    StorageAction a;
    a.kind = StorageAction::Kind::kAaeDigests;
    a.spans = ex.listing;
    a.key = ex.cursor;
    constexpr auto kLimit = static_cast<uint32_t>(kAaeDigestsPerResponseMax);
    a.limit = kLimit;
    counters_.protocol_bytes += 16 * ex.listing.size() + ex.cursor.size();
    const RequestId id = StartStep(Exchange::Step::kDigests, std::move(a), now, out);
    Send(peer, AaeDigestRequest{id, ex.listing, ex.cursor, kLimit}, out);
    return;
  }
  if (ex.to_list.empty() && ex.listing.empty() && ex.fixes.empty() && ex.fixes_in_flight == 0) {
    Finish(now);
  }
}

void AntiEntropy::AfterHashes() {
  Exchange& ex = *ex_;
  const std::vector<uint64_t>& mine = *ex.mine;
  const std::vector<uint64_t>& theirs = *ex.theirs;
  counters_.protocol_bytes += 8 * theirs.size();
  for (size_t i = 0; i < ex.batch.size(); ++i) {
    if (mine[i] == theirs[i]) continue;
    const TokenSpan span = ex.batch[i];
    // One side holds nothing here (an empty span hashes to 0), or the span is one segment:
    // every key must be listed anyway.
    if (mine[i] == 0 || theirs[i] == 0 || SegmentOf(span.first) == SegmentOf(span.last)) {
      ex.to_list.push_back(span);
    } else {
      for (const TokenSpan& piece : Split(span)) ex.to_hash.push_back(piece);
    }
  }
  ex.step = Exchange::Step::kNone;
}

// Merges the two digest lists up to the last key both have listed, queues fixes for the keys
// that differ, and moves the span's cursor (or drops the span when both lists are complete).
void AntiEntropy::AfterDigests() {
  Exchange& ex = *ex_;
  const std::vector<KeyDigest>& mine = *ex.my_keys;
  const std::vector<KeyDigest>& theirs = *ex.their_keys;
  counters_.protocol_bytes += DigestBytes(theirs);
  // A side with more keys than it listed bounds what can be compared now: past its last key, a
  // key missing from its list may simply not have been listed yet.
  std::optional<std::pair<Token, std::string_view>> bound;
  auto lower = [&](const std::vector<KeyDigest>& list, bool more) {
    if (!more || list.empty()) return;
    auto last = Order(list.back());
    if (!bound || last < *bound) bound = last;
  };
  lower(mine, ex.my_more);
  lower(theirs, ex.their_more);
  std::string cursor = bound ? std::string(bound->second) : "";
  size_t i = 0, j = 0;
  auto within = [&](const KeyDigest& d) { return !bound || Order(d) <= *bound; };
  while ((i < mine.size() && within(mine[i])) || (j < theirs.size() && within(theirs[j]))) {
    const bool have_mine = i < mine.size() && within(mine[i]);
    const bool have_theirs = j < theirs.size() && within(theirs[j]);
    ex.keys_compared++;
    if (have_mine && have_theirs && Order(mine[i]) == Order(theirs[j])) {
      const KeyDigest& a = mine[i++];
      const KeyDigest& b = theirs[j++];
      if (SameWinner(a, b)) continue;
      if (std::max(a.timestamp, b.timestamp) >= ex.recent_from) continue;  // likely in flight
      const bool a_wins =
          std::make_pair(a.timestamp, a.writer) > std::make_pair(b.timestamp, b.writer);
      const bool b_wins =
          std::make_pair(b.timestamp, b.writer) > std::make_pair(a.timestamp, a.writer);
      // Equal dots that differ (only a corrupt or forged record can): both ways, merge decides.
      ex.fixes.push_back({a.key, !b_wins, !a_wins});
    } else if (have_mine && (!have_theirs || Order(mine[i]) < Order(theirs[j]))) {
      const KeyDigest& a = mine[i++];
      if (a.timestamp >= ex.recent_from) continue;  // likely in flight
      ex.fixes.push_back({a.key, true, false});
    } else {
      const KeyDigest& b = theirs[j++];
      if (b.timestamp >= ex.recent_from) continue;
      ex.fixes.push_back({b.key, false, true});
    }
    ex.keys_differed++;
    counters_.keys_differed++;
  }
  if (bound) {
    ex.cursor = std::move(cursor);
  } else {
    ex.listing.clear();
    ex.cursor.clear();
  }
  ex.step = Exchange::Step::kNone;
}

void AntiEntropy::StartFixes(TimeMs now, Actions* out) {
  if (!ex_) return;
  Exchange& ex = *ex_;
  const size_t by_bytes =
      static_cast<size_t>(std::max<uint64_t>(kAaeFixBytesInFlightMax / fix_bytes_avg_, 1));
  const size_t max_in_flight = std::min(kAaeRepairsInFlightMax, by_bytes);
  while (!ex.fixes.empty() && ex.fixes_in_flight < max_in_flight && budget_bytes_ > 0) {
    Fix fix = std::move(ex.fixes.front());
    ex.fixes.pop_front();
    ex.fix_progress_ms = now;
    if (fix.push) {
      ex.fixes_in_flight++;
      const uint64_t op = NextId();
      ops_[op] = Op{OpKind::kFixRead, ex.serial, 0, 0, fix.key};
      StorageAction a;
      a.op_id = op;
      a.kind = StorageAction::Kind::kRead;
      a.key = fix.key;
      out->push_back(std::move(a));
    }
    if (fix.pull) {
      ex.fixes_in_flight++;
      const RequestId id = NextId();
      sent_[id] = Sent{SentKind::kPull, ex.serial, fix.key};
      Send(ex.pair.peer, ReadRequest{id, fix.key}, out);
    }
  }
}

void AntiEntropy::FixDone(uint64_t serial, bool ok, bool wrote, TimeMs now) {
  if (!ex_ || ex_->serial != serial) return;
  CW_ASSERT(ex_->fixes_in_flight > 0, "anti-entropy fix finished that was not in flight");
  ex_->fixes_in_flight--;
  ex_->fix_progress_ms = now;
  if (!ok) ex_->fix_failed = true;
  if (wrote) ex_->keys_written++;
}

void AntiEntropy::Finish(TimeMs now) {
  Exchange ex = std::move(*ex_);
  ex_.reset();
  next_start_ms_ = now + interval_ms_;
  if (ex.fix_failed) {
    counters_.failures++;
    RecordForRepair(ex, false, StrCat("some keys could not be repaired with node ", ex.pair.peer),
                    now);
    return;
  }
  counters_.exchanges++;
  if (ex.ranges_epoch == ranges_epoch_ && ex.pair.full) {
    completed_[ex.pair.peer] = Completed{ex.started_hlc, ex.started_ms};
  }
  RecordForRepair(ex, true, "", now);
}

void AntiEntropy::Abandon(const std::string& why, TimeMs now) {
  Exchange ex = std::move(*ex_);
  ex_.reset();
  counters_.failures++;
  next_start_ms_ = now + interval_ms_;
  RecordForRepair(ex, false, why, now);
}

void AntiEntropy::RecordForRepair(const Exchange& ex, bool ok, const std::string& why, TimeMs now) {
  if (ex.pair.repair == 0) return;
  auto it = repairs_.find(ex.pair.repair);
  if (it == repairs_.end()) return;
  Repair& r = it->second;
  (ok ? r.done : r.failed)++;
  if (!ok && r.first_error.empty()) r.first_error = why;
  r.weight_done += Weight(ex.pair.spans);
  r.keys_compared += ex.keys_compared;
  r.keys_differed += ex.keys_differed;
  r.keys_written += ex.keys_written;
  r.bytes += ex.bytes;
  if (r.done + r.failed == r.total) r.finished_ms = now;
}

// ---- answers and completions ------------------------------------------------------------------

void AntiEntropy::OnStorageDone(uint64_t op_id, StorageResult result, TimeMs now, Actions* out) {
  auto it = ops_.find(op_id);
  if (it == ops_.end()) return;
  Op op = std::move(it->second);
  ops_.erase(it);
  switch (op.kind) {
    case OpKind::kServeHashes:
      serving_--;
      Send(op.from, AaeHashResponse{op.peer_id, std::move(result.status), std::move(result.hashes)},
           out);
      return;
    case OpKind::kServeDigests:
      serving_--;
      Send(op.from,
           AaeDigestResponse{op.peer_id, std::move(result.status), std::move(result.digests),
                             result.more},
           out);
      return;
    default:
      break;
  }
  if (!ex_ || ex_->serial != op.serial) return;  // an abandoned exchange's
  Exchange& ex = *ex_;
  if (op.kind == OpKind::kFixRead) {
    if (!result.status.ok()) return FixDone(op.serial, false, false, now);
    if (!result.version) return FixDone(op.serial, true, false, now);  // gone since it was listed
    const uint64_t bytes = VersionBytes(*result.version);
    NoteFixBytes(bytes);
    budget_bytes_ -= static_cast<int64_t>(bytes);
    ex.bytes += bytes;
    counters_.bytes += bytes;
    const RequestId id = NextId();
    sent_[id] = Sent{SentKind::kPush, ex.serial, op.key};
    Send(ex.pair.peer, ReplicateRequest{id, op.key, std::move(*result.version), 0, false}, out);
    return;
  }
  if (op.kind == OpKind::kFixApply) {
    if (result.status.ok()) counters_.keys_pulled++;
    FixDone(op.serial, result.status.ok(), result.status.ok(), now);
    StartFixes(now, out);
    Advance(now, out);
    return;
  }
  if (!result.status.ok()) {
    return Abandon(StrCat("our engine failed: ", result.status.ToString()), now);
  }
  if (op.kind == OpKind::kMyHashes) {
    ex.mine = std::move(result.hashes);
    if (ex.mine->size() != ex.batch.size()) return Abandon("our engine's hashes do not match", now);
    if (ex.theirs) AfterHashes();
  } else {
    ex.my_keys = std::move(result.digests);
    ex.my_more = result.more;
    if (ex.their_keys) AfterDigests();
  }
  StartFixes(now, out);
  Advance(now, out);
}

void AntiEntropy::OnHashResponse(NodeId from, AaeHashResponse r, TimeMs now, Actions* out) {
  auto it = sent_.find(r.id);
  if (it == sent_.end()) return;
  const uint64_t serial = it->second.serial;
  sent_.erase(it);
  if (!ex_ || ex_->serial != serial || from != ex_->pair.peer) return;
  if (!r.status.ok()) return Abandon(StrCat("node ", from, ": ", r.status.ToString()), now);
  if (r.hashes.size() != ex_->batch.size()) {
    return Abandon(StrCat("node ", from, " answered ", r.hashes.size(), " hashes for ",
                          ex_->batch.size(), " spans"),
                   now);
  }
  ex_->theirs = std::move(r.hashes);
  if (ex_->mine) AfterHashes();
  StartFixes(now, out);
  Advance(now, out);
}

void AntiEntropy::OnDigestResponse(NodeId from, AaeDigestResponse r, TimeMs now, Actions* out) {
  auto it = sent_.find(r.id);
  if (it == sent_.end()) return;
  const uint64_t serial = it->second.serial;
  sent_.erase(it);
  if (!ex_ || ex_->serial != serial || from != ex_->pair.peer) return;
  if (!r.status.ok()) return Abandon(StrCat("node ", from, ": ", r.status.ToString()), now);
  // The peer's list must be what we asked for: in order, inside the spans, after the cursor.
  const std::vector<TokenSpan>& spans = ex_->listing;
  const std::string& cursor = ex_->cursor;
  std::optional<std::pair<Token, std::string_view>> prev;
  if (!cursor.empty()) prev = std::pair<Token, std::string_view>{TokenOf(cursor), cursor};
  size_t s = 0;
  for (const KeyDigest& d : r.digests) {
    const auto at = Order(d);
    while (s < spans.size() && spans[s].last < at.first) ++s;
    if (s == spans.size() || !spans[s].Contains(at.first) || (prev && !(*prev < at))) {
      return Abandon(StrCat("node ", from, " listed keys outside the spans or out of order"), now);
    }
    prev = at;
  }
  if (r.more && r.digests.empty()) return Abandon(StrCat("node ", from, " listed nothing"), now);
  ex_->their_keys = std::move(r.digests);
  ex_->their_more = r.more;
  if (ex_->my_keys) AfterDigests();
  StartFixes(now, out);
  Advance(now, out);
}

void AntiEntropy::OnReplicateResponse(NodeId from, const ReplicateResponse& r, TimeMs now,
                                      Actions* out) {
  auto it = sent_.find(r.id);
  if (it == sent_.end()) return;
  const uint64_t serial = it->second.serial;
  sent_.erase(it);
  if (r.status.ok()) counters_.keys_pushed++;
  FixDone(serial, r.status.ok(), r.status.ok(), now);
  StartFixes(now, out);
  Advance(now, out);
}

void AntiEntropy::OnReadResponse(NodeId /*from*/, ReadResponse r, TimeMs now, Actions* out) {
  auto it = sent_.find(r.id);
  if (it == sent_.end()) return;
  Sent sent = std::move(it->second);
  sent_.erase(it);
  if (!ex_ || ex_->serial != sent.serial) return;
  if (!r.status.ok()) return FixDone(sent.serial, false, false, now);
  if (!r.version) return FixDone(sent.serial, true, false, now);  // gone since it was listed
  if (Status s = hooks_.accept_pulled(*r.version); !s.ok()) {
    return FixDone(sent.serial, false, false, now);
  }
  const uint64_t bytes = VersionBytes(*r.version);
  NoteFixBytes(bytes);
  budget_bytes_ -= static_cast<int64_t>(bytes);
  ex_->bytes += bytes;
  counters_.bytes += bytes;
  const uint64_t op = NextId();
  ops_[op] = Op{OpKind::kFixApply, sent.serial, 0, 0, sent.key};
  StorageAction a;
  a.op_id = op;
  a.kind = StorageAction::Kind::kApply;
  a.key = std::move(sent.key);
  a.version = std::move(*r.version);
  out->push_back(std::move(a));
}

void AntiEntropy::OnSendFailed(NodeId to, RequestId id, TimeMs now, Actions* out) {
  auto it = sent_.find(id);
  if (it == sent_.end()) return;
  Sent sent = std::move(it->second);
  sent_.erase(it);
  if (!ex_ || ex_->serial != sent.serial) return;
  if (sent.kind == SentKind::kPush || sent.kind == SentKind::kPull) {
    FixDone(sent.serial, false, false, now);
    StartFixes(now, out);
    return Advance(now, out);
  }
  Abandon(StrCat("node ", to, " could not be reached"), now);
}

void AntiEntropy::NoteFixBytes(uint64_t bytes) {
  fix_bytes_avg_ = std::max<uint64_t>((fix_bytes_avg_ * 7 + bytes) / 8, 1);
}

}  // namespace causeway::cluster::internal
