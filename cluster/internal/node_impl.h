// NodeCore::Impl: the state of one node's core and the glue between its parts (membership,
// ring, coordinator, clock monitor, hint replayer, anti-entropy, the replica side). Private to
// cluster/node.cc; a header only so that the core's parts stay readable one file each.
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/assert.h"
#include "base/strings.h"
#include "cluster/internal/anti_entropy.h"
#include "cluster/internal/clock_monitor.h"
#include "cluster/internal/coordinator.h"
#include "cluster/internal/hint_replayer.h"
#include "cluster/internal/membership.h"
#include "cluster/internal/streamer.h"
#include "cluster/node.h"
#include "cluster/persist.h"
#include "cluster/ring.h"

namespace causeway::cluster {
namespace internal {

inline MemberState SelfState(const NodeConfig& config, NodeId id) {
  MemberState s;
  s.id = id;
  s.name = config.name;
  s.address = config.address;
  s.tokens = config.tokens;
  s.generation = config.generation;
  return s;
}

inline bool HasOtherSeed(const NodeConfig& config) {
  for (const auto& s : config.seeds) {
    if (s != config.address) return true;
  }
  return false;
}

// A persisted view counts only if it names another live-or-down member: a view of ourselves alone
// says nothing about the ring (and is never persisted, see MaybePersist).
inline bool HasPersistedView(const NodeConfig& config, NodeId self) {
  for (const auto& m : config.known_members) {
    if (m.id != self && m.status != MemberStatus::kLeft) return true;
  }
  return false;
}

// Our tokens: the configured ones, else those our persisted view remembers for us.
inline std::vector<Token> InitialTokens(const NodeConfig& config, NodeId self) {
  if (!config.tokens.empty()) return config.tokens;
  for (const auto& m : config.known_members) {
    if (m.id == self && m.status != MemberStatus::kLeft) return m.tokens;
  }
  return {};
}

}  // namespace internal

using internal::HasOtherSeed;
using internal::HasPersistedView;
using internal::InitialTokens;
using internal::SelfState;

struct NodeCore::Impl final : internal::ClusterView {
  Impl(NodeConfig c, HybridClock* hlc)
      : config(std::move(c)),
        clock(hlc),
        id(NodeIdFromName(config.name)),
        membership(SelfState(config, id), config.seeds, config.gossip_interval_ms,
                   config.phi_convict, config.rng_seed != 0 ? config.rng_seed : id),
        coordinator(config, clock, this, &counters),
        clock_monitor(clock->max_offset_ms(), config.clock_fence_fraction),
        hints(config.hint_replay_bytes_per_s, [this](NodeId n) { return AddressOf(n); }),
        aae(config.aae_interval_ms, config.aae_bytes_per_s,
            internal::AntiEntropy::Hooks{[this](NodeId n) { return AddressOf(n); },
                                         [this](const Version& v) { return AcceptPulled(v); }}),
        streamer(config.stream_bytes_per_s,
                 internal::Streamer::Hooks{[this](NodeId n) { return AddressOf(n); },
                                           [this](const Version& v) { return AcceptPulled(v); }}) {
    membership.Restore(config.known_members);
    tokens = InitialTokens(config, id);
    joining = tokens.empty();
    persisted_view = HasPersistedView(config, id);
    // A tokenless node with peers to ask may be a replacement whose peers still hold its tokens
    // (Membership::MergeOne keeps them): until it has rebuilt, it must not be read from.
    catching_up = persisted_view || (joining && HasOtherSeed(config));
    membership.SetSelfCatchingUp(catching_up);
    aae.SetUrgent(catching_up);
    start_wall_ms = clock->PhysicalNowMs();
    if (!joining && tokens != config.tokens) FinishJoin(tokens);  // restored from the view
    if (joining && !HasOtherSeed(config))
      FinishJoin(Ring::HashTokens(config.name, config.tokens_per_node));
    if (!joining) ResumeStream();
    SyncRing();
    UpdateReady(0);
    JudgeClock(0);
  }

