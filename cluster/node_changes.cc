// NodeCore::Impl's membership changes (docs/design.md, "Membership changes"): the join with its
// bootstrap, the rebuild of a replaced node, the ranges a node gains from a leaver, and the
// decommission's hand-over. Every change goes through two rings: the normal one (kUp and kLeaving
// members) places reads and writes; the future one (kUp and kJoining) says who will own what, and
// its extra replicas get writes too (Impl::PendingReplicas). A node that takes over spans streams
// them (cluster/internal/streamer.h) before it is read from.
#include <algorithm>
#include <map>

#include "base/strings.h"
#include "cluster/internal/node_impl.h"

namespace causeway::cluster {
namespace {

using internal::StreamTask;

// The spans, grouped by their source list, adjacent ones merged, at most kAaeSpansPerRequestMax
// spans a task (a request carries a task's spans).
std::vector<StreamTask> Group(const std::vector<std::pair<TokenSpan, std::vector<NodeId>>>& spans) {
  std::map<std::vector<NodeId>, std::vector<TokenSpan>> by_sources;
  for (const auto& [span, sources] : spans) {
    std::vector<TokenSpan>& list = by_sources[sources];
    if (!list.empty() && list.back().last != UINT64_MAX && list.back().last + 1 == span.first) {
      list.back().last = span.last;
    } else {
      list.push_back(span);
    }
  }
  std::vector<StreamTask> tasks;
  for (auto& [sources, list] : by_sources) {
    for (size_t i = 0; i < list.size(); i += kAaeSpansPerRequestMax) {
      StreamTask t;
      t.sources = sources;
      t.spans.assign(list.begin() + static_cast<std::ptrdiff_t>(i),
                     list.begin() + static_cast<std::ptrdiff_t>(
                                        std::min(list.size(), i + kAaeSpansPerRequestMax)));
      tasks.push_back(std::move(t));
    }
  }
  return tasks;
}

bool Has(const std::vector<NodeId>& list, NodeId n) {
  return std::find(list.begin(), list.end(), n) != list.end();
}

}  // namespace

std::vector<NodeCore::Impl::ArcChange> NodeCore::Impl::ArcChanges() const {
  std::vector<ArcChange> changes;
  if (!changes_pending) return changes;
  const std::vector<Ring::Arc> a = ring.ReplicaArcs(config.rf);
  const std::vector<Ring::Arc> b = future.ReplicaArcs(config.rf);
  if (b.empty()) return changes;  // nobody will own anything: nothing to take over
  if (a.empty()) {
    for (const Ring::Arc& arc : b) changes.push_back({arc.span, {}, arc.replicas});
    return changes;
  }
  // Both cover the ring once, in token order: walk them together, cutting at either's ends.
  size_t i = 0, j = 0;
  Token start = 0;
  while (i < a.size() && j < b.size()) {
    const Token end = std::min(a[i].span.last, b[j].span.last);
    std::vector<NodeId> before = a[i].replicas, after = b[j].replicas;
    std::sort(before.begin(), before.end());
    std::sort(after.begin(), after.end());
    if (before != after) changes.push_back({TokenSpan{start, end}, a[i].replicas, b[j].replicas});
    if (end == UINT64_MAX) break;
    if (a[i].span.last == end) ++i;
    if (b[j].span.last == end) ++j;
    start = end + 1;
  }
  return changes;
}

// A joiner takes its spans from the replicas that hold them now: first those that lose them
// (they have every write of the spans until the change), replicas still catching up last.
std::vector<StreamTask> NodeCore::Impl::BootstrapTasks() const {
  std::vector<std::pair<TokenSpan, std::vector<NodeId>>> spans;
  for (const ArcChange& c : ArcChanges()) {
    if (!Has(c.after, id) || Has(c.before, id)) continue;
    std::vector<NodeId> sources;
    for (NodeId n : c.before) {
      if (!Has(c.after, n)) sources.push_back(n);
    }
    for (NodeId n : c.before) {
      if (Has(c.after, n)) sources.push_back(n);
    }
    std::stable_partition(sources.begin(), sources.end(),
                          [&](NodeId n) { return !CatchingUp(n, 0); });
    spans.push_back({c.span, std::move(sources)});
  }
  return Group(spans);
}

// A rebuild takes every span we replicate from its other replicas.
std::vector<StreamTask> NodeCore::Impl::RebuildTasks() const {
  std::vector<std::pair<TokenSpan, std::vector<NodeId>>> spans;
  for (const Ring::Arc& arc : ring.ReplicaArcs(config.rf)) {
    if (!Has(arc.replicas, id)) continue;
    std::vector<NodeId> sources;
    for (NodeId n : arc.replicas) {
      if (n != id) sources.push_back(n);
    }
    std::stable_partition(sources.begin(), sources.end(),
                          [&](NodeId n) { return !CatchingUp(n, 0); });
    spans.push_back({arc.span, std::move(sources)});
  }
  return Group(spans);
}

// A gainer takes the spans a leaver hands over from the leaver only: the leaver counts what it
// served to its end (Streamer::ServedToEnd) to know when it may go.
std::vector<StreamTask> NodeCore::Impl::GainTasks() const {
  std::vector<std::pair<TokenSpan, std::vector<NodeId>>> spans;
  for (const ArcChange& c : ArcChanges()) {
    if (!Has(c.after, id) || Has(c.before, id)) continue;
    std::vector<NodeId> leavers;
    for (NodeId n : c.before) {
      const internal::Membership::Member* m = membership.Find(n);
      if (m != nullptr && m->state.status == MemberStatus::kLeaving) leavers.push_back(n);
    }
    if (!leavers.empty()) spans.push_back({c.span, std::move(leavers)});
  }
  return Group(spans);
}

std::map<NodeId, std::vector<TokenSpan>> NodeCore::Impl::Handover() const {
  std::map<NodeId, std::vector<TokenSpan>> need;
  for (const ArcChange& c : ArcChanges()) {
    if (!Has(c.before, id) || Has(c.after, id)) continue;
    for (NodeId g : c.after) {
      if (!Has(c.before, g)) need[g].push_back(c.span);
    }
  }
  return need;
}

void NodeCore::Impl::JoinWith(TimeMs now, Actions* out) {
  const bool remembered = !membership.remembered_tokens().empty();
  if (config.replace && !remembered) {
    stream_error = Status::Unavailable(StrCat(
        "replacing ", config.name, ": no peer has told its tokens yet (is the name right?)"));
    return;
  }
  bool cluster_has_data = false;
  for (const auto& [mid, m] : membership.members()) {
    cluster_has_data |= mid != id && InNormalRing(m.state);
  }
  stream_error = Status::Ok();
  FinishJoin(TokensFromView());
  if (remembered) {
    // Our tokens, still on every ring: we are a replica again at once, but with none of the data.
    // Reads go elsewhere (catching up), hint holders wait (bootstrapping), and the spans stream in.
    membership.SetSelfBootstrapping(true);
    catching_up = true;
    membership.SetSelfCatchingUp(true);
    out->push_back(PersistMetaAction{std::string(kMetaBootstrap), "phase rebuild\n"});
  } else if (cluster_has_data) {
    membership.SetSelfBootstrapping(true);
    membership.Announce(MemberStatus::kJoining, now, out);
    join_announced = true;
    join_announced_ms = now;
    catching_up = false;  // until the stream is in (BeginCatchUp)
    membership.SetSelfCatchingUp(false);
    aae.SetUrgent(false);
    out->push_back(PersistMetaAction{std::string(kMetaBootstrap), "phase bootstrap\n"});
  } else {
    // A new cluster: no member holds data, so there is nothing to catch up with.
    catching_up = false;
    membership.SetSelfCatchingUp(false);
    aae.SetUrgent(false);
  }
  SyncRing();
}

void NodeCore::Impl::ResumeStream() {
  std::string phase;
  Result<std::vector<StreamTask>> tasks =
      internal::Streamer::Decode(config.bootstrap_state, &phase);
  if (!tasks.ok()) {
    stream_error = tasks.status();
    return;
  }
  if (phase == "bootstrap") {
    Actions ignored;  // no peer is heard from yet: our first gossip round spreads it
    membership.Announce(MemberStatus::kJoining, 0, &ignored);
    join_announced = true;
    catching_up = false;
    membership.SetSelfCatchingUp(false);
    aae.SetUrgent(false);
  } else if (phase != "rebuild") {
    return;
  }
  membership.SetSelfBootstrapping(true);
  if (!tasks->empty()) streamer.Start(phase, std::move(tasks).value(), true, 0);
}

void NodeCore::Impl::BeginCatchUp() {
  catching_up = true;
  membership.SetSelfCatchingUp(true);
  aae.SetUrgent(true);
  catch_up_clock = false;
  start_wall_ms = clock->PhysicalNowMs();
}

void NodeCore::Impl::MaybeStream(TimeMs now, Actions* out) {
  if (joining) return;  // no tokens yet
  const MemberState& self = membership.self();
  const size_t first = out->size();
  if (decommission_requested && self.status == MemberStatus::kUp) {
    decommission_requested = false;
    membership.Announce(MemberStatus::kLeaving, now, out);
    leave_started_ms = now;
    last_served_ms = now;
    served_pages_seen = streamer.counters().pages_served;
    SyncRing();
  }
  const bool bootstrap = self.status == MemberStatus::kJoining;
  const bool rebuild = self.status == MemberStatus::kUp && self.bootstrapping;
  if (bootstrap || rebuild) {
    const char* phase = bootstrap ? "bootstrap" : "rebuild";
    if (streamer.phase() != phase) {
      if (bootstrap && now < join_announced_ms + config.ring_settle_ms) return;
      streamer.Start(phase, bootstrap ? BootstrapTasks() : RebuildTasks(), true, now);
    }
    if (!streamer.done()) return;
    membership.SetSelfBootstrapping(false);
    if (bootstrap) membership.Announce(MemberStatus::kUp, now, out);
    out->push_back(PersistMetaAction{std::string(kMetaBootstrap), "done"});
    SyncRing();
    BeginCatchUp();
  } else if (self.status == MemberStatus::kUp && membership.ring_epoch() != gain_epoch) {
    gain_epoch = membership.ring_epoch();
    std::vector<StreamTask> tasks = GainTasks();
    if (!tasks.empty()) {
      streamer.Start("gain", std::move(tasks), false, now);
    } else if (streamer.phase() == "gain" && streamer.active()) {
      streamer.Clear();  // the leaver is gone; what it did not hand over comes by anti-entropy
    }
  } else if (self.status == MemberStatus::kLeaving) {
    MaybeLeave(now, out);
  }
  StampGossip(out, first, now);
}

// A leaver goes once every gainer had the last page of what it gains, or has been down for
// kLeaveWaitForDownGainerMs, or no page was asked of us for that long (the gainers' anti-entropy
// then copies the rest from the other replicas); never before the ring settle time.
void NodeCore::Impl::MaybeLeave(TimeMs now, Actions* out) {
  double total = 0, handed = 0;
  bool all = true;
  for (const auto& [gainer, spans] : Handover()) {
    const double w = internal::SpansWidth(spans);
    total += w;
    if (streamer.ServedToEnd(gainer, spans)) {
      handed += w;
      continue;
    }
    if (membership.IsAlive(gainer, now)) {
      gainer_down_since.erase(gainer);
      all = false;
      continue;
    }
    const TimeMs since = gainer_down_since.emplace(gainer, now).first->second;
    if (now >= since + kLeaveWaitForDownGainerMs) {
      handed += w;
    } else {
      all = false;
    }
  }
  if (streamer.counters().pages_served != served_pages_seen) {
    served_pages_seen = streamer.counters().pages_served;
    last_served_ms = now;
  }
  handover_fraction = total == 0 ? 1.0 : handed / total;
  const bool stalled = now >= last_served_ms + kLeaveWaitForDownGainerMs;
  if ((!all && !stalled) || now < leave_started_ms + config.ring_settle_ms) return;
  if (!all) {
    stream_error = Status::Timeout(
        StrCat("left without handing over ", static_cast<int>((1 - handover_fraction) * 100),
               "% of the spans: their gainers did not ask for ", kLeaveWaitForDownGainerMs,
               " ms; anti-entropy copies them from the other replicas"));
  }
  membership.Announce(MemberStatus::kLeft, now, out);
  decommissioned = true;
  SyncRing();
  MaybePersist(now, true, out);
}

NodeCore::StreamStatus NodeCore::Impl::StreamStatusAt(TimeMs now) const {
  StreamStatus s;
  s.member_status = membership.self().status;
  if (s.member_status == MemberStatus::kLeaving || decommissioned) {
    s.phase = "decommission";
    s.done = decommissioned;
    s.fraction = decommissioned ? 1.0 : handover_fraction;
    s.keys = streamer.counters().pages_served;
    s.elapsed_ms = now - std::min(now, leave_started_ms);
    s.status = stream_error;
    return s;
  }
  s.phase = streamer.phase();
  if (s.phase.empty() && config.replace && joining) s.phase = "rebuild";
  s.done = streamer.done();
  s.fraction = streamer.fraction();
  s.keys = streamer.job_keys();
  s.bytes = streamer.job_bytes();
  s.elapsed_ms = s.phase.empty() ? 0 : now - std::min(now, streamer.started_ms());
  s.status = !stream_error.ok() ? stream_error : streamer.last_error();
  return s;
}

// ---- NodeCore
// ------------------------------------------------------------------------------------

Status NodeCore::StartDecommission(TimeMs) {
  Impl& n = *impl_;
  const MemberState& self = n.membership.self();
  if (n.joining || self.status != MemberStatus::kUp || self.bootstrapping) {
    return Status::InvalidArgument(
        StrCat("only a normal member can be decommissioned; this node is ",
               n.joining                               ? "still choosing its tokens"
               : self.status == MemberStatus::kUp      ? "still streaming its ranges in"
               : self.status == MemberStatus::kJoining ? "joining"
                                                       : "already leaving or left"));
  }
  size_t normal = 0;
  for (const auto& [mid, m] : n.membership.members()) {
    if (m.state.status == MemberStatus::kJoining || m.state.status == MemberStatus::kLeaving) {
      return Status::Unavailable(
          StrCat("node ", m.state.name, " is ",
                 m.state.status == MemberStatus::kJoining ? "joining" : "leaving",
                 "; one membership change at a time, retry once it is done"));
    }
    normal += Impl::InNormalRing(m.state) ? 1 : 0;
  }
  if (normal <= static_cast<size_t>(n.config.rf)) {
    return Status::InvalidArgument(StrCat("decommissioning would leave ", normal - 1,
                                          " nodes, fewer than the replication factor ",
                                          n.config.rf));
  }
  n.decommission_requested = true;
  return Status::Ok();
}

NodeCore::StreamStatus NodeCore::stream_status(TimeMs now) const {
  return impl_->StreamStatusAt(now);
}

}  // namespace causeway::cluster
