// causeway::Client's admin calls (status, explain, repair, membership changes, cleanup,
// snapshot, health, ingestion): each one attempt function through the client's retry loop
// (rpc/internal/client_retry.h), blocking on the client's own event loop.
#include <memory>
#include <string>
#include <vector>

#include "rpc/client.h"
#include "rpc/internal/client_core.h"
#include "rpc/internal/client_retry.h"
#include "rpc/internal/convert.h"
#include "rpc/internal/errors.h"
#include "schema/causeway.capnp.h"

namespace causeway {

Result<NodeStatusReply> Client::Status() {
  Impl& m = *impl_;
  ClientCore::AttemptFn<NodeStatusReply> attempt =
      [](wire::ClientApi::Client api, uint64_t) -> kj::Promise<Result<NodeStatusReply>> {
    auto admin = api.adminRequest().send().getAdmin();
    return admin.statusRequest()
        .send()
        .then([](capnp::Response<wire::Admin::StatusResults> r) -> Result<NodeStatusReply> {
          return rpc::NodeStatusFromWire(r.getStatus());
        })
        .attach(kj::mv(admin));
  };
  return m.Block(m.StartCall("status", m.options.timeout_ms, 0, kj::mv(attempt)));
}

Result<cluster::ExplainResult> Client::Explain(std::string_view key) {
  Impl& m = *impl_;
  ClientCore::AttemptFn<cluster::ExplainResult> attempt =
      [key = std::string(key)](wire::ClientApi::Client api,
                               uint64_t) -> kj::Promise<Result<cluster::ExplainResult>> {
    auto admin = api.adminRequest().send().getAdmin();
    auto req = admin.explainRequest();
    req.setKey(rpc::BytesToWire(key));
    return req.send()
        .then([](capnp::Response<wire::Admin::ExplainResults> r) -> Result<cluster::ExplainResult> {
          return rpc::ExplainFromWire(r);
        })
        .attach(kj::mv(admin));
  };
  return m.Block(m.StartCall("explain", m.options.timeout_ms, 0, kj::mv(attempt)));
}

Result<RepairStarted> Client::Repair(const std::vector<TokenSpan>& spans) {
  Impl& m = *impl_;
  ClientCore::AttemptFn<RepairStarted> attempt =
      [spans](wire::ClientApi::Client api, uint64_t) -> kj::Promise<Result<RepairStarted>> {
    auto admin = api.adminRequest().send().getAdmin();
    auto req = admin.repairRequest();
    rpc::SpansToWire(spans, req.initSpans(spans.size()));
    return req.send()
        .then([](capnp::Response<wire::Admin::RepairResults> r) -> Result<RepairStarted> {
          return RepairStarted{r.getId(), r.getNode()};
        })
        .attach(kj::mv(admin));
  };
  return m.Block(m.StartCall("repair", m.options.timeout_ms, 0, kj::mv(attempt)));
}

Result<cluster::NodeCore::RepairStatus> Client::RepairProgress(uint64_t id) {
  Impl& m = *impl_;
  using Reply = cluster::NodeCore::RepairStatus;
  ClientCore::AttemptFn<Reply> attempt = [id](wire::ClientApi::Client api,
                                              uint64_t) -> kj::Promise<Result<Reply>> {
    auto admin = api.adminRequest().send().getAdmin();
    auto req = admin.repairStatusRequest();
    req.setId(id);
    return req.send()
        .then([](capnp::Response<wire::Admin::RepairStatusResults> r) -> Result<Reply> {
          return rpc::RepairStatusFromWire(r.getStatus());
        })
        .attach(kj::mv(admin));
  };
  return m.Block(m.StartCall("repair status", m.options.timeout_ms, 0, kj::mv(attempt)));
}

namespace {
// A node's refusal travels as a value through the attempt (so that it never makes the call move
// on to another endpoint: these calls are about the node that answers).
struct Refusable {
  causeway::Status refusal;
};
}  // namespace

causeway::Status Client::Decommission() {
  Impl& m = *impl_;
  ClientCore::AttemptFn<Refusable> attempt = [](wire::ClientApi::Client api,
                                                uint64_t) -> kj::Promise<Result<Refusable>> {
    auto admin = api.adminRequest().send().getAdmin();
    return admin.decommissionRequest()
        .send()
        .then([](capnp::Response<wire::Admin::DecommissionResults> r) -> Result<Refusable> {
          if (!r.hasError()) return Refusable{};
          return Refusable{rpc::ErrorFromWire(r.getError())};
        })
        .attach(kj::mv(admin));
  };
  Result<Refusable> r =
      m.Block(m.StartCall("decommission", m.options.timeout_ms, 0, kj::mv(attempt)));
  return r.ok() ? r->refusal : r.status();
}

Result<cluster::NodeCore::StreamStatus> Client::StreamProgress() {
  Impl& m = *impl_;
  using Reply = cluster::NodeCore::StreamStatus;
  ClientCore::AttemptFn<Reply> attempt = [](wire::ClientApi::Client api,
                                            uint64_t) -> kj::Promise<Result<Reply>> {
    auto admin = api.adminRequest().send().getAdmin();
    return admin.streamStatusRequest()
        .send()
        .then([](capnp::Response<wire::Admin::StreamStatusResults> r) -> Result<Reply> {
          return rpc::StreamStatusFromWire(r.getStatus());
        })
        .attach(kj::mv(admin));
  };
  return m.Block(m.StartCall("stream status", m.options.timeout_ms, 0, kj::mv(attempt)));
}

Result<CleanupReply> Client::Cleanup() {
  Impl& m = *impl_;
  struct Answer {
    CleanupReply reply;
    causeway::Status refusal;
  };
  ClientCore::AttemptFn<Answer> attempt = [](wire::ClientApi::Client api,
                                             uint64_t) -> kj::Promise<Result<Answer>> {
    auto admin = api.adminRequest().send().getAdmin();
    return admin.cleanupRequest()
        .send()
        .then([](capnp::Response<wire::Admin::CleanupResults> r) -> Result<Answer> {
          Answer a{{r.getKeysRemoved(), r.getBytesRemoved()}, {}};
          if (r.hasError()) a.refusal = rpc::ErrorFromWire(r.getError());
          return a;
        })
        .attach(kj::mv(admin));
  };
  Result<Answer> r = m.Block(m.StartCall("cleanup", m.options.timeout_ms, 0, kj::mv(attempt)));
  if (!r.ok()) return r.status();
  if (!r->refusal.ok()) return r->refusal;
  return r->reply;
}

Result<std::string> Client::Snapshot(const std::string& dir) {
  Impl& m = *impl_;
  struct Answer {
    std::string path;
    causeway::Status refusal;
  };
  ClientCore::AttemptFn<Answer> attempt = [dir](wire::ClientApi::Client api,
                                                uint64_t) -> kj::Promise<Result<Answer>> {
    auto admin = api.adminRequest().send().getAdmin();
    auto req = admin.snapshotRequest();
    req.setDir(dir);
    return req.send()
        .then([](capnp::Response<wire::Admin::SnapshotResults> r) -> Result<Answer> {
          Answer a{r.getPath().cStr(), {}};
          if (r.hasError()) a.refusal = rpc::ErrorFromWire(r.getError());
          return a;
        })
        .attach(kj::mv(admin));
  };
  Result<Answer> r = m.Block(m.StartCall("snapshot", m.options.timeout_ms, 0, kj::mv(attempt)));
  if (!r.ok()) return r.status();
  if (!r->refusal.ok()) return r->refusal;
  return r->path;
}

Result<Client::HealthReply> Client::Health() {
  Impl& m = *impl_;
  ClientCore::AttemptFn<HealthReply> attempt = [](wire::ClientApi::Client api,
                                                  uint64_t) -> kj::Promise<Result<HealthReply>> {
    auto admin = api.adminRequest().send().getAdmin();
    return admin.healthRequest()
        .send()
        .then([](capnp::Response<wire::Admin::HealthResults> r) -> Result<HealthReply> {
          return HealthReply{r.getReady(), r.getReason().cStr(), r.getVersion().cStr()};
        })
        .attach(kj::mv(admin));
  };
  return m.Block(m.StartCall("health", m.options.timeout_ms, 0, kj::mv(attempt)));
}

Result<uint64_t> Client::IngestChunk(uint64_t session, uint64_t offset, std::string_view data,
                                     bool last) {
  Impl& m = *impl_;
  struct Answer {
    uint64_t entries = 0;
    causeway::Status refusal;
  };
  auto bytes = std::make_shared<std::string>(data);
  ClientCore::AttemptFn<Answer> attempt = [session, offset, bytes, last](
                                              wire::ClientApi::Client api,
                                              uint64_t) -> kj::Promise<Result<Answer>> {
    auto admin = api.adminRequest().send().getAdmin();
    auto req = admin.ingestRequest();
    req.setSession(session);
    req.setOffset(offset);
    req.setData(kj::arrayPtr(reinterpret_cast<const kj::byte*>(bytes->data()), bytes->size()));
    req.setLast(last);
    return req.send()
        .then([](capnp::Response<wire::Admin::IngestResults> r) -> Result<Answer> {
          Answer a{r.getEntries(), {}};
          if (r.hasError()) a.refusal = rpc::ErrorFromWire(r.getError());
          return a;
        })
        .attach(kj::mv(admin));
  };
  Result<Answer> r = m.Block(m.StartCall("ingest", m.options.timeout_ms, 0, kj::mv(attempt)));
  if (!r.ok()) return r.status();
  if (!r->refusal.ok()) return r->refusal;
  return r->entries;
}

causeway::Status Client::AbortIngest(uint64_t session) {
  Impl& m = *impl_;
  ClientCore::AttemptFn<Refusable> attempt = [session](wire::ClientApi::Client api,
                                                       uint64_t) -> kj::Promise<Result<Refusable>> {
    auto admin = api.adminRequest().send().getAdmin();
    auto req = admin.ingestAbortRequest();
    req.setSession(session);
    return req.send()
        .then([](capnp::Response<wire::Admin::IngestAbortResults>) -> Result<Refusable> {
          return Refusable{};
        })
        .attach(kj::mv(admin));
  };
  Result<Refusable> r =
      m.Block(m.StartCall("ingest abort", m.options.timeout_ms, 0, kj::mv(attempt)));
  return r.ok() ? r->refusal : r.status();
}

}  // namespace causeway