  // ---- ClusterView
  NodeId self_id() const override { return id; }
  std::vector<NodeId> Replicas(std::string_view key) const override {
    return ring.PreferenceList(TokenOf(key), config.rf);
  }
  std::vector<NodeId> PendingReplicas(std::string_view key) const override {
    if (!changes_pending) return {};
    const Token t = TokenOf(key);
    std::vector<NodeId> now_list = ring.PreferenceList(t, config.rf), pending;
    for (NodeId n : future.PreferenceList(t, config.rf)) {
      if (std::find(now_list.begin(), now_list.end(), n) == now_list.end()) pending.push_back(n);
    }
    return pending;
  }
  bool IsAlive(NodeId node, TimeMs now) const override { return membership.IsAlive(node, now); }
  Result<std::vector<NodeId>> CoordinatorReplicas(std::string_view key) const override {
    if (!ready) return Status::Unavailable("node is joining; retry or use another endpoint");
    std::vector<NodeId> list = Replicas(key);
    // The ring is built from the membership view we own: a shorter list would place writes on
    // the wrong nodes, so it stops the node rather than answer (always on, like KJ_ASSERT).
    CW_ASSERT(list.size() >= ExpectedReplicas(),
              "preference list shorter than min(rf, placed members)");
    return list;
  }
  std::string AddressOf(NodeId node) const override {
    return node == id ? config.address : membership.AddressOf(node);
  }
  Status StampGate() const override { return clock_monitor.Gate(); }
  bool CatchingUp(NodeId node, TimeMs) const override {
    if (node == id) return catching_up;
    const internal::Membership::Member* m = membership.Find(node);
    return m != nullptr && m->state.catching_up;
  }
  // A version anti-entropy fetched from a peer, before we apply it: as a replicated write.
  Status AcceptPulled(const Version& v) {
    Status s = ValidateVersion(v);
    if (s.ok()) s = CheckWriter(v.writer, 0);
    if (!s.ok()) return s;
    s = clock->Update(v.timestamp);
    if (s.code() == ErrorCode::kClockSkew) counters.clock_skew_rejections++;
    if (s.ok()) max_replicated_ms = std::max(max_replicated_ms, HlcPhysicalMs(v.timestamp));
    return s;
  }

  // Forged metadata (docs/design.md, "Threat model"): a version whose writer is neither us, the
  // member sending it, nor any member we know (members are never forgotten, so old writers stay
  // known) was not written through this cluster, and is refused on every path that applies
  // another node's versions (replicate, hints, anti-entropy, streaming).
  Status CheckWriter(NodeId writer, NodeId from) const {
    if (writer == id || (from != 0 && writer == from) || membership.Find(writer) != nullptr) {
      return Status::Ok();
    }
    return Status::InvalidArgument(
        StrCat("version written by node ", writer, ", which is not a member of this cluster"));
  }

