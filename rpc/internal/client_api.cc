#include "rpc/internal/client_api.h"

#include <capnp/message.h>

#include <string>
#include <vector>

#include "base/build_info.h"
#include "base/limits.h"
#include "cluster/session.h"
#include "rpc/internal/convert.h"
#include "rpc/internal/errors.h"
#include "rpc/internal/node_stats.h"

namespace causeway::rpc {
namespace {

void ThrowIfError(const Status& s) {
  if (!s.ok()) ThrowStatus(s);
}

// Role checks (rpc/users.h): kInvalidArgument, which a client does not retry elsewhere.
Status Require(const ConnStats& conn, Role needed, std::string_view what) {
  if (RoleAllows(conn.role, needed)) return Status::Ok();
  return Status::InvalidArgument("permission denied: " + std::string(what) + " needs the " +
                                 std::string(RoleName(needed)) + " role (this login has " +
                                 std::string(RoleName(conn.role)) + ")");
}

// Words a reply needs beyond its value and session: the RPC Return, payload and Version structs
// and their pointers (an overestimate only wastes a few zeroed words).
constexpr size_t kReplyOverheadWords = 48;

// The first segment size for a client reply carrying `r` (with its value when `with_value`) and
// a session token of `session_bytes`.
// Without a hint capnp allocates and zeroes an 8 KiB segment per reply; a 1 MiB value would then
// need a second segment anyway.
capnp::MessageSize ReplySize(const cluster::ClientResult& r, size_t session_bytes,
                             bool with_value) {
  size_t bytes = session_bytes;
  if (r.version) {
    bytes += r.version->vv.size() * 2 * sizeof(uint64_t);
    if (with_value) bytes += r.version->value.size();
  }
  return {bytes / sizeof(capnp::word) + kReplyOverheadWords, 0};
}

Status CheckBatch(size_t entries, size_t bytes) {
  if (entries > kBatchKeysMax) {
    return Status::InvalidArgument("batch of " + std::to_string(entries) +
                                   " entries exceeds the limit of " +
                                   std::to_string(kBatchKeysMax));
  }
  if (bytes > kBatchBytesMax) {
    return Status::InvalidArgument("batch of " + std::to_string(bytes) +
                                   " bytes exceeds the limit of " + std::to_string(kBatchBytesMax));
  }
  return Status::Ok();
}

// Runs every promise to completion, errors included, keeping the order.
kj::Promise<std::vector<cluster::ClientResult>> JoinResults(
    kj::Array<kj::Promise<cluster::ClientResult>> promises) {
  auto settled = KJ_MAP(p, promises) {
    return p.catch_([](kj::Exception&& e) {
      return cluster::ClientResult{FromException(e), std::nullopt, {}};
    });
  };
  return kj::joinPromises(kj::mv(settled)).then([](kj::Array<cluster::ClientResult> all) {
    return std::vector<cluster::ClientResult>(std::make_move_iterator(all.begin()),
                                              std::make_move_iterator(all.end()));
  });
}

// The session a batch returns: the caller's, having observed every version the batch saw.
std::string BatchSession(capnp::Data::Reader input, const std::vector<std::string>& keys,
                         const std::vector<cluster::ClientResult>& results) {
  std::vector<cluster::KeyDot> seen;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].status.ok() && results[i].version) {
      seen.push_back({keys[i], {results[i].version->timestamp, results[i].version->writer}});
    }
  }
  auto merged = cluster::ObserveAll(
      std::string_view(reinterpret_cast<const char*>(input.begin()), input.size()), seen);
  ThrowIfError(merged.status());
  return std::move(merged).value();
}

