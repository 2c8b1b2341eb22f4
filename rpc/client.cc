// causeway::Client: one KJ event loop (kj::setupAsyncIo) per Client, Cap'n Proto connections to
// the endpoints it uses, and one retry loop (ClientCore::Attempt) that every call goes through:
// an attempt per endpoint, each with its own deadline, until one answers.
#include "rpc/client.h"

#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/function.h>
#include <kj/time.h>

#include <algorithm>
#include <chrono>

#include "base/limits.h"
#include "base/strings.h"
#include "cluster/session.h"
#include "rpc/internal/client_core.h"
#include "rpc/internal/convert.h"
#include "rpc/internal/errors.h"
#include "schema/causeway.capnp.h"

namespace causeway {
namespace {

// Failures after which the same call is tried on the next endpoint: each says "this node cannot
// serve it now", and another node may.
//   kUnavailable: refused, reset or closed connections, a probe without answer; or the node says
//                 it is joining, stopping, fenced (its clock is off) or short of live replicas
//                 from where it stands.
//   kTimeout:     the attempt's deadline passed, ours or the node's: a paused or hung node, or
//                 one cut off from its replicas; the call's remaining time is better spent on
//                 another coordinator.
//   kOverloaded:  this node's queues are full; another node's are not the same queues.
//   kClockSkew:   this node's clock disagrees with the session's or its peers' stamps; another
//                 node's clock may agree.
//   kIoError, kNoSpace: this node's disk failed its writes; the others write to their own disks.
// Never: kInvalidArgument (the request itself is wrong; unchanged it fails everywhere),
// kCorruption (stop and repair: a retry elsewhere would hide it from the caller), kInternal (a
// bug, or a reply that does not decode: repeating it elsewhere hides the bug). Not-found is not a
// failure at all. Retrying a write is safe: the same value is written again with a newer stamp,
// which wins over the first attempt's, if that one was applied anywhere (last writer wins).
bool MovesOn(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
    case ErrorCode::kOverloaded:
    case ErrorCode::kClockSkew:
    case ErrorCode::kIoError:
    case ErrorCode::kNoSpace:
      return true;
    default:
      return false;
  }
}

}  // namespace

using client_internal::Ms;
using client_internal::MsUntil;
using client_internal::Now;
using client_internal::Pong;
using client_internal::WireTimeoutMs;

// ---- The retry loop -------------------------------------------------------------------------

template <typename T>
kj::Promise<Result<T>> ClientCore::StartCall(const char* what, uint64_t timeout_ms,
                                             uint64_t grace_ms, AttemptFn<T> attempt) {
  if (options.endpoints.empty()) return Result<T>(Status::InvalidArgument("no endpoints given"));
  auto run = kj::heap<Run<T>>();
  run->call.what = what;
  run->call.deadline = Now() + Ms(timeout_ms);
  run->call.grace_ms = grace_ms;
  run->call.tried.assign(targets.size(), false);
  run->attempt = kj::mv(attempt);
  // The loop turns every failure into a Result; this is the net under a bug in it, so that the
  // caller never sees a kj::Exception.
  return Attempt(kj::mv(run)).catch_([](kj::Exception&& e) -> Result<T> {
    return rpc::FromException(e);
  });
}

// One attempt on the endpoint Pick() chooses, then Finish() decides whether there is another.
// An attempt that is not the call's last chance ends by attempt_timeout_ms (connecting and
// probing included); the last one gets whatever is left of the call's deadline, so a call to a
// single endpoint waits as long as it always did.
template <typename T>
kj::Promise<Result<T>> ClientCore::Attempt(kj::Own<Run<T>> run) {
  Call& call = run->call;
  kj::TimePoint now = Now();
  std::optional<size_t> next = Pick(call, now);
  if (!next || now >= call.deadline) {
    if (call.last.ok()) {
      return Result<T>(Status::Timeout(StrCat(call.what, ": the call's deadline passed")));
    }
    return Result<T>(call.last);
  }
  size_t i = *next;
  call.tried[i] = true;
  kj::TimePoint attempt_deadline = call.deadline;
  const bool others_left = OthersLeft(call, i, now);
  if (others_left) {
    attempt_deadline = std::min(attempt_deadline, now + Ms(options.attempt_timeout_ms));
  }
  Target& target = targets[i];
  bool reused = !target.conns.empty();
  ++target.attempts;
  return Connected(i, attempt_deadline, /*last_chance=*/!others_left)
      .then([this, i, attempt_deadline, reused,
             run = kj::mv(run)](causeway::Status connected) mutable -> kj::Promise<Result<T>> {
        if (connected.ok() && targets[i].conns.empty()) {  // closed by another call meanwhile
          connected = Status::Unavailable(
              StrCat("the connection to ", options.endpoints[i], " closed as it opened"));
        }
        if (!connected.ok()) {
          return Finish(kj::mv(run), i, 0, reused, Outcome<T>{std::move(connected)});
        }
        return Send(kj::mv(run), i, attempt_deadline, reused);
      });
}