  // ---- catching up after being away (docs/design.md, "Catching up")
  // A node restarted with a persisted view was away: until the writes it missed have arrived it
  // reads other replicas first. Writes stamped before its start that reach it are that catch-up
  // (replayed hints, read repair); it is caught up once none has come for kCatchUpQuietMs after
  // it is in touch with the cluster, or at the latest kCatchUpMaxMs after its start.
  void NoteReplicated(const Version& v, TimeMs now) {
    if (catching_up && HlcPhysicalMs(v.timestamp) < start_wall_ms) last_catch_up_ms = now;
  }
  void MaybeCaughtUp(TimeMs now) {
    if (!catching_up || joining || streamer.active() ||
        membership.self().status == MemberStatus::kJoining) {
      return;  // a stream in (bootstrap, rebuild) comes first; catching up starts after it
    }
    if (!catch_up_clock) catch_up_clock = true, catch_up_started_ms = now, last_catch_up_ms = now;
    const bool quiet = membership.contacted() && now >= last_catch_up_ms + kCatchUpQuietMs &&
                       now >= membership.first_contact_ms() + kCatchUpQuietMs &&
                       aae.ExchangedAllSince(catch_up_started_ms,
                                             [&](NodeId n) { return membership.IsAlive(n, now); });
    const bool bound = now >= catch_up_started_ms + kCatchUpMaxMs;
    if (!quiet && !bound) return;
    catching_up = false;
    membership.SetSelfCatchingUp(false);
    aae.SetUrgent(false);
    caught_up_by_bound = !quiet;
    caught_up_after_ms = now - catch_up_started_ms;
  }
  std::vector<NodeId> HintHolders(std::string_view key, size_t n, TimeMs now) const override {
    std::vector<NodeId> out;
    if (n == 0) return out;
    const size_t rf = static_cast<size_t>(std::max(config.rf, 0));
    const std::vector<NodeId> ring_order =
        ring.PreferenceList(TokenOf(key), static_cast<int>(rf + n + kHintHolderSlack));
    for (size_t i = rf; i < ring_order.size() && out.size() < n; ++i) {
      if (membership.IsAlive(ring_order[i], now)) out.push_back(ring_order[i]);
    }
    return out;
  }

  // ---- the clock-offset monitor (cluster/internal/clock_monitor.h)
  // Every input first compares the wall clock with the monotonic one; a step is judged at once.
  void ObserveClock(TimeMs now) {
    if (clock_monitor.Observe(now, clock->PhysicalNowMs())) JudgeClock(now);
  }
  void JudgeClock(TimeMs now) {
    // As the join guard: a node whose seeds never answer serves alone after kJoinWaitMsMax.
    const bool gave_up = join_clock_started && now >= join_started_ms + kJoinWaitMsMax;
    // A cluster member whose clock stepped with no peer sample since (isolated, or just
    // restarted) waits for one too: the give-up is for a clock that did not move.
    const bool awaiting = HasOtherSeed(config) && ((!membership.contacted() && !gave_up) ||
                                                   clock_monitor.stepped_since_sample());
    clock_monitor.Evaluate(membership.LivePeers(now), awaiting, now);
  }
  // Stamps the gossip among `out[from...]` with our wall clock, and pushes with their send time
  // (the peer's reply echoes it: one offset sample).
  void StampGossip(Actions* out, size_t from, TimeMs now) const {
    const uint64_t wall_ms = clock->PhysicalNowMs();
    for (size_t i = from; i < out->size(); ++i) {
      auto* send = std::get_if<SendAction>(&(*out)[i]);
      auto* gossip = send != nullptr ? std::get_if<GossipMessage>(&send->message) : nullptr;
      if (gossip == nullptr) continue;
      gossip->wall_ms = wall_ms;
      if (gossip->reply_wanted) gossip->probe_ms = now;
    }
  }
  // After a gossip round: also push to the live peers whose clock sample is missing or old.
  void ProbeClocks(TimeMs now, Actions* out) const {
    std::set<NodeId> pushed;
    for (const Action& a : *out) {
      if (const auto* send = std::get_if<SendAction>(&a)) pushed.insert(send->to);
    }
    for (NodeId peer :
         clock_monitor.WantSamples(membership.LivePeers(now), now, kClockProbesPerRound)) {
      if (pushed.count(peer) == 0) membership.PushTo(peer, out);
    }
  }
  void OnGossip(NodeId from, const GossipMessage& m, TimeMs now, Actions* out) {
    if (m.echo_ms != 0 && from != id) {
      clock_monitor.OnSample(from, m.wall_ms, m.echo_ms, now, clock->PhysicalNowMs());
    }
    const size_t first = out->size();
    membership.OnGossip(from, m, now, out);
    StampGossip(out, first, now);
    SyncRing();
    UpdateReady(now);
    JudgeClock(now);
  }

