// ClientCore: the state and the methods of causeway::Client (rpc/client.h), shared by the files
// that implement it: rpc/client.cc (the data calls, the public API), rpc/client_admin.cc (the
// admin calls), rpc/internal/client_retry.h (the retry loop) and rpc/internal/client_connect.cc
// (opening and probing connections). Not part of the API.
#pragma once

#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/compat/tls.h>
#include <kj/function.h>
#include <kj/time.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "base/limits.h"
#include "base/strings.h"
#include "cluster/session.h"
#include "rpc/client.h"
#include "rpc/internal/errors.h"
#include "schema/causeway.capnp.h"

namespace causeway {
namespace client_internal {

class IgnoreErrors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&&) override {}  // Start* calls report through `done`
};

// The real time, not the event loop's timer (whose now() stands still between waits: an idle
// Client's deadlines and skip windows would start in the past). The loop's timer runs on the
// same monotonic clock, so its atTime() takes these points.
inline kj::TimePoint Now() { return kj::systemPreciseMonotonicClock().now(); }
inline kj::Duration Ms(uint64_t ms) { return static_cast<int64_t>(ms) * kj::MILLISECONDS; }
inline uint64_t MsUntil(kj::TimePoint t) {
  kj::TimePoint now = Now();
  return t > now ? static_cast<uint64_t>((t - now) / kj::MILLISECONDS) : 0;
}
inline uint32_t WireTimeoutMs(uint64_t ms) {
  return static_cast<uint32_t>(std::clamp<uint64_t>(ms, 1, kRequestTimeoutMsMax));
}

struct Pong {};  // a ping's (empty) answer

}  // namespace client_internal

// The client's state; Client::Impl is this type (the public header keeps Impl private).
struct ClientCore {
  struct Conn {
    kj::Own<kj::AsyncIoStream> stream;
    kj::Own<capnp::TwoPartyVatNetwork> network;
    kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
    wire::ClientApi::Client api = nullptr;
  };
  // One endpoint: its connections, and whether it just made a call wait.
  struct Target {
    std::vector<kj::Own<Conn>> conns;  // empty: not connected
    size_t next_conn = 0;              // calls take the connections in turn
    // Bumped when `conns` are closed, so that a late failure on closed ones closes nothing newer.
    uint64_t generation = 0;
    bool connecting = false;
    std::vector<kj::Own<Conn>> pending;                      // being opened and probed
    kj::Maybe<kj::ForkedPromise<causeway::Status>> connect;  // every waiter's, while connecting
    size_t attempts = 0;  // attempts on it now; idle connections of an unpreferred one are closed
    kj::TimePoint skip_until = kj::origin<kj::TimePoint>();
  };
  // One call across its attempts.
  struct Call {
    const char* what = "";
    kj::TimePoint deadline = kj::origin<kj::TimePoint>();  // the call's own
    uint64_t grace_ms = 0;     // how much longer than the node's timeout the client waits
    std::vector<bool> tried;   // per endpoint: this call made an attempt there
    bool reconnected = false;  // used its one fresh connection after a reused one was closed
    causeway::Status last;     // the latest attempt's failure
  };
  // Sends one attempt on `api`, telling the node `node_timeout_ms`; converts the reply.
  template <typename T>
  using AttemptFn =
      kj::Function<kj::Promise<Result<T>>(wire::ClientApi::Client api, uint64_t node_timeout_ms)>;
  template <typename T>
  struct Run {
    Call call;
    AttemptFn<T> attempt;
  };
  template <typename T>
  struct Outcome {
    Result<T> result;
    bool connection_lost = false;  // closed under the call, or silent past the attempt deadline
    bool timed_out = false;        // silent past the attempt deadline
  };