// Settles every entry of a batch, then encodes each entry with `encode(result, out_entry)` and
// the batch's session (the caller's, having observed every version the batch saw).
template <typename Context, typename EncodeEntry>
kj::Promise<void> FinishBatch(Context context,
                              const std::shared_ptr<std::vector<std::string>>& keys,
                              kj::Array<kj::Promise<cluster::ClientResult>> promises,
                              EncodeEntry encode) {
  return JoinResults(kj::mv(promises))
      .then([context, keys, encode](std::vector<cluster::ClientResult> results) mutable {
        std::string session =
            BatchSession(context.getParams().getOptions().getSession(), *keys, results);
        auto out = context.getResults().initResults(results.size());
        for (size_t i = 0; i < results.size(); ++i) encode(results[i], out[i]);
        context.getResults().setSession(BytesToWire(session));
      });
}

class AdminApi final : public wire::Admin::Server {
 public:
  AdminApi(NodeHost& host, std::shared_ptr<ConnStats> conn) : host_(host), conn_(std::move(conn)) {}
  kj::Promise<void> status(StatusContext context) override;
  kj::Promise<void> ring(RingContext context) override;
  kj::Promise<void> explain(ExplainContext context) override;
  kj::Promise<void> repair(RepairContext context) override;
  kj::Promise<void> repairStatus(RepairStatusContext context) override;
  kj::Promise<void> decommission(DecommissionContext context) override;
  kj::Promise<void> streamStatus(StreamStatusContext context) override;
  kj::Promise<void> cleanup(CleanupContext context) override;
  kj::Promise<void> snapshot(SnapshotContext context) override;
  kj::Promise<void> health(HealthContext context) override;
  kj::Promise<void> ingest(IngestContext context) override;
  kj::Promise<void> ingestAbort(IngestAbortContext context) override;

 private:
  NodeHost& host_;
  std::shared_ptr<ConnStats> conn_;
};

class ClientApi final : public wire::ClientApi::Server {
 public:
  ClientApi(NodeHost& host, std::shared_ptr<ConnStats> conn)
      : host_(host), conn_(std::move(conn)) {}
  kj::Promise<void> get(GetContext context) override;
  kj::Promise<void> put(PutContext context) override;
  kj::Promise<void> delete_(DeleteContext context) override;
  kj::Promise<void> multiGet(MultiGetContext context) override;
  kj::Promise<void> multiPut(MultiPutContext context) override;
  kj::Promise<void> admin(AdminContext context) override {
    if (Status s = Require(*conn_, Role::kRead, "admin"); !s.ok()) return ToException(s);
    context.getResults().setAdmin(kj::heap<AdminApi>(host_, conn_));
    return kj::READY_NOW;
  }
  // Answered here, without the core: Cap'n Proto's own per-call cost (`causeway bench --ping`).
  kj::Promise<void> ping(PingContext) override { return kj::READY_NOW; }

 private:
  kj::Promise<cluster::ClientResult> WriteOne(capnp::Data::Reader key, capnp::Data::Reader value,
                                              bool tombstone, wire::WriteOptions::Reader options);
  // put and delete: one path; the reply carries the version's metadata, never the value.
  template <typename Context>
  kj::Promise<void> Write(Context context, capnp::Data::Reader value, bool tombstone);

  NodeHost& host_;
  std::shared_ptr<ConnStats> conn_;
};

kj::Promise<void> ClientApi::get(GetContext context) {
  if (Status s = Require(*conn_, Role::kRead, "get"); !s.ok()) return ToException(s);
  auto params = context.getParams();
  auto read = ReadFromWire(params.getKey(), params.getOptions());
  if (!read.ok()) return ToException(read.status());
  return host_.Read(std::move(read).value(), conn_)
      .then([context](const cluster::ClientResult& r) mutable {
        ThrowIfError(r.status);
        const std::string session = r.session.Encode();
        GetResultToWire(r.version, session,
                        context.getResults(ReplySize(r, session.size(), true)).initResult());
      });
}

kj::Promise<cluster::ClientResult> ClientApi::WriteOne(capnp::Data::Reader key,
                                                       capnp::Data::Reader value, bool tombstone,
                                                       wire::WriteOptions::Reader options) {
  auto write = WriteFromWire(key, value, tombstone, options);
  if (!write.ok()) return ToException(write.status());
  return host_.Write(std::move(write).value(), conn_);
}