// Sends the attempt on one of the endpoint's connections and waits until the attempt's deadline
// plus the grace: the node was told the deadline, so it normally answers (kTimeout) first.
template <typename T>
kj::Promise<Result<T>> ClientCore::Send(kj::Own<Run<T>> run, size_t i,
                                        kj::TimePoint attempt_deadline, bool reused) {
  Target& target = targets[i];
  uint64_t generation = target.generation;
  auto api = target.conns[target.next_conn++ % target.conns.size()]->api;
  uint64_t node_timeout_ms = MsUntil(attempt_deadline);
  auto reply = kj::evalNow([&]() { return run->attempt(kj::mv(api), node_timeout_ms); })
                   .then([](Result<T> r) { return Outcome<T>{std::move(r)}; },
                         [](kj::Exception&& e) {
                           return Outcome<T>{rpc::FromException(e), rpc::IsConnectionFailure(e)};
                         });
  uint64_t waited_ms = node_timeout_ms + run->call.grace_ms;
  auto silence =
      io.provider->getTimer()
          .atTime(attempt_deadline + Ms(run->call.grace_ms))
          .then([endpoint = options.endpoints[i], what = run->call.what, waited_ms]() {
            return Outcome<T>{Status::Timeout(StrCat(endpoint, " did not answer the ", what,
                                                     " within ", waited_ms, " ms")),
                              true, true};
          });
  return reply.exclusiveJoin(kj::mv(silence))
      .then([this, i, generation, reused, run = kj::mv(run)](Outcome<T> outcome) mutable {
        return Finish(kj::mv(run), i, generation, reused, std::move(outcome));
      });
}

// Ends the call with this attempt's result, or moves it on to the next endpoint. A failed
// attempt's reply carries no session, so the session token stays the last good reply's.
template <typename T>
kj::Promise<Result<T>> ClientCore::Finish(kj::Own<Run<T>> run, size_t i, uint64_t generation,
                                          bool reused, Outcome<T> outcome) {
  --targets[i].attempts;
  if (outcome.result.ok() || !MovesOn(outcome.result.status().code())) {
    if (outcome.result.ok()) Prefer(i);
    CloseIfIdle(i);
    return std::move(outcome.result);
  }
  Call& call = run->call;
  call.last = outcome.result.status();
  if (outcome.connection_lost) Close(i, generation);
  if (call.last.code() == ErrorCode::kTimeout) SkipForAWhile(i);
  if (outcome.connection_lost && !outcome.timed_out && reused && !call.reconnected) {
    // A connection that sat idle may have been closed by the node (its idle timeout), which
    // says nothing about the node: one fresh connection to it before moving on.
    call.reconnected = true;
    call.tried[i] = false;
  } else if (preferred == i) {
    preferred = (i + 1) % targets.size();
  }
  CloseIfIdle(i);
  return Attempt(kj::mv(run));
}

// The endpoint for the call's next attempt: from `preferred` on, the first that the call has
// not tried and that is outside its skip window; else the first it has not tried at all, so that
// the skip window alone never fails a call. None: the call tried every endpoint.
std::optional<size_t> ClientCore::Pick(const Call& call, kj::TimePoint now) const {
  std::optional<size_t> skipped;
  for (size_t k = 0; k < targets.size(); ++k) {
    size_t i = (preferred + k) % targets.size();
    if (call.tried[i]) continue;
    if (targets[i].skip_until <= now) return i;
    if (!skipped) skipped = i;
  }
  return skipped;
}

// True if an endpoint other than `i` is left for an attempt of this call after it: untried, and
// outside its skip window unless `i` is inside its own (then only skipped ones are left, and each
// gets an attempt). Otherwise the attempt on `i` is the call's last chance.
bool ClientCore::OthersLeft(const Call& call, size_t i, kj::TimePoint now) const {
  bool i_skipped = targets[i].skip_until > now;
  for (size_t j = 0; j < targets.size(); ++j) {
    if (j != i && !call.tried[j] && (i_skipped || targets[j].skip_until <= now)) return true;
  }
  return false;
}

