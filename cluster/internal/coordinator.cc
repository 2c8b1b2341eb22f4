#include "cluster/internal/coordinator.h"

#include <algorithm>
#include <array>

#include "base/limits.h"
#include "base/strings.h"

namespace causeway::cluster {

Result<int> ResolveConsistency(Consistency c, int rf, int dflt) {
  int n = 0;
  switch (c.kind) {
    case Consistency::Kind::kDefault:
      n = dflt;
      break;
    case Consistency::Kind::kNumber:
      n = c.n;
      break;
    case Consistency::Kind::kOne:
      n = 1;
      break;
    case Consistency::Kind::kQuorum:
      n = rf / 2 + 1;
      break;
    case Consistency::Kind::kAll:
      n = rf;
      break;
  }
  if (n < 1 || n > rf) {
    return Status::InvalidArgument("consistency level " + std::to_string(n) + " is outside 1.." +
                                   std::to_string(rf) + " (rf)");
  }
  return n;
}

namespace internal {

Coordinator::Coordinator(const NodeConfig& config, HybridClock* clock, const ClusterView* view,
                         NodeCore::Counters* counters)
    : config_(config), clock_(clock), view_(view), counters_(counters) {}

Result<TimeMs> Coordinator::Deadline(uint64_t timeout_ms, TimeMs now) const {
  if (timeout_ms == 0) timeout_ms = config_.request_timeout_ms;
  if (timeout_ms > kRequestTimeoutMsMax) {
    return Status::InvalidArgument("timeout above " + std::to_string(kRequestTimeoutMsMax) + " ms");
  }
  return now + timeout_ms;
}

RequestId Coordinator::Call(RequestId op, NodeId node, bool read, std::vector<RequestId>* calls) {
  RequestId peer_id = next_call_id_++;
  calls_[peer_id] = PeerCall{op, node, read};
  calls->push_back(peer_id);
  return peer_id;
}

void Coordinator::Send(NodeId node, PeerMessage message, Actions* out) const {
  out->push_back(SendAction{node, view_->AddressOf(node), std::move(message)});
}

// Rejects a request id already in flight (a driver bug) and work beyond the in-flight bound.
bool Coordinator::Admit(RequestId id, Actions* out, bool explain) {
  Status s;
  if (writes_.count(id) || reads_.count(id)) {
    s = Status::InvalidArgument("request id " + std::to_string(id) + " is already in flight");
  } else if (InFlight() >= kNodeInFlightRequestsMax) {
    s = Status::Overloaded("too many requests in flight on this coordinator");
  }
  if (s.ok()) return true;
  if (explain) {
    out->push_back(ExplainReplyAction{id, ExplainResult{s, 0, {}, {}}});
  } else {
    out->push_back(ReplyAction{id, ClientResult{s, std::nullopt, {}}});
  }
  return false;
}

// ---- writes ------------------------------------------------------------------------------------

// The new version: our HLC first moves past everything the session has seen (monotonic writes,
// writes-follow-reads), and the version vector records the session's dot for the key.
Result<Version> Coordinator::Stamp(const ClientWrite& request, const SessionToken& session) {
  if (session.max_timestamp() != 0) {
    Status s = clock_->Update(session.max_timestamp());
    if (!s.ok()) return s;
  }
  // A clock that resumed above its persisted ceiling (restart) or whose wall clock stepped back
  // stamps versions that replicas reject as skewed: refuse cleanly instead of landing the write
  // on this node alone. It clears as soon as the wall clock catches up (at most the HLC lead).
  if (uint64_t lead_ms = clock_->LeadOverPhysicalMs(); lead_ms > clock_->max_offset_ms()) {
    return Status::Unavailable("this node's clock is " + std::to_string(lead_ms) +
                               " ms ahead of its wall clock (restarted above its persisted "
                               "ceiling?); nothing was written: retry shortly or use another node");
  }
  Result<Hlc> ts = clock_->Now();
  if (!ts.ok()) return ts.status();
  Version v;
  v.timestamp = *ts;
  v.writer = view_->self_id();
  v.tombstone = request.tombstone;
  if (!request.tombstone) v.value = request.value;
  SessionToken::Floor floor = session.FloorFor(request.key);
  if (floor.exact) v.vv.Advance(floor.exact->writer, floor.exact->timestamp);
  v.vv.Advance(v.writer, v.timestamp);
  v.vv.Truncate(kVersionVectorEntriesMax, v.writer);
  return v;
}

// The checks and look-ups every client read and write starts with, in the order their errors
// are reported: consistency level, key, deadline, replicas. (The session token was decoded and
// checked where it arrived.)
Result<Coordinator::Prepared> Coordinator::Prepare(const std::string& key, Consistency level,
                                                   int default_n, uint64_t timeout_ms,
                                                   TimeMs now) const {
  Result<int> n = ResolveConsistency(level, config_.rf, default_n);
  if (!n.ok()) return n.status();
  if (Status s = ValidateKey(key); !s.ok()) return s;
  Result<TimeMs> deadline = Deadline(timeout_ms, now);
  if (!deadline.ok()) return deadline.status();
  Result<std::vector<NodeId>> replicas = view_->CoordinatorReplicas(key);
  if (!replicas.ok()) return replicas.status();
  return Prepared{*n, *deadline, std::move(replicas).value()};
}

void Coordinator::StartWrite(RequestId id, ClientWrite request, TimeMs now, Actions* out) {
  counters_->writes++;
  if (!Admit(id, out, false)) return;
  auto fail = [&](Status s) {
    out->push_back(ReplyAction{id, ClientResult{std::move(s), std::nullopt, {}}});
  };
  Result<Prepared> prep =
      Prepare(request.key, request.w, config_.default_w, request.timeout_ms, now);
  if (!prep.ok()) return fail(prep.status());
  const int w = prep->n;
  std::vector<NodeId> live, down;
  for (NodeId node : prep->replicas) {
    (view_->IsAlive(node, now) ? live : down).push_back(node);
  }
  // Sloppy quorum: each replica that is down gets a stand-in that keeps a hint for it.
  const std::vector<NodeId> holders = view_->HintHolders(request.key, down.size(), now);
  const size_t counting = live.size() + (request.hinted_counts ? holders.size() : 0);
  if (counting < static_cast<size_t>(w)) {
    return fail(Status::Unavailable(StrCat(
        live.size(), " replicas alive and ", holders.size(), " stand-ins for the others, W=", w,
        request.hinted_counts ? "" : " (hints not counted)", "; nothing was written")));
  }
  if (Status gate = view_->StampGate(); !gate.ok()) {
    counters_->fenced_writes++;
    return fail(std::move(gate));
  }
  Result<Version> version = Stamp(request, request.session);
  if (!version.ok()) {
    if (version.status().code() == ErrorCode::kClockSkew) counters_->clock_skew_rejections++;
    return fail(version.status());
  }
  if (Status s = ValidateVersion(*version); !s.ok()) return fail(s);

  WriteOp& op = writes_[id];
  op.id = id;
  op.key = std::move(request.key);
  op.version = std::move(version).value();
  op.w = w;
  op.targets = counting;
  op.deadline = prep->deadline;
  op.session = std::move(request.session);
  for (NodeId node : live) {
    RequestId peer_id = Call(id, node, false, &op.calls);
    Send(node, ReplicateRequest{peer_id, op.key, op.version, 0}, out);
  }
  // A pending replica's stream may have passed this key already: it gets the write itself. Not
  // counted; if it fails, a hint kept here follows it (a down one is left to anti-entropy).
  for (NodeId node : view_->PendingReplicas(op.key)) {
    if (!view_->IsAlive(node, now)) continue;
    counters_->pending_writes++;
    RequestId peer_id = Call(id, node, false, &op.calls);
    calls_[peer_id].counts = false;
    Send(node, ReplicateRequest{peer_id, op.key, op.version, 0}, out);
  }
  // A replica down without a stand-in (a cluster of rf nodes) gets its hint kept here, as
  // Cassandra's coordinators do; that one never counts toward W (we may be a replica already).
  const NodeId self = view_->self_id();
  for (size_t i = 0; i < down.size(); ++i) {
    const bool stand_in = i < holders.size();
    const NodeId holder = stand_in ? holders[i] : self;
    counters_->hinted_writes++;
    RequestId peer_id = Call(id, holder, false, &op.calls);
    calls_[peer_id].counts = stand_in && request.hinted_counts;
    calls_[peer_id].hint = true;
    Send(holder, ReplicateRequest{peer_id, op.key, op.version, down[i]}, out);
  }
}

// A write that failed short of W is not rolled back: replicas that acknowledged keep it, and read
// repair or a later read may spread it. The message must say so (as the timeout's does), or a
// client would take "unavailable" to mean "nothing was written".
std::string Coordinator::PartialWriteMessage(const WriteOp& op, const Status& last_failure) {
  std::string msg =
      std::to_string(op.acks) + " of W=" + std::to_string(op.w) + " replicas acknowledged";
  if (op.acks == 0) {
    msg += "; the write may still have been applied on replicas that did not answer";
  } else {
    msg += "; the write may have been applied on the replicas that did";
  }
  msg += " (it is not rolled back, and later reads may see it); last failure: " +
         last_failure.ToString();
  return msg;
}

void Coordinator::WriteAnswer(WriteOp* op, bool counts, const Status& status, Actions* out) {
  if (!counts) return;  // a hint that does not count toward W
  if (status.ok()) {
    if (++op->acks >= static_cast<size_t>(op->w)) FinishWrite(op, Status::Ok(), out);
    return;
  }
  op->failures++;
  if (op->targets - op->failures < static_cast<size_t>(op->w)) {
    FinishWrite(op, Status::Unavailable(PartialWriteMessage(*op, status)), out);
  }
}

// Replies and forgets the operation; `op` is dangling afterwards.
void Coordinator::FinishWrite(WriteOp* op, Status status, Actions* out) {
  ClientResult result;
  if (status.ok()) {
    op->session.Observe(op->key, Dot{op->version.timestamp, op->version.writer});
    result.version = op->version;
  }
  if (result.version) result.session = std::move(op->session);
  result.status = std::move(status);
  out->push_back(ReplyAction{op->id, std::move(result)});
  for (RequestId c : op->calls) {
    auto call = calls_.find(c);
    if (call == calls_.end()) continue;
    // Bounded: a transport reports every call's answer or failure, but should one be lost the
    // oldest orphan goes (its replica is left to read repair).
    if (!call->second.hint && call->second.node != view_->self_id()) {
      if (orphans_.size() >= kOrphanCallsMax) orphans_.erase(orphans_.begin());
      orphans_[c] = Orphan{call->second.node, op->key, op->version};
    }
    calls_.erase(call);
  }
  writes_.erase(op->id);
}

void Coordinator::HintHere(NodeId replica, const std::string& key, const Version& version,
                           Actions* out) {
  if (replica == view_->self_id()) return;
  counters_->hinted_writes++;
  // Fire and forget: the answer's id is not registered, so it is dropped on arrival.
  Send(view_->self_id(), ReplicateRequest{next_call_id_++, key, version, replica}, out);
}

// ---- reads -------------------------------------------------------------------------------------

std::vector<NodeId> Coordinator::LiveOrder(const std::vector<NodeId>& preference, size_t need,
                                           TimeMs now) const {
  std::vector<NodeId> order;
  const NodeId self = view_->self_id();
  const bool self_replica =
      std::find(preference.begin(), preference.end(), self) != preference.end();
  // Ourselves first (the cheapest replica to read), then the others in preference order. A
  // replica catching up (we or a peer, by gossip) may have missed writes: while `need` others are
  // alive it is left out altogether (a read that fails on them fails, rather than answer from a
  // stale copy); otherwise it goes last (a whole cluster restarted at once still serves).
  std::vector<NodeId> late;
  auto place = [&](NodeId node) { (view_->CatchingUp(node, now) ? late : order).push_back(node); };
  if (self_replica) place(self);
  for (NodeId node : preference) {
    if (node != self && view_->IsAlive(node, now)) place(node);
  }
  if (order.size() < need) order.insert(order.end(), late.begin(), late.end());
  return order;
}

void Coordinator::StartRead(RequestId id, ClientRead request, TimeMs now, Actions* out) {
  counters_->reads++;
  if (!Admit(id, out, false)) return;
  auto fail = [&](Status s) {
    out->push_back(ReplyAction{id, ClientResult{std::move(s), std::nullopt, {}}});
  };
  Result<Prepared> prep =
      Prepare(request.key, request.r, config_.default_r, request.timeout_ms, now);
  if (!prep.ok()) return fail(prep.status());
  const int r = prep->n;
  std::vector<NodeId> preference = std::move(prep->replicas);
  std::vector<NodeId> order = LiveOrder(preference, static_cast<size_t>(r), now);
  if (order.size() < static_cast<size_t>(r)) {
    return fail(Status::Unavailable(std::to_string(order.size()) +
                                    " replicas alive, R=" + std::to_string(r)));
  }
  ReadOp& op = reads_[id];
  op.id = id;
  op.key = std::move(request.key);
  op.need = static_cast<size_t>(r);
  op.deadline = prep->deadline;
  op.order = std::move(order);
  op.preference = std::move(preference);
  op.session = std::move(request.session);
  op.floor = op.session.FloorFor(op.key);
  Pump(&op, now, out);
}

void Coordinator::StartExplain(RequestId id, std::string key, TimeMs now, Actions* out) {
  if (!Admit(id, out, true)) return;
  Status s = ValidateKey(key);
  Result<std::vector<NodeId>> replicas = view_->CoordinatorReplicas(key);
  if (s.ok() && !replicas.ok()) s = replicas.status();
  if (!s.ok()) {
    out->push_back(ExplainReplyAction{id, ExplainResult{s, 0, {}, {}}});
    return;
  }
  ReadOp& op = reads_[id];
  op.id = id;
  op.explain = true;
  op.all_mode = true;
  op.deadline = now + config_.request_timeout_ms;
  op.preference = std::move(replicas).value();
  op.order = op.preference;  // every replica, even those believed down: this is a diagnosis
  op.key = std::move(key);
  Pump(&op, now, out);
}

void Coordinator::Ask(ReadOp* op, NodeId node, Actions* out) {
  op->outstanding.insert(node);
  RequestId peer_id = Call(op->id, node, true, &op->calls);
  Send(node, ReadRequest{peer_id, op->key}, out);
}

// Keeps enough replicas asked; judges once the asked ones have all answered or failed.
void Coordinator::Pump(ReadOp* op, TimeMs now, Actions* out) {
  if (op->retry_at != 0) return;
  while (op->next < op->order.size() &&
         (op->all_mode || op->answers.size() + op->outstanding.size() < op->need)) {
    Ask(op, op->order[op->next++], out);
  }
  if (!op->outstanding.empty()) return;
  if (op->explain) return FinishExplain(op, out);
  if (op->answers.empty() && !op->floor.exact) {
    return FinishRead(op, Status::Unavailable("no replica answered"), out);
  }
  if (!op->all_mode && op->answers.size() < op->need) {
    return FinishRead(op,
                      Status::Unavailable(std::to_string(op->answers.size()) + " of R=" +
                                          std::to_string(op->need) + " replicas answered"),
                      out);
  }
  Judge(op, now, out);
}

std::optional<Version> Coordinator::Winner(const ReadOp& op) {
  std::optional<Version> winner;
  for (const auto& [node, v] : op.answers) {
    if (v && (!winner || LastWriteWins(*v, *winner))) winner = v;
  }
  return winner;
}

// Never answers below the session's floor: an exact floor escalates to every replica and then
// retries until the deadline; a sketch floor escalates once and answers the freshest obtainable.
void Coordinator::Judge(ReadOp* op, TimeMs now, Actions* out) {
  std::optional<Version> winner = Winner(*op);
  std::optional<Dot> got;
  if (winner) got = Dot{winner->timestamp, winner->writer};
  const bool below_exact = op->floor.exact && (!got || op->floor.exact->Beats(*got));
  if (below_exact) {
    op->floor_blocked = true;
    if (!op->all_mode) return Escalate(op, now, out);
    op->retry_at = now + kSessionReadRetryMs;
    return;
  }
  const bool below_bucket =
      op->floor.bucket_floor != 0 && (!got || got->timestamp < op->floor.bucket_floor);
  if (below_bucket && !op->all_mode) return Escalate(op, now, out);
  op->floor_blocked = false;
  counters_->concurrent_seen += ConcurrentPairs(*op);
  if (winner) {
    RepairStale(*op, *winner, out);
    op->session.Observe(op->key, *got);
  }
  FinishReadWith(op, Status::Ok(), std::move(winner), out);
}

void Coordinator::Escalate(ReadOp* op, TimeMs now, Actions* out) {
  op->all_mode = true;
  counters_->session_escalations++;
  Pump(op, now, out);
}

void Coordinator::RetryRead(ReadOp* op, TimeMs now, Actions* out) {
  op->retry_at = 0;
  op->preference = view_->Replicas(op->key);
  op->order = LiveOrder(op->preference, op->need, now);
  op->next = 0;
  op->failed.clear();
  Pump(op, now, out);
}

// Distinct pairs of dots among the answers that are causally concurrent (a race the version
// vectors detect; LWW picked one). The engine counts losers only when a flush or compaction drops
// them; this makes races visible while replicas still disagree. A replica that already holds both
// versions has absorbed the loser's vector into the winner's (docs/design.md), so its copy
// "covers" the loser; absorption only adds coverage, so any two copies that do not cover each
// other prove the original writes were concurrent. Every pair of copies is therefore compared,
// and each pair of dots counts once (2 x A + 1 x B on three replicas is one pair).
uint64_t Coordinator::ConcurrentPairs(const ReadOp& op) {
  std::vector<const Version*> copies;
  for (const auto& [node, v] : op.answers) {
    if (v) copies.push_back(&*v);
  }
  std::set<std::array<uint64_t, 4>> pairs;  // (winner dot, loser dot)
  for (size_t i = 0; i < copies.size(); ++i) {
    for (size_t j = i + 1; j < copies.size(); ++j) {
      const Version& a = *copies[i];
      const Version& b = *copies[j];
      if (CompareCausality(a, b) != Causality::kConcurrent) continue;
      const Version& w = LastWriteWins(a, b) ? a : b;
      const Version& l = LastWriteWins(a, b) ? b : a;
      pairs.insert({w.timestamp, w.writer, l.timestamp, l.writer});
    }
  }
  return pairs.size();
}

void Coordinator::RepairStale(const ReadOp& op, const Version& winner, Actions* out) {
  for (const auto& [node, v] : op.answers) {
    if (v && v->SameDot(winner)) continue;
    // Fire and forget: the answer's id is not registered, so it is dropped on arrival.
    Send(node, ReplicateRequest{next_call_id_++, op.key, winner, 0}, out);
    counters_->read_repairs++;
  }
}

void Coordinator::ReadAnswer(ReadOp* op, NodeId node, Status status, std::optional<Version> version,
                             TimeMs now, Actions* out) {
  op->outstanding.erase(node);
  if (status.ok()) {
    auto it = op->answers.find(node);
    if (it == op->answers.end()) {
      op->answers.emplace(node, std::move(version));
    } else if (version && (!it->second || LastWriteWins(*version, *it->second))) {
      it->second = std::move(version);
    }
  } else {
    op->failed[node] = std::move(status);
  }
  Pump(op, now, out);
}

void Coordinator::FinishRead(ReadOp* op, Status status, Actions* out) {
  FinishReadWith(op, std::move(status), std::nullopt, out);
}

// Replies and forgets the operation; `op` is dangling afterwards.
void Coordinator::FinishReadWith(ReadOp* op, Status status, std::optional<Version> winner,
                                 Actions* out) {
  ClientResult result;
  if (status.ok()) result.session = std::move(op->session);
  result.status = std::move(status);
  result.version = std::move(winner);
  out->push_back(ReplyAction{op->id, std::move(result)});
  for (RequestId c : op->calls) calls_.erase(c);
  reads_.erase(op->id);
}

void Coordinator::FinishExplain(ReadOp* op, Actions* out) {
  ExplainResult result;
  result.token = TokenOf(op->key);
  result.preference_list = op->preference;
  for (NodeId node : op->preference) {
    ReplicaVersion rv{node, Status::Ok(), std::nullopt};
    if (auto a = op->answers.find(node); a != op->answers.end()) {
      rv.version = a->second;
    } else if (auto f = op->failed.find(node); f != op->failed.end()) {
      rv.status = f->second;
    } else {
      rv.status = Status::Timeout("no answer by the deadline");
    }
    result.replicas.push_back(std::move(rv));
  }
  out->push_back(ExplainReplyAction{op->id, std::move(result)});
  for (RequestId c : op->calls) calls_.erase(c);
  reads_.erase(op->id);
}

// ---- answers, failures, time -------------------------------------------------------------------

void Coordinator::OnReplicateResponse(NodeId from, const ReplicateResponse& r, TimeMs now,
                                      Actions* out) {
  if (auto orphan = orphans_.find(r.id); orphan != orphans_.end()) {
    if (orphan->second.node != from) return;
    if (!r.status.ok()) HintHere(from, orphan->second.key, orphan->second.version, out);
    orphans_.erase(orphan);
    return;
  }
  auto call = calls_.find(r.id);
  if (call == calls_.end() || call->second.read || call->second.node != from) return;
  const RequestId op_id = call->second.op;
  const bool counts = call->second.counts;
  const bool hint = call->second.hint;
  calls_.erase(call);
  auto op = writes_.find(op_id);
  if (op == writes_.end()) return;
  if (!r.status.ok() && !hint) {
    HintHere(from, op->second.key, op->second.version, out);
  }
  WriteAnswer(&op->second, counts, r.status, out);
}

void Coordinator::OnReadResponse(NodeId from, const ReadResponse& r, TimeMs now, Actions* out) {
  auto call = calls_.find(r.id);
  if (call == calls_.end() || !call->second.read || call->second.node != from) return;
  RequestId op_id = call->second.op;
  calls_.erase(call);
  auto op = reads_.find(op_id);
  if (op != reads_.end()) ReadAnswer(&op->second, from, r.status, r.version, now, out);
}

void Coordinator::OnSendFailed(NodeId to, RequestId peer_id, TimeMs now, Actions* out) {
  if (auto orphan = orphans_.find(peer_id); orphan != orphans_.end()) {
    if (orphan->second.node != to) return;
    HintHere(to, orphan->second.key, orphan->second.version, out);
    orphans_.erase(orphan);
    return;
  }
  auto call = calls_.find(peer_id);
  if (call == calls_.end() || call->second.node != to) return;
  PeerCall pc = call->second;
  calls_.erase(call);
  Status failure = Status::Unavailable("replica unreachable");
  if (pc.read) {
    auto op = reads_.find(pc.op);
    if (op != reads_.end()) ReadAnswer(&op->second, to, failure, std::nullopt, now, out);
  } else {
    auto op = writes_.find(pc.op);
    if (op == writes_.end()) return;
    if (!pc.hint) HintHere(to, op->second.key, op->second.version, out);
    WriteAnswer(&op->second, pc.counts, failure, out);
  }
}

void Coordinator::Tick(TimeMs now, Actions* out) {
  std::vector<RequestId> expired;
  for (const auto& [id, op] : writes_) {
    if (now >= op.deadline) expired.push_back(id);
  }
  for (RequestId id : expired) {
    WriteOp& op = writes_.at(id);
    counters_->timeouts++;
    FinishWrite(&op,
                Status::Timeout(std::to_string(op.acks) + " of W=" + std::to_string(op.w) +
                                " replicas acknowledged by the deadline; the write may still land"),
                out);
  }
  std::vector<RequestId> due;
  for (const auto& [id, op] : reads_) {
    if (now >= op.deadline || (op.retry_at != 0 && now >= op.retry_at)) due.push_back(id);
  }
  for (RequestId id : due) {
    ReadOp& op = reads_.at(id);
    if (now < op.deadline) {
      RetryRead(&op, now, out);
    } else if (op.explain) {
      FinishExplain(&op, out);
    } else if (op.floor_blocked) {
      counters_->session_unavailable++;
      FinishRead(&op,
                 Status::Unavailable("the session has seen a newer version of this key than "
                                     "any reachable replica holds"),
                 out);
    } else {
      counters_->timeouts++;
      FinishRead(&op, Status::Timeout("not enough replicas answered by the deadline"), out);
    }
  }
}

}  // namespace internal
}  // namespace causeway::cluster
