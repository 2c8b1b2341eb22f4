// The simulator's engine: the event queue, the trace, the nodes' lives (start, crash, restart)
// and the in-memory network. Clients, faults and the checks are in sim_run.cc.
#include "sim.h"

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <xxhash.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/strings.h"
#include "cluster/startup.h"
#include "rpc/engine_ports.h"
#include "sim_internal.h"
#include "support/fault_fs.h"

namespace causeway::sim {

namespace {

constexpr size_t kTraceTailLines = 40;

// RocksDB preallocates each WAL to 1.1x the write buffer (70 MB by default). On tmpfs that is
// real memory: 100 nodes would pin 7 GB. The simulator's files are tiny, so it turns
// preallocation off under the fault-injecting file system.
class NoPreallocationFs final : public rocksdb::FileSystemWrapper {
 public:
  using FileSystemWrapper::FileSystemWrapper;
  const char* Name() const override { return "SimNoPreallocationFs"; }
  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* d) override {
    return target()->NewWritableFile(f, NoFallocate(o), r, d);
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* d) override {
    return target()->ReopenWritableFile(f, NoFallocate(o), r, d);
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* d) override {
    return target()->ReuseWritableFile(f, old, NoFallocate(o), r, d);
  }

 private:
  static rocksdb::FileOptions NoFallocate(const rocksdb::FileOptions& o) {
    rocksdb::FileOptions copy(o);
    copy.allow_fallocate = false;
    return copy;
  }
};

template <typename T>
T Check(Result<T> r, const std::string& what) {
  if (!r.ok()) throw SimFailure(what + ": " + r.status().ToString());
  return std::move(r).value();
}

void Check(const Status& s, const std::string& what) {
  if (!s.ok()) throw SimFailure(what + ": " + s.ToString());
}

std::string BaseDir(const SimOptions& o) {
  if (!o.base_dir.empty()) return o.base_dir;
  if (const char* d = std::getenv("CAUSEWAY_SIM_DIR")) return d;
  // tmpfs makes fdatasync free; the fault-injecting Env decides what survives power loss anyway.
  if (std::filesystem::is_directory("/dev/shm")) return "/dev/shm";
  if (const char* d = std::getenv("TMPDIR")) return d;
  return "/tmp";
}

std::string VersionString(const Version& v) {
  std::ostringstream out;
  out << DotString(SimDot{v.timestamp, v.writer}) << (v.tombstone ? "T" : "");
  return out.str();
}

}  // namespace

std::string DescribeMessage(const cluster::PeerMessage& m) {
  std::ostringstream out;
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, cluster::ReplicateRequest>) {
          out << "replicate#" << x.id << " " << x.key << " " << VersionString(x.version);
        } else if constexpr (std::is_same_v<T, cluster::ReplicateResponse>) {
          out << "replicate-ack#" << x.id << " " << ErrorCodeName(x.status.code());
        } else if constexpr (std::is_same_v<T, cluster::ReadRequest>) {
          out << "read#" << x.id << " " << x.key;
        } else if constexpr (std::is_same_v<T, cluster::ReadResponse>) {
          out << "read-ack#" << x.id << " " << ErrorCodeName(x.status.code()) << " "
              << (x.version ? VersionString(*x.version) : "none");
        } else if constexpr (std::is_same_v<T, cluster::AaeHashRequest>) {
          out << "aae-hash#" << x.id << " spans=" << x.spans.size();
          if (!x.spans.empty()) out << " from=" << std::hex << x.spans[0].first << std::dec;
        } else if constexpr (std::is_same_v<T, cluster::AaeHashResponse>) {
          out << "aae-hash-ack#" << x.id << " " << ErrorCodeName(x.status.code())
              << " hashes=" << x.hashes.size();
        } else if constexpr (std::is_same_v<T, cluster::AaeDigestRequest>) {
          out << "aae-digest#" << x.id << " after=" << x.after_key;
        } else if constexpr (std::is_same_v<T, cluster::AaeDigestResponse>) {
          out << "aae-digest-ack#" << x.id << " " << ErrorCodeName(x.status.code())
              << " n=" << x.digests.size() << (x.more ? "+" : "");
        } else if constexpr (std::is_same_v<T, cluster::StreamRequest>) {
          out << "stream#" << x.id << " spans=" << x.spans.size() << " after=" << x.after_key;
        } else if constexpr (std::is_same_v<T, cluster::StreamResponse>) {
          out << "stream-ack#" << x.id << " " << ErrorCodeName(x.status.code())
              << " n=" << x.versions.size() << (x.more ? "+" : "");
        } else {
          uint64_t beats = 0;
          for (const auto& mem : x.members) beats += mem.heartbeat + mem.generation;
          out << "gossip m=" << x.members.size() << " h=" << beats << (x.reply_wanted ? " ?" : "");
        }
      },
      m);
  return out.str();
}

