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
#include "rpc/internal/client_retry.h"
#include "rpc/internal/convert.h"
#include "rpc/internal/errors.h"
#include "schema/causeway.capnp.h"

namespace causeway {

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

// A call sends the part of the session its key depends on: the coordinator decides exactly as
// with the whole token, which would cost up to ~25 KB per call each way.
std::string ClientCore::SessionFor(std::string_view key) const {
  if (undecodable_session) return *undecodable_session;
  std::string_view keys[] = {key};
  return session.ScopedTo(keys).Encode();
}

// The node answers with the token it was sent, having observed the call's version; as we sent only
// a scope, we fold that version into the whole session instead. The same as adopting the node's
// token had we sent the whole one, and correct with any number of calls in flight.
void ClientCore::AdoptSession(std::string_view key, const std::optional<Version>& v) {
  if (v) session.Observe(key, cluster::Dot{v->timestamp, v->writer});
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
    opts.setSession(rpc::BytesToWire(SessionFor(key)));
    return req.send().then(
        [this, key](capnp::Response<wire::ClientApi::GetResults> r) -> Result<ReadReply> {
          auto reply = rpc::ReadReplyFromWire(r.getResult());
          if (!reply.ok()) return reply.status();
          AdoptSession(key, reply->version);
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
      opts.setSession(rpc::BytesToWire(SessionFor(key)));
      opts.setHintedCounts(o.hinted_counts);
      return req;
    };
    auto on_reply = [this, key](auto r) -> Result<Version> {
      auto v = rpc::VersionFromWire(r.getVersion());
      if (!v.ok()) {
        return causeway::Status::Internal("the write reply's version does not decode: " +
                                          v.status().message());
      }
      AdoptSession(key, v.value());
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

std::string Client::session() const {
  if (impl_->undecodable_session) return *impl_->undecodable_session;
  return impl_->session.Encode();
}

void Client::set_session(std::string token) {
  auto decoded = cluster::SessionToken::Decode(token);
  if (decoded.ok()) {
    impl_->session = std::move(decoded).value();
    impl_->undecodable_session.reset();
  } else {
    impl_->undecodable_session = std::move(token);
  }
}
const std::string& Client::endpoint() const {
  static const std::string kNone;
  return impl_->options.endpoints.empty() ? kNone : impl_->options.endpoints[impl_->preferred];
}

}  // namespace causeway