template <typename Context>
kj::Promise<void> ClientApi::Write(Context context, capnp::Data::Reader value, bool tombstone) {
  if (Status s = Require(*conn_, Role::kWrite, tombstone ? "delete" : "put"); !s.ok()) {
    return ToException(s);
  }
  auto params = context.getParams();
  return WriteOne(params.getKey(), value, tombstone, params.getOptions())
      .then([context](cluster::ClientResult r) mutable {
        ThrowIfError(r.status);
        if (!r.version) ThrowStatus(Status::Internal("write reply without a version"));
        const std::string session = r.session.Encode();
        auto results = context.getResults(ReplySize(r, session.size(), false));
        VersionMetaToWire(*r.version, results.initVersion());
        results.setSession(BytesToWire(session));
      });
}

kj::Promise<void> ClientApi::put(PutContext context) {
  auto value = context.getParams().getValue();
  return Write(kj::mv(context), value, false);
}

kj::Promise<void> ClientApi::delete_(DeleteContext context) {
  return Write(kj::mv(context), capnp::Data::Reader(), true);
}

kj::Promise<void> ClientApi::multiGet(MultiGetContext context) {
  if (Status s = Require(*conn_, Role::kRead, "multiGet"); !s.ok()) return ToException(s);
  auto params = context.getParams();
  auto keys = params.getKeys();
  size_t bytes = 0;
  for (auto k : keys) bytes += k.size();
  if (Status s = CheckBatch(keys.size(), bytes); !s.ok()) return ToException(s);
  auto key_strings = std::make_shared<std::vector<std::string>>();
  auto promises = kj::heapArrayBuilder<kj::Promise<cluster::ClientResult>>(keys.size());
  for (auto k : keys) {
    key_strings->emplace_back(reinterpret_cast<const char*>(k.begin()), k.size());
    auto read = ReadFromWire(k, params.getOptions());
    promises.add(read.ok() ? host_.Read(std::move(read).value(), conn_)
                           : kj::Promise<cluster::ClientResult>(ToException(read.status())));
  }
  return FinishBatch(kj::mv(context), key_strings, promises.finish(),
                     [](const cluster::ClientResult& r, wire::BatchGetEntry::Builder out) {
                       if (r.status.ok()) {
                         GetResultToWire(r.version, {}, out.initResult());
                       } else {
                         ErrorToWire(r.status, out.initError());
                       }
                     });
}

kj::Promise<void> ClientApi::multiPut(MultiPutContext context) {
  if (Status s = Require(*conn_, Role::kWrite, "multiPut"); !s.ok()) return ToException(s);
  auto params = context.getParams();
  auto entries = params.getEntries();
  size_t bytes = 0;
  for (auto e : entries) bytes += e.getKey().size() + e.getValue().size();
  if (Status s = CheckBatch(entries.size(), bytes); !s.ok()) return ToException(s);
  auto key_strings = std::make_shared<std::vector<std::string>>();
  auto promises = kj::heapArrayBuilder<kj::Promise<cluster::ClientResult>>(entries.size());
  for (auto e : entries) {
    key_strings->emplace_back(reinterpret_cast<const char*>(e.getKey().begin()), e.getKey().size());
    promises.add(WriteOne(e.getKey(), e.getValue(), false, params.getOptions()));
  }
  return FinishBatch(kj::mv(context), key_strings, promises.finish(),
                     [](const cluster::ClientResult& r, wire::BatchPutEntry::Builder out) {
                       if (r.status.ok() && r.version) {
                         VersionMetaToWire(*r.version, out.initVersion());
                       } else {
                         ErrorToWire(r.status.ok() ? Status::Internal("no version") : r.status,
                                     out.initError());
                       }
                     });
}

// ---- admin ------------------------------------------------------------------------------------

