// The simulator's in-memory network: delays, reordering, drops, duplicates and partitions, with
// the transport's contract (cluster/ports.h): every request (replicate, read, anti-entropy) gets
// exactly one outcome at its sender, its answer or OnSendFailed once the peer call's deadline
// passes (lost on the way there, lost on the way back, or never answered); a lost one-way
// message (gossip) is reported at its deadline too; the sender of an answer is told nothing.
#include <tuple>

#include "base/strings.h"
#include "sim.h"
#include "sim_internal.h"

namespace causeway::sim {

namespace {

// The id of a request that expects an answer (nullopt: an answer, or gossip).
std::optional<cluster::RequestId> CallId(const cluster::PeerMessage& m) {
  if (const auto* r = std::get_if<cluster::ReplicateRequest>(&m)) return r->id;
  if (const auto* r = std::get_if<cluster::ReadRequest>(&m)) return r->id;
  if (const auto* r = std::get_if<cluster::AaeHashRequest>(&m)) return r->id;
  if (const auto* r = std::get_if<cluster::AaeDigestRequest>(&m)) return r->id;
  if (const auto* r = std::get_if<cluster::StreamRequest>(&m)) return r->id;
  return std::nullopt;
}

}  // namespace

int Simulator::IndexOf(NodeId id, const std::string& address) const {
  for (const auto& n : nodes_) {
    if ((id != 0 && n->id == id) || (id == 0 && n->address == address)) return n->index;
  }
  return -1;
}

bool Simulator::Blocked(int from, int to) const {
  if (!partitioned_ || from == to || side_[from] == side_[to]) return false;
  return !partition_one_way_ || side_[from] == 0;
}

void Simulator::Send(Node& from, NodeId to_id, const std::string& address,
                     cluster::PeerMessage message) {
  ++stats_.messages;
  const bool aae = std::holds_alternative<cluster::AaeHashRequest>(message) ||
                   std::holds_alternative<cluster::AaeDigestRequest>(message);
  if (aae) ++stats_.aae_messages;
  const int to = IndexOf(to_id, address);
  if (to >= 0) to_id = nodes_[to]->id;
  if (auto id = CallId(message)) StartCall(from, to_id, *id, message);
  const std::string what = DescribeMessage(message);
  if (to < 0) {
    Trace(from.name + " -> ? " + address + " unknown " + what);
    Lost(from.index, from.incarnation, to_id, message, now_);
    return;
  }
  if (to != from.index && (Blocked(from.index, to) || (aae && options_.sabotage_no_anti_entropy) ||
                           (faults_enabled_ && Chance(options_.drop_probability)))) {
    ++stats_.dropped;
    Trace(from.name + " -> n" + std::to_string(to) + " dropped " + what);
    Lost(from.index, from.incarnation, to_id, message, now_);
    return;
  }
  const int copies = (faults_enabled_ && Chance(options_.duplicate_probability)) ? 2 : 1;
  Trace(from.name + " -> n" + std::to_string(to) + " x" + std::to_string(copies) + " " + what);
  for (int c = 0; c < copies; ++c) {
    uint64_t delay = to == from.index ? 0 : Uniform(options_.delay_min_ms, options_.delay_max_ms);
    if (to != from.index && Chance(options_.slow_probability)) delay *= 10;
    Schedule(delay, [this, f = from.index, to, inc = from.incarnation, m = message, sent = now_] {
      Deliver(f, to, inc, m, sent);
    });
  }
}

void Simulator::Deliver(int from, int to, uint64_t from_incarnation, const cluster::PeerMessage& m,
                        uint64_t sent_ms) {
  Node& target = *nodes_[to];
  if (!target.up || Blocked(from, to)) {
    ++stats_.dropped;
    Trace(StrCat("n", from) + " -> " + target.name + " lost " + DescribeMessage(m));
    Lost(from, from_incarnation, target.id, m, sent_ms);
    return;
  }
  if (auto id = cluster::ResponseId(m)) {
    // The answer completes the call of this incarnation of its requester, if still waiting.
    auto call = calls_.find({to, target.incarnation, *id});
    if (call == calls_.end() || call->second.settled) {
      Trace(StrCat("n", from) + " => " + target.name + " late " + DescribeMessage(m));
      return;
    }
    call->second.settled = true;
  }
  Trace(StrCat("n", from) + " => " + target.name + " " + DescribeMessage(m));
  target.driver->OnPeerMessage(nodes_[from]->id, m);
}

void Simulator::StartCall(Node& from, NodeId to, cluster::RequestId id,
                          const cluster::PeerMessage& request) {
  const CallKey key{from.index, from.incarnation, id};
  calls_[key] = Call{to, request, false};
  Schedule(kPeerCallTimeoutMsDefault, [this, key] {
    auto it = calls_.find(key);
    if (it == calls_.end()) return;
    const Call call = std::move(it->second);
    calls_.erase(it);
    if (call.settled) return;
    OnNode(std::get<0>(key), std::get<1>(key), [&](Node& node) {
      Trace(node.name + " send-failed " + DescribeMessage(call.request));
      node.driver->OnSendFailed(call.to, call.request);
    });
  });
}

// A request's loss is its call's business (reported at the deadline); an answer's sender is told
// nothing; a one-way message's sender hears of it when its deadline passes.
void Simulator::Lost(int from, uint64_t from_incarnation, NodeId to, const cluster::PeerMessage& m,
                     uint64_t sent_ms) {
  if (CallId(m) || cluster::ResponseId(m)) return;
  const uint64_t at = sent_ms + kPeerCallTimeoutMsDefault;
  Schedule(at > now_ ? at - now_ : 0, [this, from, from_incarnation, to, m] {
    OnNode(from, from_incarnation, [&](Node& node) {
      Trace(node.name + " send-failed " + DescribeMessage(m));
      node.driver->OnSendFailed(to, m);
    });
  });
}

}  // namespace causeway::sim
