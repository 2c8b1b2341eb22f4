// The whole run and its end: settle (heal, restart, repair) and the final-state checks.
#include <algorithm>
#include <map>
#include <sstream>

#include "sim.h"
#include "sim_internal.h"

namespace causeway::sim {

namespace {

constexpr uint64_t kMembershipDeadlineMs = 60000;
constexpr uint64_t kMembershipCheckMs = 100;
constexpr uint64_t kDrainDeadlineMs = 10000;
constexpr uint64_t kQuietMs = 2000;  // after each repair round: read repair lands
constexpr int kRepairRoundsMax = 4;
constexpr uint64_t kNetworkMarginMs = 200;  // message delays between a stamp and its answer

// The pairwise offset of clocks allowed to stamp: each within the fence threshold of the others'
// median, so at most twice it apart; plus the network's share.
uint64_t StampSlackMs() {
  return 2 * static_cast<uint64_t>(kClockFenceFractionDefault *
                                   static_cast<double>(kMaxClockOffsetMsDefault)) +
         kNetworkMarginMs;
}

}  // namespace

// "Knows" means: sees it up and alive, with the tokens it owns (so it routes to it).
bool Simulator::AllKnow(const std::vector<NodeId>& ids) {
  for (const auto& n : nodes_) {
    if (!n->up) continue;
    auto members = n->driver->core().Members(n->Mono(now_));
    for (NodeId id : ids) {
      auto it = std::find_if(members.begin(), members.end(),
                             [id](const cluster::MemberView& m) { return m.state.id == id; });
      if (it == members.end() || !it->alive || it->state.status != cluster::MemberStatus::kUp) {
        return false;
      }
      const Node& target = *nodes_[IndexOf(id, "")];
      if (!target.up || it->state.tokens.empty() ||
          it->state.tokens != target.driver->core().tokens()) {
        return false;
      }
    }
  }
  return true;
}

std::vector<NodeId> Simulator::AllIds() const {
  std::vector<NodeId> ids;
  for (const auto& n : nodes_) ids.push_back(n->id);
  return ids;
}

SimReport Simulator::Run() {
  SimReport report;
  try {
    Trace("options " + options_.Describe());
    for (int i = 0; i < options_.nodes; ++i) AddNode();
    if (!RunUntil([this] { return AllKnow(AllIds()); }, kMembershipDeadlineMs,
                  kMembershipCheckMs)) {
      report.violations.push_back("initial membership did not converge within " +
                                  std::to_string(kMembershipDeadlineMs) + " ms");
    } else {
      StartClients();
      chaos_running_ = true;
      ScheduleChaos();
      RunFor(options_.client_phase_ms);
      Settle(report);
    }
  } catch (const SimFailure& e) {
    report.violations.push_back(std::string("simulation aborted: ") + e.what());
  }
  for (const auto& v : violations_) report.violations.push_back(v);
  for (const auto& v : CheckSessionGuarantees(history_)) report.violations.push_back(v);
  for (const auto& v : CheckReadIntegrity(history_)) report.violations.push_back(v);
  for (const auto& v : CheckRealTimeOrder(history_, StampSlackMs())) report.violations.push_back(v);
  for (const auto& v : CheckStampsNearTrueTime(history_, kSimEpochMs, StampSlackMs())) {
    report.violations.push_back(v);
  }
  FillReport(report);
  return report;
}

void Simulator::FillReport(SimReport& report) {
  const uint64_t rounds = report.repair_rounds;
  auto violations = std::move(report.violations);
  report = stats_;
  report.violations = std::move(violations);
  report.repair_rounds = rounds;
  report.sim_ms = now_;
  report.trace_hash = trace_hash();
  for (size_t i = 0; i < trace_tail_.size(); ++i) {
    const std::string& line = trace_tail_[(trace_tail_next_ + i) % trace_tail_.size()];
    if (!line.empty()) report.trace_tail.push_back(line);
  }
}

// Stops clients and faults, heals, brings every node back, waits for membership, then repairs
// with R=all reads until every key's replicas agree; then checks the final state.
void Simulator::Settle(SimReport& report) {
  clients_running_ = false;
  chaos_running_ = false;
  RunUntil([this] { return pending_ops_.empty(); }, kDrainDeadlineMs, kMembershipCheckMs);
  Trace("settle");
  HealAll();
  faults_enabled_ = false;
  for (auto& n : nodes_) {
    if (n->bad_clock) {
      n->bad_clock = false;
      SetSkew(*n, GoodSkew());
    }
  }
  for (auto& n : nodes_) {
    if (!n->up) {
      StartNode(*n);
    } else if (options_.final_restart_all) {
      CleanRestart(*n);
    }
  }
  if (!RunUntil([this] { return AllKnow(AllIds()); }, kMembershipDeadlineMs, kMembershipCheckMs)) {
    report.violations.push_back("membership did not converge after healing");
    return;
  }
  RunFor(kQuietMs);
  std::vector<std::string> problems;
  while (!Converged(&problems) && report.repair_rounds < kRepairRoundsMax) {
    ++report.repair_rounds;
    RepairRound();
    problems.clear();
  }
  CheckFinalState(report);
}

// One R=all read of every key, through a different coordinator per key, with a fresh session.
void Simulator::RepairRound() {
  Trace("repair round");
  for (size_t k = 0; k < keys_.size(); ++k) {
    Node& n = *nodes_[k % nodes_.size()];
    Op op;
    op.session = -1;
    op.kind = OpKind::kRead;
    op.key = keys_[k];
    op.coordinator = n.index;
    op.replicas = options_.rf;
    op.invoke_ms = now_;
    const uint64_t id = next_request_id_++;
    history_.push_back(op);
    pending_ops_[id] = history_.size() - 1;
    cluster::ClientRead req{op.key, cluster::Consistency::All(), 0, ""};
    Schedule(kRequestTimeoutMsDefault + kClientGiveUpSlackMs, [this, id] { ClientGiveUp(id); });
    n.driver->StartRead(id, std::move(req));
  }
  RunUntil([this] { return pending_ops_.empty(); }, kDrainDeadlineMs, kMembershipCheckMs);
  RunFor(kQuietMs);
}

std::optional<Version> Simulator::ReadEngine(int index, const std::string& key) {
  auto r = nodes_[index]->engine->Get(key);
  if (!r.ok())
    throw SimFailure(nodes_[index]->name + ": Get " + key + ": " + r.status().ToString());
  return std::move(*r);
}

// The preference list of `key` if every node agrees on it; empty (and a problem) otherwise.
std::vector<int> Simulator::Replicas(const std::string& key, std::vector<std::string>* problems) {
  const std::vector<NodeId> pref = nodes_[0]->driver->core().PreferenceList(key);
  for (const auto& n : nodes_) {
    if (n->driver->core().PreferenceList(key) != pref) {
      problems->push_back("preference lists of " + key + " differ between n0 and " + n->name);
      return {};
    }
  }
  std::vector<int> out;
  for (NodeId id : pref) out.push_back(IndexOf(id, ""));
  if (static_cast<int>(out.size()) != options_.rf) {
    problems->push_back("preference list of " + key + " has " + std::to_string(out.size()) +
                        " nodes, rf is " + std::to_string(options_.rf));
  }
  return out;
}

// Convergence: every replica of every key holds the same version (or none does).
bool Simulator::Converged(std::vector<std::string>* problems) {
  const size_t before = problems->size();
  for (const std::string& key : keys_) {
    std::optional<SimDot> first;
    bool have_first = false;
    std::string seen;
    bool differ = false;
    for (int i : Replicas(key, problems)) {
      auto v = ReadEngine(i, key);
      std::optional<SimDot> dot;
      if (v) dot = SimDot{v->timestamp, v->writer};
      seen += " " + nodes_[i]->name + "=" + DotString(dot);
      if (!have_first) {
        first = dot;
        have_first = true;
      } else if (first != dot) {
        differ = true;
      }
    }
    if (differ) problems->push_back("replicas of " + key + " differ:" + seen);
  }
  return problems->size() == before;
}

// No acknowledged write lost: every replica of every key holds the newest acknowledged write
// that the durability rule protects, or a newer version.
void Simulator::CheckFinalState(SimReport& report) {
  std::vector<std::string> problems;
  Converged(&problems);
  for (auto& p : problems) report.violations.push_back("convergence: " + p);
  // What survives was really written, and stamped near the true time of its write: a write
  // refused "nothing was written", or one stamped by a bad clock, must leave nothing behind.
  std::map<std::pair<std::string, std::string>, const Op*> writes;  // (key, value) -> write
  for (const Op& op : history_) {
    if (op.kind == OpKind::kWrite) writes[{op.key, op.value}] = &op;
  }
  for (const std::string& key : keys_) {
    std::vector<std::string> ignored;
    for (int i : Replicas(key, &ignored)) {
      auto v = ReadEngine(i, key);
      if (!v || v->tombstone) continue;
      auto w = writes.find({key, v->value});
      if (w == writes.end()) continue;  // CheckReadIntegrity's business
      const Op& op = *w->second;
      if (op.nothing_written) {
        report.violations.push_back(nodes_[i]->name + " holds a write refused with \"nothing " +
                                    "was written\": " + op.ToString());
      }
      const uint64_t stamped = HlcPhysicalMs(v->timestamp);
      if (stamped + StampSlackMs() < kSimEpochMs + op.invoke_ms ||
          stamped > kSimEpochMs + std::max(op.response_ms, op.invoke_ms) + StampSlackMs()) {
        report.violations.push_back(nodes_[i]->name + " holds " + key + " stamped " +
                                    DotString(SimDot{v->timestamp, v->writer}) +
                                    ", far from the true time of its write: " + op.ToString());
      }
    }
  }
  for (const KeyFloor& f : NewestAcknowledgedWrites(history_, periodic_crashed_)) {
    std::vector<std::string> ignored;
    for (int i : Replicas(f.key, &ignored)) {
      auto v = ReadEngine(i, f.key);
      std::optional<SimDot> held;
      if (v) held = SimDot{v->timestamp, v->writer};
      if (DotAfter(f.dot, held)) {
        report.violations.push_back("acknowledged write lost: " + nodes_[i]->name + " holds " +
                                    f.key + "=" + DotString(held) + ", newest acknowledged is " +
                                    f.write->ToString());
      }
    }
  }
}

}  // namespace causeway::sim
