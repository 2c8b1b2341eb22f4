// The whole run and its end: settle (heal, restart, wait with no client reads for the replicas
// to agree) and the final-state checks, resurrections included.
#include <algorithm>
#include <map>
#include <sstream>

#include "base/strings.h"
#include "base/token.h"
#include "sim.h"
#include "sim_internal.h"

namespace causeway::sim {

namespace {

constexpr uint64_t kMembershipDeadlineMs = 60000;
constexpr uint64_t kMembershipCheckMs = 100;
constexpr uint64_t kDrainDeadlineMs = 10000;
constexpr uint64_t kConvergeCheckMs = 100;  // how often the settle phase looks at the replicas
// Once converged, the replicas must stay so this long (hint replays and exchanges still running
// must not undo it) before the final checks.
constexpr uint64_t kConvergedStableMs = 3000;
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
  const uint64_t converge_ms = report.converge_ms;
  auto violations = std::move(report.violations);
  report = stats_;
  report.violations = std::move(violations);
  report.converge_ms = converge_ms;
  report.sim_ms = now_;
  report.trace_hash = trace_hash();
  for (size_t i = 0; i < trace_tail_.size(); ++i) {
    const std::string& line = trace_tail_[(trace_tail_next_ + i) % trace_tail_.size()];
    if (!line.empty()) report.trace_tail.push_back(line);
  }
}

// Stops clients and faults, heals, brings every node back, and then, with no client reads at
// all, waits for hints and anti-entropy to make every key's replicas agree; then checks the final
// state. Convergence is timed from the heal (membership converging is part of it).
void Simulator::Settle(SimReport& report) {
  clients_running_ = false;
  chaos_running_ = false;
  RunUntil([this] { return pending_ops_.empty(); }, kDrainDeadlineMs, kMembershipCheckMs);
  Trace("settle");
  for (const Op& op : history_) {
    if (op.kind == OpKind::kWrite) writes_by_value_[{op.key, op.value}] = &op;
  }
  for (DurableTombstone& t : ProtectedDeletes(history_, periodic_crashed_)) {
    durable_tombstones_[t.key].push_back(std::move(t));
  }
  const uint64_t healed_ms = now_;
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
  const uint64_t deadline = healed_ms + options_.converge_deadline_ms;
  std::vector<std::string> problems;
  if (!AwaitConvergence(deadline > now_ ? deadline - now_ : 0, &problems)) {
    for (const auto& p : problems) {
      report.violations.push_back(StrCat("not converged without client reads ",
                                         options_.converge_deadline_ms, " ms after healing: ", p));
    }
    CheckResurrections("after the convergence deadline", false);
    CheckFinalState(report, false);
    return;
  }
  report.converge_ms = std::max<uint64_t>(now_ - healed_ms, 1);
  Trace(StrCat("converged after ", report.converge_ms, " ms"));
  bool converged = StaysConverged(report, "converging");
  if (converged && options_.compaction_ms_min > 0) {
    // The GC's turn, now that watermarks had time to rise: every node compacts twice (the first
    // folds merge operands into records, the second filters those), purging what they allow.
    for (auto& n : nodes_) {
      Compact(*n);
      Compact(*n);
    }
    converged = StaysConverged(report, "a compaction of every node");
  }
  CheckFinalState(report, converged);
}

bool Simulator::StaysConverged(SimReport& report, const std::string& after) {
  RunFor(kConvergedStableMs);
  std::vector<std::string> problems;
  if (Converged(&problems)) {
    CheckResurrections("converged after " + after, true);
    return true;
  }
  CheckResurrections("after " + after, false);
  for (const auto& p : problems) {
    report.violations.push_back(
        StrCat("diverged again within ", kConvergedStableMs, " ms of ", after, ": ", p));
  }
  return false;
}

bool Simulator::AwaitConvergence(uint64_t deadline_ms, std::vector<std::string>* problems) {
  const uint64_t end = now_ + deadline_ms;
  while (true) {
    CheckResurrections("while settling", false);
    problems->clear();
    if (Converged(problems)) return true;
    if (now_ >= end) return false;
    RunFor(std::min(kConvergeCheckMs, end - now_));
  }
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

Hlc Simulator::WatermarkOf(int index, const std::string& key) const {
  const Token token = TokenOf(key);
  for (const SpanWatermark& m : nodes_[index]->watermarks) {
    if (m.span.Contains(token)) return m.watermark;
  }
  return 0;
}

// Convergence: every replica of every key holds the same version (or none does), and no node
// holds a hint any more. A tombstone below the GC watermark that any replica of the key's core
// set counts as none: that watermark says the tombstone reached every replica, and each may purge
// it once its own watermark passes it (whether it still is there is the compaction schedule's
// accident).
bool Simulator::Converged(std::vector<std::string>* problems) {
  const size_t before = problems->size();
  for (const std::string& key : keys_) {
    const std::vector<int> replicas = Replicas(key, problems);
    Hlc purgeable_below = 0;
    for (int i : replicas) purgeable_below = std::max(purgeable_below, WatermarkOf(i, key));
    std::optional<SimDot> first;
    bool have_first = false;
    std::string seen;
    bool differ = false;
    for (int i : replicas) {
      auto v = ReadEngine(i, key);
      std::optional<SimDot> dot;
      if (v && !(v->tombstone && v->timestamp < purgeable_below)) {
        dot = SimDot{v->timestamp, v->writer};
      }
      seen += " " + nodes_[i]->name + "=" + DotString(dot);
      if (v && v->tombstone) seen += dot ? "T" : "(purgeable tombstone)";
      if (!have_first) {
        first = dot;
        have_first = true;
      } else if (first != dot) {
        differ = true;
      }
    }
    if (differ) problems->push_back("replicas of " + key + " differ:" + seen);
  }
  // A hint still held is a write that has not reached its replica yet: agreeing without it is
  // not the end.
  for (const auto& n : nodes_) {
    std::string held;
    for (const HintTargetBytes& t : n->engine->HintTargets()) {
      const int target = IndexOf(t.target, "");
      held += StrCat(" ", t.hints, " for ", target >= 0 ? nodes_[target]->name : "?");
    }
    if (!held.empty()) problems->push_back(n->name + " still holds hints:" + held);
  }
  return problems->size() == before;
}

// No acknowledged write lost: every replica of every key holds the newest acknowledged write
// that the durability rule protects, or a newer version (unconverged: some replica does).
void Simulator::CheckFinalState(SimReport& report, bool converged) {
  // What survives was really written, and stamped near the true time of its write: a write
  // refused "nothing was written", or one stamped by a bad clock, must leave nothing behind.
  const auto& writes = writes_by_value_;
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
    std::vector<std::string> ignored, behind;
    const std::vector<int> replicas = Replicas(f.key, &ignored);
    auto purged = newest_tombstone_applied_.find(f.key);
    for (int i : replicas) {
      auto v = ReadEngine(i, f.key);
      std::optional<SimDot> held;
      if (v) held = SimDot{v->timestamp, v->writer};
      // Nothing where the GC may have purged a tombstone at least as new: deleted, not lost.
      if (!held &&
          (f.write->kind == OpKind::kDelete ||
           (purged != newest_tombstone_applied_.end() && !DotAfter(f.dot, purged->second)))) {
        continue;
      }
      if (DotAfter(f.dot, held)) behind.push_back(nodes_[i]->name + " holds " + DotString(held));
    }
    // Unconverged (already reported), a replica behind may still be repaired: lost means that
    // no replica has it.
    if (behind.empty() || (!converged && behind.size() < replicas.size())) continue;
    for (const std::string& b : behind) {
      report.violations.push_back("acknowledged write lost: " + b + " for " + f.key +
                                  ", newest acknowledged is " + f.write->ToString());
    }
  }
}

// ---- no deleted key resurrected
// ------------------------------------------------------------------

void Simulator::NoteTombstoneApplied(Node& n, const std::string& key, const Version& v) {
  if (!v.tombstone) return;
  auto [newest, fresh] = newest_tombstone_applied_.try_emplace(key, SimDot{v.timestamp, v.writer});
  if (!fresh && DotAfter(SimDot{v.timestamp, v.writer}, newest->second)) {
    newest->second = SimDot{v.timestamp, v.writer};
  }
  DurableTombstone t{key, SimDot{v.timestamp, v.writer}, now_, n.index, ""};
  if (n.sync == SyncMode::kAlways) {
    t.source = StrCat("applied on ", n.name, " at ", now_, " ms");
    durable_tombstones_[key].push_back(std::move(t));
  } else {
    n.unsynced_tombstones.push_back(std::move(t));
  }
}

void Simulator::NoteSynced(Node& n) {
  for (DurableTombstone& t : n.unsynced_tombstones) {
    t.source = StrCat("applied on ", n.name, " at ", t.at_ms, " ms, synced at ", now_, " ms");
    t.at_ms = now_;
    durable_tombstones_[t.key].push_back(std::move(t));
  }
  n.unsynced_tombstones.clear();
}

void Simulator::CheckResurrections(const std::string& when, bool global) {
  std::vector<std::string> ignored;
  for (const std::string& key : keys_) {
    auto it = durable_tombstones_.find(key);
    if (it == durable_tombstones_.end()) continue;
    for (int i : Replicas(key, &ignored)) {
      auto v = ReadEngine(i, key);
      if (!v || v->tombstone) continue;
      const std::string seen_key = nodes_[i]->name + " " + key;
      if (resurrections_seen_.count(seen_key) != 0) continue;
      std::vector<DurableTombstone> candidates;
      for (const DurableTombstone& t : it->second) {
        if (global || t.node == i) candidates.push_back(t);
      }
      auto w = writes_by_value_.find({key, v->value});
      const Op* write = w == writes_by_value_.end() ? nullptr : w->second;
      auto past = ResurrectedPast(candidates, SimDot{v->timestamp, v->writer}, write);
      if (!past) continue;
      resurrections_seen_[seen_key] = true;
      violations_.push_back(
          StrCat("deleted key resurrected (", when, "): ", nodes_[i]->name, " holds ", key, "=",
                 v->value, " ", DotString(SimDot{v->timestamp, v->writer}), " written by ",
                 write ? write->ToString() : "?", ", older than the tombstone ",
                 DotString(past->dot), " durable since ", past->at_ms, " ms (", past->source, ")"));
    }
  }
}

}  // namespace causeway::sim