kj::Promise<void> AdminApi::status(StatusContext context) {
  auto out = context.getResults().initStatus();
  // The same snapshot /metrics renders (rpc/internal/node_stats.h).
  const NodeStats st = CollectNodeStats(host_);
  const EngineStats& stats = st.engine;
  const auto& counters = st.counters;
  out.setId(st.id);
  out.setName(st.name);
  out.setAddress(st.address);
  auto list = out.initMembers(st.members.size());
  for (size_t i = 0; i < st.members.size(); ++i) MemberViewToWire(st.members[i], list[i]);
  // Below the admin role: the node and its member view only, not its counters and disk.
  if (!RoleAllows(conn_->role, Role::kAdmin)) return kj::READY_NOW;
  out.setKeys(stats.keys_estimate);
  out.setBytes(stats.live_bytes);
  out.setSyncMode(std::string(SyncModeName(host_.engine().sync_mode())));
  out.setApplied(stats.applied);
  out.setShadowed(stats.shadowed);
  out.setConcurrent(stats.concurrent);
  out.setInFlight(st.client_in_flight);
  out.setClockSkewRejections(st.clock_skew_rejections);
  out.setReadRepairs(counters.read_repairs);
  out.setSessionEscalations(counters.session_escalations);
  out.setConcurrentSeenByReads(counters.concurrent_seen);
  const cluster::NodeCore::ClockStatus& clock = st.clock;
  auto c = out.initClock();
  c.setState(clock.state);
  c.setMedianOffsetMs(clock.median_offset_ms);
  c.setSampledPeers(static_cast<uint32_t>(clock.sampled_peers));
  c.setFarPeers(static_cast<uint32_t>(clock.far_peers));
  c.setThresholdMs(clock.threshold_ms);
  c.setFences(clock.fences);
  c.setJumps(clock.jumps);
  c.setFencedWrites(counters.fenced_writes);
  c.setDescription(clock.description);
  out.setCatchingUp(st.catch_up.catching_up);
  auto d = out.initDisk();
  d.setFreeBytes(stats.disk.free_bytes);
  d.setTotalBytes(stats.disk.total_bytes);
  d.setPendingFlushBytes(stats.disk.pending_flush_bytes);
  d.setReserveBytes(stats.disk.reserve_bytes);
  d.setBelowReserve(stats.disk.below_reserve);
  d.setRefusedWrites(stats.disk.refused_writes);
  if (!stats.fail_stop.ok()) ErrorToWire(stats.fail_stop, d.initFailStop());
  d.setFailStops(stats.fail_stops);
  d.setResumes(stats.disk_resumes);
  d.setLogLinesDropped(stats.log_lines_dropped);
  CountersToWire(counters, out);
  StreamStatusToWire(st.stream, out.initStream());
  return kj::READY_NOW;
}

kj::Promise<void> AdminApi::ring(RingContext context) {
  auto members = host_.core().Members(host_.NowMs());
  auto list = context.getResults().initMembers(members.size());
  for (size_t i = 0; i < members.size(); ++i) MemberViewToWire(members[i], list[i]);
  return kj::READY_NOW;
}

kj::Promise<void> AdminApi::explain(ExplainContext context) {
  if (Status s = Require(*conn_, Role::kAdmin, "explain"); !s.ok()) return ToException(s);
  auto key = KeyFromWire(context.getParams().getKey());
  if (!key.ok()) return ToException(key.status());
  return host_.Explain(std::move(key).value(), conn_)
      .then([context](cluster::ExplainResult r) mutable {
        ThrowIfError(r.status);
        auto out = context.getResults();
        out.setToken(r.token);
        auto prefs = out.initPreferenceList(r.preference_list.size());
        for (size_t i = 0; i < r.preference_list.size(); ++i) prefs.set(i, r.preference_list[i]);
        auto replicas = out.initReplicas(r.replicas.size());
        for (size_t i = 0; i < r.replicas.size(); ++i) {
          const auto& rv = r.replicas[i];
          replicas[i].setNode(rv.node);
          if (!rv.status.ok()) {
            ErrorToWire(rv.status, replicas[i].initError());
          } else if (rv.version) {
            VersionToWire(*rv.version, replicas[i].initVersion());
          } else {
            replicas[i].setAbsent();
          }
        }
      });
}