  void FinishJoin(std::vector<Token> chosen) {
    tokens = std::move(chosen);
    joining = false;
    tokens_unpersisted = tokens != config.tokens;
    membership.SetSelfTokens(tokens);
  }

  // Members on the ring that places reads (and writes, with the pending replicas): kUp and
  // kLeaving ones with tokens. The future ring (after the changes in progress) holds kUp and
  // kJoining ones.
  static bool InNormalRing(const MemberState& m) {
    return !m.tokens.empty() &&
           (m.status == MemberStatus::kUp || m.status == MemberStatus::kLeaving);
  }
  static bool InFutureRing(const MemberState& m) {
    return !m.tokens.empty() &&
           (m.status == MemberStatus::kUp || m.status == MemberStatus::kJoining);
  }

  // The invariant behind every preference list: min(rf, known members on the normal ring)
  // distinct nodes. Counted from the membership view itself, not from the ring built from it.
  size_t ExpectedReplicas() const {
    size_t placed = 0;
    for (const auto& [mid, m] : membership.members()) {
      if (InNormalRing(m.state)) placed++;
    }
    return std::min(placed, static_cast<size_t>(std::max(config.rf, 0)));
  }

  // Join guard (docs/design.md, "Restart and join safety"): a node coordinates once it
  // has tokens and knows the ring -- from a persisted view, from a peer's gossip, or because it
  // is its own only seed -- or, a lone seed whose peers never answered, after kJoinWaitMsMax.
  void UpdateReady(TimeMs now) {
    if (ready || joining) return;
    ready = persisted_view || !HasOtherSeed(config) || membership.contacted() ||
            (join_clock_started && now >= join_started_ms + kJoinWaitMsMax);
  }

  // Asks the driver to store our tokens once chosen, and our member view when it changed (at
  // most every kMembersPersistIntervalMs unless `force`). A view of ourselves alone is never
  // stored: on restart it would pass for a complete ring.
  void MaybePersist(TimeMs now, bool force, Actions* out) {
    if (tokens_unpersisted && !tokens.empty()) {
      out->push_back(PersistMetaAction{std::string(kMetaTokens), EncodeTokens(tokens)});
      tokens_unpersisted = false;
    }
    if (membership.view_epoch() == view_epoch_persisted || membership.members().size() < 2) return;
    if (!force && members_persisted && now < last_persist_ms + kMembersPersistIntervalMs) return;
    std::vector<MemberState> view;
    view.reserve(membership.members().size());
    for (const auto& [mid, m] : membership.members()) view.push_back(m.state);
    out->push_back(PersistMetaAction{std::string(kMetaMembers), EncodeMembers(view)});
    view_epoch_persisted = membership.view_epoch();
    members_persisted = true;
    last_persist_ms = now;
  }

  // Our clock's Last() minus the tombstone grace (0 while that is not positive).
  Hlc GraceFloor() const {
    const uint64_t physical_ms = HlcPhysicalMs(clock->Last());
    return physical_ms <= config.tombstone_grace_ms
               ? 0
               : HlcMake(physical_ms - config.tombstone_grace_ms, 0);
  }
  // The watermark of the range holding `token`: below it a tombstone may be purged, and a
  // replayed hint is dropped.
  Hlc WatermarkAt(Token token) const {
    return std::min(aae.WatermarkAt(token, clock->Last()), GraceFloor());
  }
  // The tombstone GC policy (docs/design.md, "Tombstone GC"): every watermark interval
  // (and on the first tick once the clock has stamped), per range: the anti-entropy watermark,
  // at most the grace floor.
  void MaybeMoveWatermark(TimeMs now, Actions* out) {
    if (watermark_moved && now < last_watermark_ms + config.tombstone_watermark_interval_ms) {
      return;
    }
    const Hlc floor = GraceFloor();
    if (floor == 0) return;  // nothing stamped yet: ask again
    std::vector<SpanWatermark> spans = aae.Watermarks(clock->Last());
    for (SpanWatermark& m : spans) m.watermark = std::min(m.watermark, floor);
    watermark_moved = true;
    last_watermark_ms = now;
    out->push_back(SetTombstoneWatermarkAction{std::move(spans)});
  }

