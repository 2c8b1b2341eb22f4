// Membership: the gossiped view of the cluster and the phi-accrual failure detector
// (docs/design.md, "Membership and failure detection").
//
// Every gossip round the node bumps its own heartbeat and pushes its view (bounded by
// kClusterNodesMax members) to kGossipFanout random live peers, sometimes also to a down member (to
// notice it coming back) and to a seed. The push carries our own state in full and a digest
// (id, generation, heartbeat, state hash) per other member; the receiver merges, updates
// heartbeat-only news from the digests, and answers with full states or digests of what the
// pusher lacks or holds older, plus the ids it needs in full; the pusher sends those (Scuttlebutt
// push-pull, cluster/messages.h GossipMessage). Merging keeps, per member, the state with the
// larger (generation, heartbeat).
// Whenever a member's heartbeat advances we record the arrival; phi = elapsed / mean interval *
// log10(e) (exponential inter-arrival model, as Cassandra); phi >= phi_convict means down.
//
// Sans-IO and deterministic given its seed and inputs. Not thread-safe.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "cluster/internal/bytes.h"
#include "cluster/messages.h"

namespace causeway::cluster::internal {

class Membership {
 public:
  struct Member {
    MemberState state;
    TimeMs last_arrival_ms = 0;         // when its heartbeat last advanced (in our view)
    std::deque<uint64_t> intervals_ms;  // recent inter-arrival times, <= kPhiWindowSamples
    uint64_t intervals_sum_ms = 0;      // sum of intervals_ms
    // False for a member restored from the persisted view until gossip brings news of it (a
    // newer state than the restored one): until then it is alive for kRestoredAliveMs after our
    // first tick (so a restarted node coordinates at once), and dead after that.
    bool heard = true;
    uint64_t state_hash = 0;  // MemberStateHash(state), kept current with `state`
  };

  Membership(MemberState self, std::vector<std::string> seeds, uint64_t gossip_interval_ms,
             double phi_convict, uint64_t rng_seed);

  // Runs a gossip round when one is due; true when it did.
  bool Tick(TimeMs now, Actions* out);
  // Pushes our view to `id` now (asking for a reply), besides the round's own targets.
  void PushTo(NodeId id, Actions* out) const;
  // The live members other than ourselves.
  std::vector<NodeId> LivePeers(TimeMs now) const;
  // Merges a peer's view; answers it when it asked.
  void OnGossip(NodeId from, const GossipMessage& message, TimeMs now, Actions* out);
  // Announces `status` (kLeaving/kLeft) to every live member at once.
  void Announce(MemberStatus status, TimeMs now, Actions* out);
  // Adds the members a previous incarnation persisted (NodeConfig::known_members), as not yet
  // heard from. Call before any gossip; our own entry and invalid entries are skipped.
  void Restore(const std::vector<MemberState>& known);
  // Sets our own tokens (after joining) and spreads them with the next round.
  void SetSelfTokens(std::vector<Token> tokens);
  // Sets whether we are catching up (NodeCore, "Catching up"); spreads with the next round.
  void SetSelfCatchingUp(bool catching_up);
  // Sets whether we are streaming our ranges in (bootstrap or rebuild); spreads with the next
  // round.
  void SetSelfBootstrapping(bool bootstrapping);

  bool IsAlive(NodeId id, TimeMs now) const;
  double Phi(const Member& m, TimeMs now) const;
  const Member* Find(NodeId id) const;
  std::string AddressOf(NodeId id) const;
  const MemberState& self() const { return members_.at(self_id_).state; }
  const std::map<NodeId, Member>& members() const { return members_; }
  // Bumped whenever a member's tokens or status change: the owner rebuilds its ring then.
  uint64_t ring_epoch() const { return ring_epoch_; }
  // Bumped whenever what the node persists of a member (all but heartbeat and generation)
  // changes, or a member is added: the owner persists its view then (rate-limited).
  uint64_t view_epoch() const { return view_epoch_; }
  // Whether, and when first, another node's gossip reached us.
  bool contacted() const { return contacted_; }
  TimeMs first_contact_ms() const { return first_contact_ms_; }
  // Tokens a previous incarnation of ours announced, as remembered by peers (empty: none).
  const std::vector<Token>& remembered_tokens() const { return remembered_tokens_; }

 private:
  static bool Valid(const MemberState& m);
  void MergeOne(const MemberState& incoming, TimeMs now);
  void MergeSelf(const MemberState& incoming);
  void RecordArrival(Member* m, TimeMs now);
  static MemberDigest DigestOf(const Member& m);
  void SetState(Member* m, MemberState state) const;
  void MergeDigest(const MemberDigest& d, TimeMs now, std::vector<NodeId>* wanted);
  GossipMessage Push(bool reply_wanted) const;
  GossipMessage Reply(const GossipMessage& push, std::vector<NodeId> wanted) const;
  GossipMessage States(const std::vector<NodeId>& ids) const;
  void SendTo(NodeId id, const std::string& address, bool reply_wanted, Actions* out) const;
  void ChooseTargets(TimeMs now, Actions* out);

  const NodeId self_id_;
  const std::vector<std::string> seeds_;
  const uint64_t gossip_interval_ms_;
  const double phi_convict_;
  Prng rng_;
  std::map<NodeId, Member> members_;  // includes ourselves
  TimeMs next_round_ms_ = 0;
  bool ticked_ = false;
  TimeMs first_tick_ms_ = 0;
  uint64_t ring_epoch_ = 1;
  uint64_t view_epoch_ = 1;
  bool contacted_ = false;
  TimeMs first_contact_ms_ = 0;
  std::vector<Token> remembered_tokens_;
};

}  // namespace causeway::cluster::internal
