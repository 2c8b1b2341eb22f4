// The scenario the simulator runs: options derived from a seed, client sessions, faults, and the
// settle phase with its final checks.
#include <algorithm>
#include <sstream>

#include "base/strings.h"
#include "sim.h"
#include "sim_internal.h"

namespace causeway::sim {

// ---- options ------------------------------------------------------------------------------------

namespace {

// Hint budgets of the seeds that overflow them: one hint of the simulator's keys and values
// (hint key plus version record) takes some 40-120 bytes, so these hold none to a few.
constexpr uint64_t kSmallHintBudgetMin = 32;
constexpr uint64_t kSmallHintBudgetMax = 256;
// Long outages: partitions and crash downtimes up to these, in a longer client phase.
constexpr uint64_t kLongPartitionMsMax = 15000;
constexpr uint64_t kLongDowntimeMsMax = 12000;
constexpr uint64_t kLongClientPhaseMs = 25000;
constexpr int kManyDeletesPercent = 35;
// Compactions (so the tombstone GC runs) every this much, per node, in the seeds that have them,
// with a tombstone grace longer than anything a write can spend in flight here (the request
// timeout, a peer call's timeout, slow messages) unless clocks are faulty: the grace is measured
// on the node's own clock, so it must exceed the clocks' error, and then nothing is purged.
constexpr uint64_t kCompactionMsMin = 6000;
constexpr uint64_t kTombstoneGraceMs = 5000;
// Half of the seeds exchange this often instead of every kAaeIntervalMsDefault.
constexpr uint64_t kFastAaeIntervalMs = 250;
constexpr int kSimJoinsMax = 3;          // joiners per membership seed, at most
constexpr uint64_t kAaeSlackMs = 10000;  // an exchange's own duration, and the heal's aftermath
static_assert(kFastAaeIntervalMs < kAaeIntervalMsDefault);
static_assert(kTombstoneGraceMs > kRequestTimeoutMsDefault + kPeerCallTimeoutMsDefault + 1000);

}  // namespace

SimOptions SimOptions::FromSeed(uint64_t seed, int nodes_override, SeedKind kind) {
  std::mt19937_64 r(seed * 0x9e3779b97f4a7c15ull + 17);
  SimOptions o;
  o.seed = seed;
  o.nodes = nodes_override > 0 ? nodes_override : 3 + static_cast<int>(r() % 5);
  o.rf = std::min(3, o.nodes);
  o.sessions = 2 + static_cast<int>(r() % 4);
  o.keys = 3 + static_cast<int>(r() % 6);
  const int profile = static_cast<int>(r() % 4);  // 0 clean, 1 lossy, 2 partitions, 3 both
  if (profile == 1 || profile == 3) {
    o.drop_probability = 0.01 * static_cast<double>(1 + r() % 8);
    o.duplicate_probability = 0.01 * static_cast<double>(r() % 5);
  }
  o.partitions = profile >= 2;
  o.asymmetric_partitions = o.partitions && r() % 2;
  o.crashes = r() % 3 != 0;
  o.durability = static_cast<Durability>(r() % 3);
  o.clock_faults = r() % 3 == 0;
  // Drawn after the knobs above, so that those keep the values they had before these existed.
  const bool small_hint_budget = r() % 3 == 0;
  const uint64_t hint_budget =
      kSmallHintBudgetMin + r() % (kSmallHintBudgetMax - kSmallHintBudgetMin);
  const bool long_outages = r() % 4 == 0;
  const bool many_deletes = r() % 3 == 0;
  const bool compactions = r() % 2 == 0;
  o.final_restart_all = r() % 2 == 0;
  const bool fast_aae = r() % 2 == 0;
  o.kind = kind;
  if (kind == SeedKind::kMembership) o.joins = 1 + static_cast<int>(r() % kSimJoinsMax);
  if (kind == SeedKind::kRepair) {
    o.partitions = true;
    o.crashes = true;
    if (o.durability == Durability::kAlways) o.durability = Durability::kPeriodic;
  }
  if (small_hint_budget || kind == SeedKind::kRepair) o.hint_bytes_per_target_max = hint_budget;
  if (long_outages || kind == SeedKind::kRepair) {
    if (!o.partitions && !o.crashes) o.crashes = true;
    o.partition_ms_max = kLongPartitionMsMax;
    o.downtime_ms_max = kLongDowntimeMsMax;
    o.client_phase_ms = kLongClientPhaseMs;
  }
  if (many_deletes || kind == SeedKind::kRepair) o.delete_percent = kManyDeletesPercent;
  if (fast_aae) o.aae_interval_ms = kFastAaeIntervalMs;
  if (compactions || kind == SeedKind::kRepair) {
    o.compaction_ms_min = kCompactionMsMin;
    if (!o.clock_faults) o.tombstone_grace_ms = kTombstoneGraceMs;
  }
  if (o.nodes >= 50) {  // large clusters: more clients, shorter run (each event costs more)
    o.sessions = 10;
    o.keys = 20;
    o.client_phase_ms = 8000;
    o.final_restart_all = false;
    o.compaction_ms_min = 0;
  }
  // Anti-entropy reaches a given peer once per (peers x interval): one exchange per interval,
  // round robin, ahead of it only for peers seen down and back. What only anti-entropy repairs
  // (hints over budget, written across an asymmetric partition that never convicted anyone) may
  // take that long after the heal.
  const uint64_t aae_ms = o.aae_interval_ms > 0 ? o.aae_interval_ms : kAaeIntervalMsDefault;
  const uint64_t peers = std::min<uint64_t>(
      static_cast<uint64_t>(o.nodes - 1),
      2 * static_cast<uint64_t>(o.rf - 1) * static_cast<uint64_t>(kTokensPerNodeDefault));
  o.converge_deadline_ms = std::max(o.converge_deadline_ms, peers * aae_ms + kAaeSlackMs);
  o.replay = "tests/sim/run --seed " + std::to_string(seed);
  if (nodes_override > 0) o.replay += " --nodes " + std::to_string(nodes_override);
  if (kind == SeedKind::kRepair) o.replay += " --kind repair";
  if (kind == SeedKind::kMembership) o.replay += " --kind membership";
  return o;
}

std::string SimOptions::Describe() const {
  static const char* kDurability[] = {"always", "periodic", "mixed"};
  std::ostringstream out;
  out << "seed=" << seed << " nodes=" << nodes << " rf=" << rf << " sessions=" << sessions
      << " keys=" << keys << " drop=" << drop_probability << " dup=" << duplicate_probability
      << " partitions=" << (partitions ? (asymmetric_partitions ? "asym" : "sym") : "no")
      << " crashes=" << (crashes ? "yes" : "no")
      << " durability=" << kDurability[static_cast<int>(durability)]
      << " clock_faults=" << (clock_faults ? "yes" : "no") << " outages_ms<=" << partition_ms_max
      << "/" << downtime_ms_max << " deletes=" << delete_percent << "%"
      << " hint_budget=" << hint_bytes_per_target_max
      << " compactions=" << (compaction_ms_min > 0 ? "yes" : "no")
      << " grace_ms=" << (tombstone_grace_ms > 0 ? tombstone_grace_ms : kTombstoneGraceMsDefault)
      << " aae_ms=" << (aae_interval_ms > 0 ? aae_interval_ms : kAaeIntervalMsDefault)
      << " restart_all=" << (final_restart_all ? "yes" : "no") << " joins=" << joins
      << (kind == SeedKind::kRepair ? " kind=repair" : "")
      << (kind == SeedKind::kMembership ? " kind=membership" : "");
  return out.str();
}

std::string SimReport::Summary() const {
  std::ostringstream out;
  out << "events=" << events << " messages=" << messages << " dropped=" << dropped
      << " ops ok/failed/unknown=" << ops_ok << "/" << ops_failed << "/" << ops_unknown
      << " crashes=" << crashes << " partitions=" << partitions << " clock_faults=" << clock_faults
      << " joins=" << joins << " hints_over_budget=" << hints_over_budget
      << " aae_messages=" << aae_messages << " compactions=" << compactions
      << " purged=" << tombstones_purged << " converge_ms=" << converge_ms << " sim_ms=" << sim_ms
      << " trace=" << std::hex << trace_hash;
  return out.str();
}

// ---- clients ------------------------------------------------------------------------------------

cluster::Consistency Simulator::RandomConsistency(int dflt, int* resolved) {
  const int rf = options_.rf;
  switch (rng_() % 5) {
    case 0:
      *resolved = dflt;
      return {};
    case 1:
      *resolved = 1;
      return cluster::Consistency::One();
    case 2:
      *resolved = rf / 2 + 1;
      return cluster::Consistency::Quorum();
    case 3:
      *resolved = rf;
      return cluster::Consistency::All();
    default:
      *resolved = static_cast<int>(Uniform(1, rf));
      return cluster::Consistency::Number(*resolved);
  }
}

void Simulator::StartClients() {
  clients_running_ = true;
  for (int i = 0; i < options_.sessions; ++i) {
    auto s = std::make_unique<Session>();
    s->index = i;
    sessions_.push_back(std::move(s));
    Schedule(Uniform(0, kClientThinkMsMax), [this, i] { ClientNext(*sessions_[i]); });
  }
}

int Simulator::RandomUpNode() {
  std::vector<int> up;
  for (const auto& n : nodes_) {
    if (n->up) up.push_back(n->index);
  }
  return up.empty() ? -1 : up[rng_() % up.size()];
}

// Issues the session's next operation through a random live coordinator.
void Simulator::ClientNext(Session& s) {
  if (!clients_running_) return;
  const int coordinator = RandomUpNode();
  if (coordinator < 0) {
    Schedule(100, [this, &s] { ClientNext(s); });
    return;
  }
  Op op;
  op.session = s.index;
  op.seq = s.seq++;
  const uint64_t dice = rng_() % 100;
  const uint64_t writes_end = 100 - static_cast<uint64_t>(options_.delete_percent);
  op.kind = dice < 50 ? OpKind::kRead : (dice < writes_end ? OpKind::kWrite : OpKind::kDelete);
  op.key = keys_[rng_() % keys_.size()];
  op.coordinator = coordinator;
  op.invoke_ms = now_;
  const uint64_t id = next_request_id_++;
  s.request = id;
  Node& n = *nodes_[coordinator];
  Schedule(kRequestTimeoutMsDefault + kClientGiveUpSlackMs, [this, id] { ClientGiveUp(id); });
  std::string_view scope[] = {op.key};
  if (op.kind == OpKind::kRead) {
    cluster::ClientRead req{op.key, RandomConsistency(1, &op.replicas), 0, s.token.ScopedTo(scope)};
    Trace(StrCat("s", s.index) + " read " + op.key + " via " + n.name);
    history_.push_back(op);
    pending_ops_[id] = history_.size() - 1;
    n.driver->StartRead(id, std::move(req));
  } else {
    cluster::ClientWrite req;
    req.key = op.key;
    req.tombstone = op.kind == OpKind::kDelete;
    if (!req.tombstone) op.value = req.value = StrCat("s", s.index) + StrCat("v", s.values++);
    req.w = RandomConsistency(2, &op.replicas);
    req.session = s.token.ScopedTo(scope);
    Trace(StrCat("s", s.index) + " write " + op.key + "=" + op.value + " via " + n.name);
    history_.push_back(op);
    pending_ops_[id] = history_.size() - 1;
    n.driver->StartWrite(id, std::move(req));
  }
}

void Simulator::ClientGiveUp(uint64_t request_id) {
  auto it = pending_ops_.find(request_id);
  if (it == pending_ops_.end()) return;
  Op& op = history_[it->second];
  op.outcome = OpOutcome::kIndeterminate;
  op.response_ms = now_;
  pending_ops_.erase(it);
  ++stats_.ops_unknown;
  Trace(StrCat("s", op.session) + " gave up #" + std::to_string(op.seq));
  Session& s = *sessions_[op.session];
  s.request = 0;
  Schedule(Uniform(0, kClientThinkMsMax), [this, &s] { ClientNext(s); });
}

void Simulator::OnReply(Node& n, cluster::RequestId id, const cluster::ClientResult& result) {
  auto it = pending_ops_.find(id);
  if (it == pending_ops_.end()) {
    Trace(n.name + " late reply #" + std::to_string(id));
    return;
  }
  Op& op = history_[it->second];
  pending_ops_.erase(it);
  op.response_ms = now_;
  op.code = result.status.code();
  op.nothing_written = result.status.message().find("nothing was written") != std::string::npos;
  op.outcome = result.status.ok() ? OpOutcome::kOk : OpOutcome::kFailed;
  if (result.status.ok() && result.version) {
    op.dot = SimDot{result.version->timestamp, result.version->writer};
    op.tombstone = result.version->tombstone;
    if (op.kind == OpKind::kRead) op.value = result.version->value;
  }
  ++(op.ok() ? stats_.ops_ok : stats_.ops_failed);
  Trace(n.name + " reply " + op.ToString());
  Session& s = *sessions_[op.session];
  if (result.status.ok() && result.version) {
    s.token.Observe(op.key, cluster::Dot{result.version->timestamp, result.version->writer});
  }
  s.request = 0;
  Schedule(Uniform(0, kClientThinkMsMax), [this, &s] { ClientNext(s); });
}

// ---- faults -------------------------------------------------------------------------------------

void Simulator::ScheduleChaos() {
  Schedule(Uniform(300, 2500), [this] { Chaos(); });
}

// With any `periodic` node, crashes come one at a time and at least one sync period plus margin
// apart, so a write acknowledged by two replicas survives on at least one of them (docs/
// design.md, "No acknowledged write lost"). With `always` everywhere, up to a third of the nodes
// may be down at once.
bool Simulator::MayCrashNow() const {
  int down = 0;
  for (const auto& n : nodes_) down += n->up ? 0 : 1;
  if (options_.durability != SimOptions::Durability::kAlways) {
    return down == 0 && (stats_.crashes == 0 ||
                         now_ > last_crash_ms_ + options_.periodic_sync_ms + kCrashSpacingSlackMs);
  }
  return down < std::max(1, static_cast<int>(nodes_.size()) / 3);
}

void Simulator::StartPartition() {
  side_.assign(nodes_.size(), 0);
  int ones = 0;
  for (auto& s : side_) ones += (s = static_cast<int>(rng_() % 2));
  if (ones == 0) side_[rng_() % side_.size()] = 1;
  if (ones == static_cast<int>(side_.size())) side_[rng_() % side_.size()] = 0;
  partitioned_ = true;
  partition_one_way_ = options_.asymmetric_partitions && rng_() % 2;
  ++stats_.partitions;
  std::string groups;
  for (int s : side_) groups += static_cast<char>('0' + s);
  Trace("partition " + groups + (partition_one_way_ ? " one-way" : ""));
  const uint64_t id = stats_.partitions;
  Schedule(Uniform(500, options_.partition_ms_max), [this, id] {
    if (partitioned_ && stats_.partitions == id) HealAll();
  });
}

int64_t Simulator::GoodSkew() {
  const uint64_t skew = options_.clock_skew_max_ms;
  return static_cast<int64_t>(Uniform(0, 2 * skew)) - static_cast<int64_t>(skew);
}

// Beyond any fence threshold (more than 2 x max offset), forward or back.
int64_t Simulator::BadSkew() {
  const int64_t magnitude =
      static_cast<int64_t>(Uniform(2 * kMaxClockOffsetMsDefault + 1, options_.clock_fault_max_ms));
  return Chance(0.5) ? magnitude : -magnitude;
}

void Simulator::SetSkew(Node& n, int64_t skew_ms) {
  n.skew_ms = skew_ms;
  n.physical->set_skew(skew_ms);
  Trace(StrCat(n.name, " clock ", skew_ms > 0 ? "+" : "", skew_ms, " ms"));
}

// A good clock jumps (forward or back, up to clock_fault_max_ms) while a minority is bad; a bad
// one is fixed.
void Simulator::ClockChaos() {
  Node& n = *nodes_[rng_() % nodes_.size()];
  int bad = 0;
  for (const auto& m : nodes_) bad += m->bad_clock ? 1 : 0;
  if (n.bad_clock) {
    n.bad_clock = false;
    SetSkew(n, GoodSkew());
  } else if ((bad + 1) * 2 < static_cast<int>(nodes_.size())) {
    n.bad_clock = true;
    SetSkew(n, BadSkew());
  } else {
    return;
  }
  ++stats_.clock_faults;
}

void Simulator::Chaos() {
  if (!chaos_running_) return;
  if (options_.clock_faults && Chance(0.4)) ClockChaos();
  if (options_.partitions && !partitioned_ && Chance(0.4)) StartPartition();
  if (stats_.joins < static_cast<uint64_t>(options_.joins) && Chance(0.2)) {
    ++stats_.joins;
    Trace("join n" + std::to_string(nodes_.size()));
    AddNode();
  }
  if (options_.crashes && MayCrashNow() && Chance(0.5)) {
    const int victim = RandomUpNode();
    if (victim >= 0) {
      Node& n = *nodes_[victim];
      last_crash_ms_ = now_;
      if (n.sync == SyncMode::kPeriodic) periodic_crashed_ = true;
      Crash(n);
      Schedule(Uniform(200, options_.downtime_ms_max), [this, victim] {
        if (!nodes_[victim]->up) StartNode(*nodes_[victim]);
      });
    }
  }
  ScheduleChaos();
}

// Compaction runs the tombstone GC (engine/internal/tombstone_filter.h) on what the node holds.
void Simulator::ScheduleCompaction(Node& n) {
  const uint64_t period = options_.compaction_ms_min;
  Schedule(Uniform(period, 2 * period), [this, i = n.index, inc = n.incarnation] {
    OnNode(i, inc, [this](Node& node) {
      Compact(node);
      ScheduleCompaction(node);
    });
  });
}

void Simulator::Compact(Node& n) {
  const uint64_t before = n.engine->GetStats().tombstones_purged;
  Status s = n.engine->CompactData();
  const uint64_t purged = n.engine->GetStats().tombstones_purged - before;
  ++stats_.compactions;
  stats_.tombstones_purged += purged;
  Trace(StrCat(n.name, " compact -> ", s.ok() ? "ok" : s.ToString(), " purged=", purged));
  if (!s.ok()) throw SimFailure(n.name + ": compact: " + s.ToString());
}

void Simulator::HealAll() {
  if (partitioned_) Trace("heal");
  partitioned_ = false;
}

}  // namespace causeway::sim