void ClientCore::Prefer(size_t i) {
  if (preferred == i) return;
  size_t old = preferred;
  preferred = i;
  CloseIfIdle(old);
}

void ClientCore::Close(size_t i, uint64_t generation) {
  Target& target = targets[i];
  if (target.generation != generation || target.conns.empty()) return;
  target.conns.clear();  // the other calls on them fail over (DISCONNECTED)
  target.next_conn = 0;
  ++target.generation;
}

// Connections stay open to the preferred endpoint only, and to others while calls use them.
void ClientCore::CloseIfIdle(size_t i) {
  if (i != preferred && targets[i].attempts == 0) Close(i, targets[i].generation);
}

// ---- Calls ----------------------------------------------------------------------------------

// One call at a time: the node's token is exact and replaces ours. Several in flight: this
// reply's version is folded into our token (cluster::ObserveAll, the one place sessions merge),
// so no reply's knowledge is lost. A token that does not decode is the caller's to fix: it is
// reported, never dropped or replaced.
causeway::Status ClientCore::AdoptSession(std::string_view key, const std::optional<Version>& v,
                                          std::string reply_session) {
  if (outstanding <= 1 && !reply_session.empty()) {
    session = std::move(reply_session);
    return causeway::Status::Ok();
  }
  std::vector<cluster::KeyDot> seen;
  if (v) seen.push_back({key, cluster::Dot{v->timestamp, v->writer}});
  auto merged = cluster::ObserveAll(session, seen);
  if (!merged.ok()) {
    return causeway::Status::InvalidArgument("cannot merge the reply into the session: " +
                                             merged.status().message());
  }
  session = std::move(merged).value();
  return causeway::Status::Ok();
}

// Every attempt sends the session as it is then: an earlier attempt's failure left it alone.
kj::Promise<Result<ReadReply>> ClientCore::GetAsync(std::string key, CallOptions o) {
  AttemptFn<ReadReply> attempt = [this, key = std::move(key), o](
                                     wire::ClientApi::Client api,
                                     uint64_t node_timeout_ms) -> kj::Promise<Result<ReadReply>> {
    auto req = api.getRequest();
    req.setKey(rpc::BytesToWire(key));
    auto opts = req.initOptions();
    rpc::ConsistencyToWire(o.consistency, opts.initR());
    opts.setTimeoutMs(WireTimeoutMs(node_timeout_ms));
    opts.setSession(rpc::BytesToWire(session));
    return req.send().then(
        [this, key](capnp::Response<wire::ClientApi::GetResults> r) -> Result<ReadReply> {
          auto result = r.getResult();
          auto reply = rpc::ReadReplyFromWire(result);
          if (!reply.ok()) return reply.status();
          auto s = result.getSession();
          auto adopted =
              AdoptSession(key, reply->version, std::string(s.asChars().begin(), s.size()));
          if (!adopted.ok()) return adopted;
          return reply;
        });
  };
  return StartCall("get", Timeout(o), kClientDeadlineGraceMs, kj::mv(attempt));
}

kj::Promise<Result<Version>> ClientCore::WriteAsync(std::string key, std::string value,
                                                    bool tombstone, CallOptions o) {
  AttemptFn<Version> attempt = [this, key = std::move(key), value = std::move(value), tombstone, o](
                                   wire::ClientApi::Client api,
                                   uint64_t node_timeout_ms) -> kj::Promise<Result<Version>> {
    auto fill = [&](auto req) {
      req.setKey(rpc::BytesToWire(key));
      auto opts = req.initOptions();
      rpc::ConsistencyToWire(o.consistency, opts.initW());
      opts.setTimeoutMs(WireTimeoutMs(node_timeout_ms));
      opts.setSession(rpc::BytesToWire(session));
      opts.setHintedCounts(o.hinted_counts);
      return req;
    };
    auto on_reply = [this, key](auto r) -> Result<Version> {
      auto v = rpc::VersionFromWire(r.getVersion());
      if (!v.ok()) {
        return causeway::Status::Internal("the write reply's version does not decode: " +
                                          v.status().message());
      }
      auto s = r.getSession();
      auto adopted = AdoptSession(key, v.value(), std::string(s.asChars().begin(), s.size()));
      if (!adopted.ok()) return adopted;
      return std::move(v).value();
    };
    if (tombstone) return fill(api.deleteRequest()).send().then(kj::mv(on_reply));
    auto req = fill(api.putRequest());
    req.setValue(rpc::BytesToWire(value));
    return req.send().then(kj::mv(on_reply));
  };
  return StartCall(tombstone ? "delete" : "put", Timeout(o), kClientDeadlineGraceMs,
                   kj::mv(attempt));
}