kj::Promise<void> AdminApi::repair(RepairContext context) {
  if (Status s = Require(*conn_, Role::kAdmin, "repair"); !s.ok()) return ToException(s);
  auto spans = SpansFromWire(context.getParams().getSpans());
  if (!spans.ok()) return ToException(spans.status());
  Result<uint64_t> id = host_.StartRepair(*spans);
  if (!id.ok()) return ToException(id.status());
  context.getResults().setId(*id);
  context.getResults().setNode(host_.core().id());
  return kj::READY_NOW;
}

kj::Promise<void> AdminApi::repairStatus(RepairStatusContext context) {
  RepairStatusToWire(host_.repair_status(context.getParams().getId()),
                     context.getResults().initStatus());
  return kj::READY_NOW;
}

// A refusal is an expected outcome: a value in the results, not an exception.
kj::Promise<void> AdminApi::decommission(DecommissionContext context) {
  if (Status s = Require(*conn_, Role::kAdmin, "decommission"); !s.ok()) return ToException(s);
  Status s = host_.StartDecommission();
  if (!s.ok()) ErrorToWire(s, context.getResults().initError());
  return kj::READY_NOW;
}

kj::Promise<void> AdminApi::streamStatus(StreamStatusContext context) {
  StreamStatusToWire(host_.stream_status(), context.getResults().initStatus());
  return kj::READY_NOW;
}

kj::Promise<void> AdminApi::snapshot(SnapshotContext context) {
  std::string dir = context.getParams().getDir().cStr();
  return host_.Snapshot(dir).then([context, dir](const Status& s) mutable {
    auto out = context.getResults();
    if (!s.ok()) {
      ErrorToWire(s, out.initError());
      return;
    }
    out.setPath(dir);
  });
}

kj::Promise<void> AdminApi::health(HealthContext context) {
  const NodeStats st = CollectNodeStats(host_);
  auto out = context.getResults();
  out.setReady(st.ready);
  out.setReason(st.not_ready_reason);
  out.setVersion(std::string(kCausewayVersion));
  return kj::READY_NOW;
}

kj::Promise<void> AdminApi::cleanup(CleanupContext context) {
  if (Status s = Require(*conn_, Role::kAdmin, "cleanup"); !s.ok()) return ToException(s);
  return host_.Cleanup().then([context](Result<CleanupResult> r) mutable {
    auto out = context.getResults();
    if (!r.ok()) {
      ErrorToWire(r.status(), out.initError());
      return;
    }
    out.setKeysRemoved(r->keys);
    out.setBytesRemoved(r->bytes);
  });
}

// A refusal or failure is a value in the results, as for cleanup.
kj::Promise<void> AdminApi::ingest(IngestContext context) {
  auto p = context.getParams();
  const auto data = p.getData();
  return host_
      .Ingest(p.getSession(), p.getOffset(),
              std::string(reinterpret_cast<const char*>(data.begin()), data.size()), p.getLast())
      .then([context](Result<uint64_t> r) mutable {
        auto out = context.getResults();
        if (!r.ok()) {
          ErrorToWire(r.status(), out.initError());
          return;
        }
        out.setEntries(*r);
      });
}

kj::Promise<void> AdminApi::ingestAbort(IngestAbortContext context) {
  host_.AbortIngest(context.getParams().getSession());
  return kj::READY_NOW;
}

}  // namespace

kj::Own<wire::ClientApi::Server> NewClientApi(NodeHost& host, std::shared_ptr<ConnStats> conn) {
  return kj::heap<ClientApi>(host, std::move(conn));
}

}  // namespace causeway::rpc