  // Tokens for a node that joins a running cluster: those a previous incarnation announced, if
  // peers remember them; otherwise the balanced allocation, done for every joiner of our cohort
  // in id order, so concurrent joiners that see the same view choose disjoint tokens. The cohort
  // is every member we saw without tokens while joining, even if its tokens reached us since:
  // joiners that allocate in the same round, a few messages apart, would otherwise each see a
  // different mix of placed and tokenless peers and choose overlapping slices.
  std::vector<Token> TokensFromView() const {
    if (!membership.remembered_tokens().empty()) return membership.remembered_tokens();
    std::map<NodeId, std::vector<Token>> placed;
    std::vector<const MemberState*> joiners;
    for (const auto& [mid, m] : membership.members()) {
      if (m.state.status == MemberStatus::kLeft) continue;
      const bool tokenless_up = m.state.tokens.empty() && m.state.status == MemberStatus::kUp;
      if (join_cohort.count(mid) != 0 || mid == id || tokenless_up) {
        joiners.push_back(&m.state);
      } else if (!m.state.tokens.empty()) {
        placed[mid] = m.state.tokens;
      }
    }
    Ring view;
    view.Assign(std::move(placed));
    for (const MemberState* j : joiners) {
      std::vector<Token> t = view.AllocateTokens(j->name, config.tokens_per_node);
      if (j->id == id) return t;
      view.SetNode(j->id, std::move(t));
    }
    return Ring::HashTokens(config.name, config.tokens_per_node);  // unreachable: we are a joiner
  }

  // A joiner allocates once its view has stopped growing for kJoinSettleIntervals rounds (so
  // that joiners started together allocate from the same cohort), but at most kJoinWaitMsMax
  // after the first answer; with no answer by kJoinWaitMsMax it falls back to hashed tokens.
  void MaybeJoin(TimeMs now, Actions* out) {
    if (!join_clock_started) join_clock_started = true, join_started_ms = now;
    if (!joining) return;
    for (const auto& [mid, m] : membership.members()) {
      if (m.state.tokens.empty() && m.state.status == MemberStatus::kUp) join_cohort.insert(mid);
    }
    if (membership.members().size() != join_view_size) {
      join_view_size = membership.members().size();
      join_view_grew_ms = now;
    }
    const uint64_t settle = kJoinSettleIntervals * config.gossip_interval_ms;
    if (membership.contacted()) {
      const TimeMs first = membership.first_contact_ms();
      if (now >= std::max(first, join_view_grew_ms) + settle || now >= first + kJoinWaitMsMax) {
        JoinWith(now, out);
      }
    } else if (now >= join_started_ms + kJoinWaitMsMax && !config.replace) {
      FinishJoin(Ring::HashTokens(config.name, config.tokens_per_node));
    }
  }

  void SyncRing() {
    if (membership.ring_epoch() == ring_epoch_seen) return;
    ring_epoch_seen = membership.ring_epoch();
    std::map<NodeId, std::vector<Token>> now_nodes, future_nodes;
    changes_pending = false;
    for (const auto& [mid, m] : membership.members()) {
      if (InNormalRing(m.state)) now_nodes[mid] = m.state.tokens;
      if (InFutureRing(m.state)) future_nodes[mid] = m.state.tokens;
      changes_pending |= InNormalRing(m.state) != InFutureRing(m.state);
    }
    ring.Assign(std::move(now_nodes));
    future.Assign(changes_pending ? std::move(future_nodes)
                                  : std::map<NodeId, std::vector<Token>>());
    aae.SetRanges(OurRanges());
  }