Simulator::Simulator(SimOptions options) : options_(std::move(options)), rng_(options_.seed) {
  trace_state_ = XXH64_createState();
  XXH64_reset(static_cast<XXH64_state_t*>(trace_state_), options_.seed);
  trace_tail_.resize(kTraceTailLines);
  std::string tmpl =
      BaseDir(options_) + "/causeway-sim-" + std::to_string(options_.seed) + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw SimFailure("mkdtemp " + tmpl);
  dir_ = tmpl;
  for (int k = 0; k < options_.keys; ++k) keys_.push_back(StrCat("k", k));
  if (const char* path = std::getenv("CAUSEWAY_SIM_TRACE")) trace_file_.open(path);
}

Simulator::~Simulator() {
  for (auto& n : nodes_) {
    n->driver.reset();
    n->ports.reset();
    n->hlc.reset();
    n->ceiling.reset();
    n->engine.reset();
    n->env.reset();
    n->fs.reset();
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  XXH64_freeState(static_cast<XXH64_state_t*>(trace_state_));
}

// ---- the event queue and the trace ------------------------------------------------------------

void Simulator::Schedule(uint64_t delay_ms, std::function<void()> fn) {
  events_.push(Event{now_ + delay_ms, event_seq_++, std::move(fn)});
}

bool Simulator::Step() {
  if (events_.empty()) return false;
  // priority_queue::top() is const; the event is copied out before it is popped.
  Event e = events_.top();
  events_.pop();
  now_ = e.at;
  ++stats_.events;
  e.fn();
  return true;
}

void Simulator::RunFor(uint64_t ms) {
  const uint64_t end = now_ + ms;
  while (!events_.empty() && events_.top().at <= end) Step();
  now_ = end;
}

bool Simulator::RunUntil(const std::function<bool()>& pred, uint64_t deadline_ms,
                         uint64_t check_ms) {
  const uint64_t end = now_ + deadline_ms;
  while (now_ < end) {
    if (pred()) return true;
    RunFor(check_ms);
  }
  return pred();
}

void Simulator::Trace(const std::string& line) {
  std::string full = std::to_string(now_) + " " + line + "\n";
  XXH64_update(static_cast<XXH64_state_t*>(trace_state_), full.data(), full.size());
  trace_tail_[trace_tail_next_++ % trace_tail_.size()] = full;
  if (trace_file_.is_open()) trace_file_ << full;
}

uint64_t Simulator::trace_hash() const {
  return XXH64_digest(static_cast<XXH64_state_t*>(trace_state_));
}

uint64_t Simulator::Uniform(uint64_t lo, uint64_t hi) {
  return lo + rng_() % (hi - lo + 1);  // the modulo bias is irrelevant here; determinism is not
}

bool Simulator::Chance(double p) {
  return p > 0 && static_cast<double>(rng_() >> 11) * 0x1.0p-53 < p;
}

// ---- nodes --------------------------------------------------------------------------------------

NodeId Simulator::node_id(int index) const { return nodes_[index]->id; }

void Simulator::AddNode() {
  auto n = std::make_unique<Node>();
  n->index = static_cast<int>(nodes_.size());
  n->name = StrCat("n", n->index);
  n->address = "sim-" + n->name + ":7000";
  n->id = NodeIdFromName(n->name);
  n->dir = dir_ + "/" + n->name;
  const bool periodic = options_.durability == SimOptions::Durability::kPeriodic ||
                        (options_.durability == SimOptions::Durability::kMixed && rng_() % 2);
  n->sync = periodic ? SyncMode::kPeriodic : SyncMode::kAlways;
  n->skew_ms = GoodSkew();
  // With clock faults, one node in three starts with a bad clock (a minority: n0 never does).
  if (options_.clock_faults && n->index % 3 == 2) {
    n->skew_ms = BadSkew();
    n->bad_clock = true;
  }
  n->mono_base_ms = Uniform(1000, 1000000);
  n->physical = std::make_unique<ManualPhysicalClock>(&now_, n->skew_ms);
  n->fs = std::make_shared<testing::FaultInjectionFs>();
  n->env = rocksdb::NewCompositeEnv(std::make_shared<NoPreallocationFs>(n->fs));
  Node& ref = *n;
  nodes_.push_back(std::move(n));
  StartNode(ref);
}

void Simulator::StartNode(Node& n) {
  EngineOptions eo;
  eo.dir = n.dir;
  eo.sync = n.sync;
  eo.periodic_sync_ms = kEngineSyncerOffMs;
  eo.block_cache_bytes = 1 << 20;
  eo.env = n.env.get();
  eo.hint_bytes_per_target_max = options_.hint_bytes_per_target_max;
  n.engine = Check(Engine::Open(eo), n.name + ": open engine");
  // As serve does: the ceiling lives in the engine and, once open, the driver renews it.
  const uint64_t max_offset_ms = options_.sabotage_trust_bad_clocks
                                     ? 10 * options_.clock_fault_max_ms
                                     : kMaxClockOffsetMsDefault;
  n.ceiling = std::make_unique<cluster::CeilingStore>(n.engine.get(), max_offset_ms);
  n.hlc = Check(HybridClock::Open(n.physical.get(), n.ceiling.get(), max_offset_ms),
                n.name + ": open clock");
  // Now() returns more than Last(), so starting at Last() >= everything handed out before is
  // what "never goes backwards" needs.
  if (n.hlc->Last() < n.last_hlc) {
    violations_.push_back("HLC went backwards across a restart of " + n.name + ": " +
                          std::to_string(n.last_hlc) + " then " + std::to_string(n.hlc->Last()));
  }

  cluster::NodeConfig cfg;
  cfg.name = n.name;
  cfg.address = n.address;
  for (int i = 0; i < std::min(3, static_cast<int>(nodes_.size())); ++i) {
    cfg.seeds.push_back(nodes_[i]->address);
  }
  cfg.rf = options_.rf;
  if (options_.aae_interval_ms > 0) cfg.aae_interval_ms = options_.aae_interval_ms;
  if (options_.tombstone_grace_ms > 0) {
    cfg.tombstone_grace_ms = options_.tombstone_grace_ms;
    cfg.tombstone_watermark_interval_ms = kSimWatermarkIntervalMs;
  }
  // Identity, tokens, member view and generation, as serve restores them (cluster/startup.h).
  EngineMetaStore meta(n.engine.get());
  cluster::StartupNotes notes;
  cfg = Check(cluster::RestoreIdentity(meta, std::move(cfg), &notes), n.name + ": restore");
  n.generation = cfg.generation;
  cfg.rng_seed = options_.seed * 1000003 + static_cast<uint64_t>(n.index) * 101 + n.generation;
  n.ports = std::make_unique<NodePorts>(this, &n);
  n.driver = std::make_unique<cluster::NodeDriver>(
      std::move(cfg), n.hlc.get(),
      cluster::DriverPorts{n.ports.get(), n.ports.get(), n.ports.get(), n.ports.get(),
                           n.ceiling.get()});
  n.up = true;
  ++n.incarnation;
  n.watermarks.clear();
  Trace("start " + n.name + " gen=" + std::to_string(n.generation) +
        " hlc=" + std::to_string(n.hlc->Last()) +
        " view=" + std::to_string(n.driver->core().config().known_members.size()));
  ScheduleTick(n);
  if (n.sync == SyncMode::kPeriodic) SchedulePeriodicSync(n);
  if (options_.compaction_ms_min > 0) ScheduleCompaction(n);
}

// Power loss: the process dies and the disk keeps only what was synced.
void Simulator::Crash(Node& n) {
  Trace("crash " + n.name);
  ++stats_.crashes;
  n.up = false;
  ++n.incarnation;
  n.last_hlc = n.hlc->Last();
  n.driver.reset();
  n.ports.reset();
  n.hlc.reset();
  n.ceiling.reset();
  // Nothing the dying process does from here (the engine's destructor syncs the WAL) may reach
  // the disk; then everything not synced before is dropped.
  n.fs->SetActive(false);
  n.engine.reset();
  n.fs->DropUnsyncedData();
  n.fs->SetActive(true);
  n.unsynced_tombstones.clear();
}

// A process restart without power loss (the page cache survives: nothing is lost).
void Simulator::CleanRestart(Node& n) {
  Trace("clean-restart " + n.name);
  n.up = false;
  ++n.incarnation;
  n.last_hlc = n.hlc->Last();
  n.driver.reset();
  n.ports.reset();
  n.hlc.reset();
  n.ceiling.reset();
  n.engine.reset();  // syncs the WAL: nothing is lost
  NoteSynced(n);
  StartNode(n);
}

void Simulator::OnNode(int index, uint64_t incarnation, const std::function<void(Node&)>& fn) {
  Node& n = *nodes_[index];
  if (!n.up || n.incarnation != incarnation) return;
  fn(n);
}

void Simulator::ScheduleTick(Node& n) {
  Schedule(Uniform(10, 20), [this, i = n.index, inc = n.incarnation] {
    OnNode(i, inc, [this](Node& node) {
      node.driver->Tick();
      ScheduleTick(node);
    });
  });
}

// The `periodic` durability mode's background WAL sync, in simulated time.
void Simulator::SchedulePeriodicSync(Node& n) {
  Schedule(options_.periodic_sync_ms, [this, i = n.index, inc = n.incarnation] {
    OnNode(i, inc, [this](Node& node) {
      Check(node.engine->SyncWal(), node.name + ": SyncWal");
      NoteSynced(node);
      SchedulePeriodicSync(node);
    });
  });
}

// ---- the driver's ports ----------------------------------------------------------------------

void Simulator::NodePorts::Send(NodeId to, const std::string& address,
                                cluster::PeerMessage message) {
  sim_->Send(*node_, to, address, std::move(message));
}

void Simulator::NodePorts::Run(cluster::StorageAction action) { sim_->RunStorage(*node_, action); }

// Synced at once, like the server's pool (a crash right after it keeps the record); the
// completion comes as a later event.
void Simulator::NodePorts::StoreMeta(std::string name, std::string value) {
  Simulator& sim = *sim_;
  Node& n = *node_;
  sim.Trace(n.name + " persist " + name + " " + std::to_string(value.size()));
  Status s = n.engine->StoreMeta(name, value);
  Check(s, n.name + ": store " + name);
  sim.Schedule(0, [&sim, i = n.index, inc = n.incarnation, name = std::move(name), s] {
    sim.OnNode(i, inc, [&](Node& node) { node.driver->OnMetaStored(name, s); });
  });
}

void Simulator::NodePorts::SetTombstoneWatermarks(std::vector<SpanWatermark> marks) {
  Hlc lowest = ~Hlc{0}, highest = 0;
  size_t unset = 0;
  for (const SpanWatermark& m : marks) {
    lowest = std::min(lowest, m.watermark);
    highest = std::max(highest, m.watermark);
    unset += m.watermark == 0 ? 1 : 0;
  }
  sim_->Trace(StrCat(node_->name, " watermarks ", marks.size(), " unset ", unset, " lowest ",
                     marks.empty() ? 0 : lowest, " highest ", highest));
  node_->watermarks = marks;
  if (sim_->options_.sabotage_eager_tombstone_gc) {
    node_->engine->SetTombstoneWatermark(~Hlc{0});
  } else {
    node_->engine->SetTombstoneWatermarks(std::move(marks));
  }
}

// Synced at once (a crash right after it keeps the ceiling); durable for the clock only when the
// completion arrives, 0..storage_delay_max_ms later, like a pool store.
void Simulator::NodePorts::StoreHlcCeiling(uint64_t ceiling_ms) {
  Simulator& sim = *sim_;
  Node& n = *node_;
  sim.Trace(n.name + " ceiling " + std::to_string(ceiling_ms));
  Status s = n.engine->StoreHlcCeilingMs(ceiling_ms);
  sim.Schedule(sim.Uniform(0, sim.options_.storage_delay_max_ms),
               [&sim, i = n.index, inc = n.incarnation, ceiling_ms, s] {
                 sim.OnNode(i, inc,
                            [&](Node& node) { node.driver->OnCeilingStored(ceiling_ms, s); });
               });
}

void Simulator::NodePorts::Reply(cluster::RequestId id, cluster::ClientResult result) {
  sim_->OnReply(*node_, id, result);
}

void Simulator::NodePorts::ExplainReply(cluster::RequestId, cluster::ExplainResult) {
  sim_->Trace(node_->name + " explain-reply");
}

cluster::TimeMs Simulator::NodePorts::NowMs() { return node_->Mono(sim_->now_); }

namespace {

// One trace line's worth of a storage operation and its outcome.
std::string StorageLine(const cluster::StorageAction& a, const cluster::StorageResult& r) {
  using Kind = cluster::StorageAction::Kind;
  const std::string status = r.status.ok() ? "ok" : r.status.ToString();
  switch (a.kind) {
    case Kind::kApply:
      return "apply " + a.key + " " + VersionString(a.version) + " -> " + status;
    case Kind::kRead:
      return "get " + a.key + " -> " + (r.version ? VersionString(*r.version) : "none");
    case Kind::kPutHint:
      return StrCat("hint for ", a.target, " ", a.key, " ", VersionString(a.version), " -> ",
                    r.over_budget ? "over budget" : status);
    case Kind::kScanHints:
      return StrCat("scan hints of ", a.target, " after '", a.key, "' -> ", r.hints.size(),
                    r.more ? " and more" : "");
    case Kind::kDeleteHint:
      return StrCat("delete hint of ", a.target, " ", a.key, " -> ", status);
    case Kind::kHintTargets:
      return StrCat("hint targets -> ", r.targets.size());
    case Kind::kAaeHashes:
      return StrCat("aae hashes of ", a.spans.size(), " spans -> ", status);
    case Kind::kAaeDigests:
      return StrCat("aae digests after '", a.key, "' -> ", r.digests.size(),
                    r.more ? " and more" : "", " ", status);
    case Kind::kStreamScan:
      return StrCat("stream scan after '", a.key, "' -> ", r.hints.size(),
                    r.more ? " and more" : "", " ", status);
    case Kind::kApplyBatch:
      return StrCat("apply batch of ", a.batch.size(), " -> ", status);
  }
  return "?";
}

}  // namespace

void Simulator::RunStorage(Node& n, const cluster::StorageAction& a) {
  cluster::StorageResult result;
  std::string line = n.name + " storage#" + std::to_string(a.op_id) + " ";
  if (a.kind == cluster::StorageAction::Kind::kApply && options_.sabotage_lying_disk &&
      a.key == keys_[0]) {
    line += "apply " + a.key + " " + VersionString(a.version) + " -> lied";
  } else {
    result = RunOnEngine(*n.engine, a);
    line += StorageLine(a, result);
    if (a.kind == cluster::StorageAction::Kind::kApply && result.status.ok()) {
      NoteTombstoneApplied(n, a.key, a.version);
    }
    if (a.kind == cluster::StorageAction::Kind::kApplyBatch && result.status.ok()) {
      for (const cluster::KeyVersion& kv : a.batch) NoteTombstoneApplied(n, kv.key, kv.version);
    }
    if (a.kind == cluster::StorageAction::Kind::kPutHint && result.over_budget) {
      ++stats_.hints_over_budget;
    }
  }
  Trace(line);
  Schedule(Uniform(0, options_.storage_delay_max_ms),
           [this, i = n.index, inc = n.incarnation, op = a.op_id, res = std::move(result)] {
             OnNode(i, inc, [&](Node& node) { node.driver->OnStorageDone(op, res); });
           });
}

}  // namespace causeway::sim