  ClientOptions options;
  kj::AsyncIoContext io = kj::setupAsyncIo();
  // With options.tls_ca_file: made by the first connection (or the reason it could not be).
  kj::Own<kj::TlsContext> tls;
  std::optional<causeway::Status> tls_error;
  kj::Array<Target> targets;  // one per options.endpoints
  size_t preferred = 0;       // where calls start: the endpoint that last answered
  // The session (docs/design.md, "Session token"), decoded: a call sends only the part its key
  // depends on (SessionFor) and folds its reply's version in (AdoptSession). A token given to
  // set_session() that does not decode is kept as given, in `undecodable_session`, and sent whole
  // with every call, so that the node refuses it: never dropped or replaced.
  cluster::SessionToken session;
  std::optional<std::string> undecodable_session;
  client_internal::IgnoreErrors ignore_errors;  // stateless; before `tasks`, which uses it
  kj::Own<kj::TaskSet> tasks = kj::heap<kj::TaskSet>(ignore_errors);
  size_t outstanding = 0;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> on_idle;

  uint64_t Timeout(const CallOptions& o) const {
    return o.timeout_ms != 0 ? o.timeout_ms : options.timeout_ms;
  }
  template <typename T>
  kj::Promise<T> Deadline(kj::Promise<T> p, uint64_t ms, const char* what) {
    auto timeout = io.provider->getTimer()
                       .atTime(client_internal::Now() + client_internal::Ms(ms))
                       .then([ms, what]() {
                         return kj::Promise<T>(rpc::ToException(causeway::Status::Timeout(
                             StrCat(what, " took longer than ", ms, " ms"))));
                       });
    return p.exclusiveJoin(kj::mv(timeout));
  }

  template <typename T>
  kj::Promise<Result<T>> StartCall(const char* what, uint64_t timeout_ms, uint64_t grace_ms,
                                   AttemptFn<T> attempt);
  template <typename T>
  kj::Promise<Result<T>> Attempt(kj::Own<Run<T>> run);
  template <typename T>
  kj::Promise<Result<T>> Send(kj::Own<Run<T>> run, size_t i, kj::TimePoint attempt_deadline,
                              bool reused);
  template <typename T>
  kj::Promise<Result<T>> Finish(kj::Own<Run<T>> run, size_t i, uint64_t generation, bool reused,
                                Outcome<T> outcome);
  std::optional<size_t> Pick(const Call& call, kj::TimePoint now) const;
  bool OthersLeft(const Call& call, size_t i, kj::TimePoint now) const;
  void Prefer(size_t i);
  void Close(size_t i, uint64_t generation);
  void CloseIfIdle(size_t i);
  void SkipForAWhile(size_t i) {
    targets[i].skip_until = client_internal::Now() + client_internal::Ms(kClientSkipWindowMs);
  }

  // `last_chance`: no other endpoint is left for this call, so the probe (which exists to move on
  // from a paused node quickly) gets the whole attempt deadline instead of probe_timeout_ms.
  kj::Promise<causeway::Status> Connected(size_t i, kj::TimePoint attempt_deadline,
                                          bool last_chance);
  kj::Promise<causeway::Status> Connect(size_t i, kj::TimePoint attempt_deadline, bool last_chance);
  kj::Promise<void> OpenAll(size_t i, size_t n);
  kj::Promise<kj::Own<Conn>> OpenOne(const std::string& endpoint);
  kj::Promise<causeway::Status> Probe(size_t i, kj::TimePoint attempt_deadline, bool last_chance);

  std::string SessionFor(std::string_view key) const;
  void AdoptSession(std::string_view key, const std::optional<Version>& v);
  kj::Promise<Result<ReadReply>> GetAsync(std::string key, CallOptions o);
  kj::Promise<Result<Version>> WriteAsync(std::string key, std::string value, bool tombstone,
                                          CallOptions o);
  kj::Promise<Result<client_internal::Pong>> PingAsync();
  template <typename T>
  Result<T> Block(kj::Promise<Result<T>> call);
  void Track(kj::Promise<void> p);
};

struct Client::Impl final : ClientCore {};

}  // namespace causeway