  // The ranges we replicate, for anti-entropy: the ring's arcs that list us, one range per
  // replica set (its spans in token order, adjacent ones merged).
  std::vector<internal::AntiEntropy::Range> OurRanges() const {
    std::map<std::vector<NodeId>, std::vector<TokenSpan>> by_peers;
    for (Ring::Arc& arc : ring.ReplicaArcs(config.rf)) {
      if (std::find(arc.replicas.begin(), arc.replicas.end(), id) == arc.replicas.end()) continue;
      std::vector<NodeId> peers;
      for (NodeId n : arc.replicas) {
        if (n != id) peers.push_back(n);
      }
      std::sort(peers.begin(), peers.end());
      std::vector<TokenSpan>& spans = by_peers[peers];
      if (!spans.empty() && spans.back().last + 1 == arc.span.first) {
        spans.back().last = arc.span.last;  // arcs come in token order
      } else {
        spans.push_back(arc.span);
      }
    }
    std::vector<internal::AntiEntropy::Range> out;
    out.reserve(by_peers.size());
    for (auto& [peers, spans] : by_peers) out.push_back({std::move(spans), peers});
    return out;
  }

  // ---- membership changes (cluster/node_changes.cc; docs/design.md, "Membership changes")
  // A span of the ring whose preference list differs between the normal and the future ring.
  struct ArcChange {
    TokenSpan span;
    std::vector<NodeId> before, after;
  };
  std::vector<ArcChange> ArcChanges() const;
  // Tokens chosen while joining a running cluster: a rebuild if they are our own remembered ones,
  // a bootstrap if the cluster has members with data, else at once kUp (a new cluster).
  void JoinWith(TimeMs now, Actions* out);
  // From a persisted kMetaBootstrap: a bootstrap or rebuild that a crash interrupted goes on.
  void ResumeStream();
  // Each tick: starts, follows and ends the streams, the join and the decommission.
  void MaybeStream(TimeMs now, Actions* out);
  void BeginCatchUp();
  std::vector<internal::StreamTask> BootstrapTasks() const;
  std::vector<internal::StreamTask> RebuildTasks() const;
  std::vector<internal::StreamTask> GainTasks() const;
  // A leaver's hand-over: per gainer, the spans it gains from us.
  std::map<NodeId, std::vector<TokenSpan>> Handover() const;
  void MaybeLeave(TimeMs now, Actions* out);
  NodeCore::StreamStatus StreamStatusAt(TimeMs now) const;

  void Reply(NodeId to, PeerMessage message, Actions* out) const {
    out->push_back(SendAction{to, AddressOf(to), std::move(message)});
  }

  // ---- replica side
  void OnReplicate(NodeId from, const ReplicateRequest& r, TimeMs now, Actions* out) {
    Status s = ValidateKey(r.key);
    if (s.ok()) s = ValidateVersion(r.version);
    if (s.ok()) s = CheckWriter(r.version.writer, from);
    if (s.ok()) {
      s = clock->Update(r.version.timestamp);
      if (s.code() == ErrorCode::kClockSkew) counters.clock_skew_rejections++;
      if (r.hint_for == 0) NoteReplicated(r.version, now);
      // Within our max offset: a timestamp a (trusted) coordinator stamped. While our own wall
      // clock is not trusted, the ceiling may follow these instead (NodeCore::CeilingBaseMs).
      if (s.code() != ErrorCode::kClockSkew) {
        max_replicated_ms = std::max(max_replicated_ms, HlcPhysicalMs(r.version.timestamp));
      }
    }
    if (s.ok() && storage_ops.size() >= kNodeInFlightRequestsMax) {
      s = Status::Overloaded("replica has too many storage operations in flight");
    }
    if (!s.ok()) return Reply(from, ReplicateResponse{r.id, std::move(s)}, out);
    if (r.replayed_hint && r.version.timestamp < WatermarkAt(TokenOf(r.key))) {
      // Acknowledged, so its holder deletes it: a delete newer than it may be purged here.
      counters.hints_dropped++;
      return Reply(from, ReplicateResponse{r.id, Status::Ok()}, out);
    }
    uint64_t op = next_op_id++;
    StorageAction a;
    a.op_id = op;
    a.key = r.key;
    a.version = r.version;
    if (r.hint_for != 0 && r.hint_for != id) {  // we stand in for a replica that is down
      storage_ops[op] = StorageOp{from, r.id, StorageOp::kHint, r.hint_for};
      a.kind = StorageAction::Kind::kPutHint;
      a.target = r.hint_for;
    } else {
      storage_ops[op] = StorageOp{from, r.id, StorageOp::kApply, 0};
      a.kind = StorageAction::Kind::kApply;
    }
    out->push_back(std::move(a));
  }