// The node is told no timeout for a ping, a status or an explain: the client waits exactly the
// attempt's deadline.
kj::Promise<Result<Pong>> ClientCore::PingAsync() {
  AttemptFn<Pong> attempt = [](wire::ClientApi::Client api, uint64_t) -> kj::Promise<Result<Pong>> {
    return api.pingRequest().send().then([](auto) -> Result<Pong> { return Pong{}; });
  };
  return StartCall("ping", options.timeout_ms, 0, kj::mv(attempt));
}

template <typename T>
Result<T> ClientCore::Block(kj::Promise<Result<T>> call) {
  ++outstanding;
  auto r = call.wait(io.waitScope);
  --outstanding;
  return r;
}

void ClientCore::Track(kj::Promise<void> p) {
  ++outstanding;
  tasks->add(p.attach(kj::defer([this]() {
    if (--outstanding == 0) {
      KJ_IF_MAYBE (f, on_idle) {
        (*f)->fulfill();
      }
      on_idle = nullptr;
    }
  })));
}

// ---- Client ---------------------------------------------------------------------------------

struct Client::Impl final : ClientCore {};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->targets = kj::heapArray<ClientCore::Target>(impl_->options.endpoints.size());
}

Client::~Client() {
  impl_->tasks = nullptr;
  impl_->targets = nullptr;
}

Result<ReadReply> Client::Get(std::string_view key, const CallOptions& options) {
  Impl& m = *impl_;
  return m.Block(m.GetAsync(std::string(key), options));
}

Result<Version> Client::Put(std::string_view key, std::string_view value,
                            const CallOptions& options) {
  Impl& m = *impl_;
  return m.Block(m.WriteAsync(std::string(key), std::string(value), false, options));
}

Result<Version> Client::Delete(std::string_view key, const CallOptions& options) {
  Impl& m = *impl_;
  return m.Block(m.WriteAsync(std::string(key), {}, true, options));
}

void Client::StartGet(const std::string& key, CallOptions options,
                      std::function<void(Result<ReadReply>)> done) {
  Impl& m = *impl_;
  m.Track(m.GetAsync(key, options).then([done = std::move(done)](Result<ReadReply> r) {
    done(std::move(r));
  }));
}

void Client::StartPut(std::string key, const std::string& value, CallOptions options,
                      std::function<void(Result<Version>)> done) {
  Impl& m = *impl_;
  m.Track(m.WriteAsync(std::move(key), value, false, options)
              .then([done = std::move(done)](Result<Version> r) { done(std::move(r)); }));
}

causeway::Status Client::Ping() {
  Impl& m = *impl_;
  return m.Block(m.PingAsync()).status();
}

void Client::StartPing(std::function<void(causeway::Status)> done) {
  Impl& m = *impl_;
  m.Track(
      m.PingAsync().then([done = std::move(done)](const Result<Pong>& r) { done(r.status()); }));
}

void Client::Wait() {
  Impl& m = *impl_;
  if (m.outstanding == 0) return;
  auto paf = kj::newPromiseAndFulfiller<void>();
  m.on_idle = kj::mv(paf.fulfiller);
  paf.promise.wait(m.io.waitScope);
}

void Client::WaitFor(uint64_t timeout_us) {
  Impl& m = *impl_;
  kj::Timer& timer = m.io.provider->getTimer();
  // The loop's timer stands still between waits (client_core.h): measure with the real clock.
  const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(timeout_us);
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= end) return;
    const auto left_us = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(end - now).count());
    kj::Promise<void> sleep = timer.afterDelay(left_us * kj::MICROSECONDS);
    if (m.outstanding == 0) {
      sleep.wait(m.io.waitScope);
      continue;
    }
    auto paf = kj::newPromiseAndFulfiller<void>();
    m.on_idle = kj::mv(paf.fulfiller);
    paf.promise.exclusiveJoin(kj::mv(sleep)).wait(m.io.waitScope);
    m.on_idle = nullptr;
  }
}

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

const std::string& Client::session() const { return impl_->session; }
void Client::set_session(std::string token) { impl_->session = std::move(token); }
const std::string& Client::endpoint() const {
  static const std::string kNone;
  return impl_->options.endpoints.empty() ? kNone : impl_->options.endpoints[impl_->preferred];
}

}  // namespace causeway