  void OnRead(NodeId from, const ReadRequest& r, Actions* out) {
    Status s = ValidateKey(r.key);
    if (s.ok() && storage_ops.size() >= kNodeInFlightRequestsMax) {
      s = Status::Overloaded("replica has too many storage operations in flight");
    }
    if (!s.ok()) return Reply(from, ReadResponse{r.id, std::move(s), std::nullopt}, out);
    uint64_t op = next_op_id++;
    storage_ops[op] = StorageOp{from, r.id, StorageOp::kRead, 0};
    StorageAction a;
    a.op_id = op;
    a.kind = StorageAction::Kind::kRead;
    a.key = r.key;
    out->push_back(std::move(a));
  }

  struct StorageOp {
    enum Kind { kApply, kRead, kHint };
    NodeId from = 0;
    RequestId peer_id = 0;
    Kind kind = kApply;
    NodeId hint_for = 0;  // kHint: the replica we keep it for
  };

  NodeConfig config;
  HybridClock* clock;
  NodeId id;
  std::vector<Token> tokens;
  bool joining = false;
  bool ready = false;           // may coordinate client requests (UpdateReady)
  bool persisted_view = false;  // config.known_members names another member
  bool tokens_unpersisted = false;
  bool members_persisted = false;
  uint64_t view_epoch_persisted = 0;
  TimeMs last_persist_ms = 0;
  bool join_clock_started = false;
  bool watermark_moved = false;
  TimeMs last_watermark_ms = 0;
  std::set<NodeId> join_cohort;  // members seen without tokens while we were joining
  size_t join_view_size = 0;     // members known at the last tick while joining...
  TimeMs join_view_grew_ms = 0;  // ...and when that number last changed
  TimeMs join_started_ms = 0;
  Counters counters;
  internal::Membership membership;
  Ring ring;
  uint64_t ring_epoch_seen = 0;
  internal::Coordinator coordinator;
  internal::ClockMonitor clock_monitor;
  internal::HintReplayer hints;
  internal::AntiEntropy aae;
  internal::Streamer streamer;
  Ring future;                   // the ring once the changes in progress complete
  bool changes_pending = false;  // some member is joining or leaving: `future` differs
  TimeMs join_announced_ms = 0;  // when we announced kJoining (this incarnation)
  bool join_announced = false;
  uint64_t gain_epoch = 0;  // the ring epoch our gain tasks were planned for
  bool decommission_requested = false, decommissioned = false;
  TimeMs leave_started_ms = 0, last_served_ms = 0;
  uint64_t served_pages_seen = 0;
  std::map<NodeId, TimeMs> gainer_down_since;
  std::set<NodeId> seen_down;  // peers our detector saw down since they were last up
  double handover_fraction = 0;
  Status stream_error;       // why a membership change cannot go on (shown by stream_status)
  bool catching_up = false;  // see NoteReplicated
  bool catch_up_clock = false, caught_up_by_bound = false;
  TimeMs catch_up_started_ms = 0, last_catch_up_ms = 0, caught_up_after_ms = 0;
  uint64_t start_wall_ms = 0;
  uint64_t max_replicated_ms = 0;  // physical part of the newest version replicated to us
  std::map<uint64_t, StorageOp> storage_ops;
  uint64_t next_op_id = 1;
};

}  // namespace causeway::cluster
