// causeway::Client: one KJ event loop (kj::setupAsyncIo) per Client, one Cap'n Proto connection
// to the current endpoint, failover to the next endpoint when the current one is down.
#include "rpc/client.h"

#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <algorithm>

#include "base/limits.h"
#include "cluster/session.h"
#include "rpc/internal/buffered_stream.h"
#include "rpc/internal/convert.h"
#include "rpc/internal/errors.h"
#include "schema/causeway.capnp.h"

namespace causeway {
namespace {

// The client waits this much longer than the timeout it sends, so the node's own answer
// (kTimeout with a reason) normally arrives first.
constexpr uint64_t kClientDeadlineGraceMs = 250;

class IgnoreErrors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&&) override {}  // Start* calls report through `done`
};
IgnoreErrors ignore_errors;

// Failures after which the next call should go to another endpoint.
bool EndpointDown(const Status& s) {
  return s.code() == ErrorCode::kUnavailable || s.code() == ErrorCode::kTimeout;
}

}  // namespace

// The client's state; Client::Impl is this type (the public header keeps Impl private).
struct ClientCore {
  ClientOptions options;
  kj::AsyncIoContext io = kj::setupAsyncIo();
  size_t endpoint_index = 0;
  std::string session;
  struct Conn {
    kj::Own<kj::AsyncIoStream> stream;
    kj::Own<capnp::TwoPartyVatNetwork> network;
    kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
    wire::ClientApi::Client api = nullptr;
  };
  std::vector<kj::Own<Conn>> conns;  // to the current endpoint; empty: not connected
  size_t next_conn = 0;
  kj::Own<kj::TaskSet> tasks = kj::heap<kj::TaskSet>(ignore_errors);
  size_t outstanding = 0;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> on_idle;

  const std::string& Endpoint() const { return options.endpoints[endpoint_index]; }
  void NextEndpoint() {
    conns.clear();
    endpoint_index = (endpoint_index + 1) % options.endpoints.size();
  }
  uint64_t Timeout(const CallOptions& o) const {
    return o.timeout_ms != 0 ? o.timeout_ms : options.timeout_ms;
  }
  template <typename T>
  kj::Promise<T> Deadline(kj::Promise<T> p, uint64_t ms, const char* what) {
    auto timeout = io.provider->getTimer().afterDelay(ms * kj::MILLISECONDS).then([ms, what]() {
      return kj::Promise<T>(rpc::ToException(causeway::Status::Timeout(
          std::string(what) + " took longer than " + std::to_string(ms) + " ms")));
    });
    return p.exclusiveJoin(kj::mv(timeout));
  }
  causeway::Status Connect();
  kj::Own<Conn> ConnectOne();
  Result<wire::ClientApi::Client> Api();
  [[nodiscard]] causeway::Status AdoptSession(std::string_view key, const std::optional<Version>& v,
                                              std::string reply_session);
  template <typename T, typename Fn>
  Result<T> Call(Fn&& start);
  kj::Promise<Result<ReadReply>> GetAsync(const std::string& key, CallOptions o);
  kj::Promise<Result<Version>> WriteAsync(std::string key, const std::string& value, bool tombstone,
                                          CallOptions o);
  kj::Promise<causeway::Status> PingAsync();
  void Track(kj::Promise<void> p);
};

// Opens one connection to the current endpoint (throws a kj::Exception on failure).
kj::Own<ClientCore::Conn> ClientCore::ConnectOne() {
  auto attempt = [&]() -> kj::Promise<kj::Own<kj::AsyncIoStream>> {
    return io.provider->getNetwork()
        .parseAddress(Endpoint())
        .then([](kj::Own<kj::NetworkAddress> a) { return a->connect(); });
  };
  auto stream = Deadline(attempt(), options.connect_timeout_ms, "connect").wait(io.waitScope);
  auto c = kj::heap<Conn>();
  // Replies to pipelined calls arrive in batches: one read syscall for each batch.
  c->stream = kj::heap<rpc::BufferedStream>(kj::mv(stream));
  capnp::ReaderOptions reader;
  reader.traversalLimitInWords = kTraversalWordsMax;
  c->network =
      kj::heap<capnp::TwoPartyVatNetwork>(*c->stream, capnp::rpc::twoparty::Side::CLIENT, reader);
  c->rpc = kj::heap(capnp::makeRpcClient(*c->network));
  capnp::MallocMessageBuilder vat;
  auto id = vat.initRoot<capnp::rpc::twoparty::VatId>();
  id.setSide(capnp::rpc::twoparty::Side::SERVER);
  c->api = c->rpc->bootstrap(id).castAs<wire::Bootstrap>().clientRequest().send().getClient();
  return c;
}

// A paused or hung node still accepts connections (the kernel's backlog), so a connection counts
// only once the node answered a ping within probe_timeout_ms: otherwise the caller moves to the
// next endpoint now, instead of after a whole call's deadline.
causeway::Status ClientCore::Connect() {
  conns.clear();
  auto result = kj::runCatchingExceptions([&]() {
    size_t n = std::max<size_t>(options.connections, 1);
    for (size_t i = 0; i < n; ++i) conns.push_back(ConnectOne());
  });
  KJ_IF_MAYBE (e, result) {
    conns.clear();
    return causeway::Status::Unavailable("cannot connect to " + Endpoint() + ": " +
                                         rpc::FromException(*e).message() +
                                         " (is the node running?)");
  }
  auto probe = kj::runCatchingExceptions([&]() {
    Deadline(conns.front()->api.pingRequest().send(), options.probe_timeout_ms, "probe")
        .wait(io.waitScope);
  });
  KJ_IF_MAYBE (e, probe) {
    conns.clear();
    return causeway::Status::Unavailable(
        Endpoint() + " accepted the connection but did not answer within " +
        std::to_string(options.probe_timeout_ms) +
        " ms (paused, hung or overloaded?): " + rpc::FromException(*e).message());
  }
  return causeway::Status::Ok();
}

// The API of the current endpoint, connecting (and failing over) as needed: every endpoint is
// tried once before giving up.
Result<wire::ClientApi::Client> ClientCore::Api() {
  if (options.endpoints.empty()) return Status::InvalidArgument("no endpoints given");
  causeway::Status last;
  for (size_t tries = 0; tries < options.endpoints.size() && conns.empty(); ++tries) {
    last = Connect();
    if (!last.ok()) NextEndpoint();
  }
  if (conns.empty()) return last;
  return conns[next_conn++ % conns.size()]->api;
}

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

kj::Promise<Result<ReadReply>> ClientCore::GetAsync(const std::string& key, CallOptions o) {
  auto api = Api();
  if (!api.ok()) return Result<ReadReply>(api.status());
  auto req = api->getRequest();
  req.setKey(rpc::BytesToWire(key));
  auto opts = req.initOptions();
  rpc::ConsistencyToWire(o.consistency, opts.initR());
  uint64_t ms = Timeout(o);
  opts.setTimeoutMs(static_cast<uint32_t>(std::min<uint64_t>(ms, kRequestTimeoutMsMax)));
  opts.setSession(rpc::BytesToWire(session));
  return Deadline(req.send(), ms + kClientDeadlineGraceMs, "get")
      .then(
          [this, key](capnp::Response<wire::ClientApi::GetResults> r) -> Result<ReadReply> {
            auto result = r.getResult();
            auto reply = rpc::ReadReplyFromWire(result);
            if (!reply.ok()) return reply.status();
            auto s = result.getSession();
            auto adopted =
                AdoptSession(key, reply->version, std::string(s.asChars().begin(), s.size()));
            if (!adopted.ok()) return adopted;
            return reply;
          },
          [this](kj::Exception&& e) -> Result<ReadReply> {
            causeway::Status s = rpc::FromException(e);
            if (EndpointDown(s)) NextEndpoint();
            return s;
          });
}

kj::Promise<Result<Version>> ClientCore::WriteAsync(std::string key, const std::string& value,
                                                    bool tombstone, CallOptions o) {
  auto api = Api();
  if (!api.ok()) return Result<Version>(api.status());
  uint64_t ms = Timeout(o);
  auto fill = [&](auto req) {
    req.setKey(rpc::BytesToWire(key));
    auto opts = req.initOptions();
    rpc::ConsistencyToWire(o.consistency, opts.initW());
    opts.setTimeoutMs(static_cast<uint32_t>(std::min<uint64_t>(ms, kRequestTimeoutMsMax)));
    opts.setSession(rpc::BytesToWire(session));
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
  auto on_error = [this](kj::Exception&& e) -> Result<Version> {
    causeway::Status s = rpc::FromException(e);
    if (EndpointDown(s)) NextEndpoint();
    return s;
  };
  if (tombstone) {
    auto req = fill(api->deleteRequest());
    return Deadline(req.send(), ms + kClientDeadlineGraceMs, "delete")
        .then(kj::mv(on_reply), kj::mv(on_error));
  }
  auto req = fill(api->putRequest());
  req.setValue(rpc::BytesToWire(value));
  return Deadline(req.send(), ms + kClientDeadlineGraceMs, "put")
      .then(kj::mv(on_reply), kj::mv(on_error));
}

kj::Promise<causeway::Status> ClientCore::PingAsync() {
  auto api = Api();
  if (!api.ok()) return api.status();
  return Deadline(api->pingRequest().send(), options.timeout_ms, "ping")
      .then([](auto) { return causeway::Status::Ok(); },
            [this](kj::Exception&& e) {
              causeway::Status s = rpc::FromException(e);
              if (EndpointDown(s)) NextEndpoint();
              return s;
            });
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
}

Client::~Client() {
  impl_->tasks = nullptr;
  impl_->conns.clear();
}

Result<ReadReply> Client::Get(std::string_view key, const CallOptions& options) {
  Impl& m = *impl_;
  ++m.outstanding;
  auto r = m.GetAsync(std::string(key), options).wait(m.io.waitScope);
  --m.outstanding;
  return r;
}

Result<Version> Client::Put(std::string_view key, std::string_view value,
                            const CallOptions& options) {
  Impl& m = *impl_;
  ++m.outstanding;
  auto r = m.WriteAsync(std::string(key), std::string(value), false, options).wait(m.io.waitScope);
  --m.outstanding;
  return r;
}

Result<Version> Client::Delete(std::string_view key, const CallOptions& options) {
  Impl& m = *impl_;
  ++m.outstanding;
  auto r = m.WriteAsync(std::string(key), {}, true, options).wait(m.io.waitScope);
  --m.outstanding;
  return r;
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
  ++m.outstanding;
  auto s = m.PingAsync().wait(m.io.waitScope);
  --m.outstanding;
  return s;
}

void Client::StartPing(std::function<void(causeway::Status)> done) {
  Impl& m = *impl_;
  m.Track(m.PingAsync().then([done = std::move(done)](causeway::Status s) { done(std::move(s)); }));
}

void Client::Wait() {
  Impl& m = *impl_;
  if (m.outstanding == 0) return;
  auto paf = kj::newPromiseAndFulfiller<void>();
  m.on_idle = kj::mv(paf.fulfiller);
  paf.promise.wait(m.io.waitScope);
}

Result<NodeStatusReply> Client::Status() {
  Impl& m = *impl_;
  auto api = m.Api();
  if (!api.ok()) return api.status();
  auto admin = api->adminRequest().send().getAdmin();
  auto call = m.Deadline(admin.statusRequest().send(), m.options.timeout_ms, "status");
  try {
    auto r = call.wait(m.io.waitScope);
    auto s = r.getStatus();
    NodeStatusReply out;
    out.id = s.getId();
    out.name = s.getName().cStr();
    out.address = s.getAddress().cStr();
    out.keys = s.getKeys();
    out.bytes = s.getBytes();
    out.sync_mode = s.getSyncMode().cStr();
    out.applied = s.getApplied();
    out.shadowed = s.getShadowed();
    out.concurrent = s.getConcurrent();
    out.in_flight = s.getInFlight();
    out.clock_skew_rejections = s.getClockSkewRejections();
    out.read_repairs = s.getReadRepairs();
    out.session_escalations = s.getSessionEscalations();
    out.concurrent_seen_by_reads = s.getConcurrentSeenByReads();
    for (auto member : s.getMembers()) out.members.push_back(rpc::MemberViewFromWire(member));
    return out;
  } catch (const kj::Exception& e) {
    auto st = rpc::FromException(e);
    if (EndpointDown(st)) m.NextEndpoint();
    return st;
  }
}

Result<cluster::ExplainResult> Client::Explain(std::string_view key) {
  Impl& m = *impl_;
  auto api = m.Api();
  if (!api.ok()) return api.status();
  auto admin = api->adminRequest().send().getAdmin();
  auto req = admin.explainRequest();
  req.setKey(rpc::BytesToWire(std::string(key)));
  auto call = m.Deadline(req.send(), m.options.timeout_ms, "explain");
  try {
    auto r = call.wait(m.io.waitScope);
    cluster::ExplainResult out;
    out.token = r.getToken();
    for (auto n : r.getPreferenceList()) out.preference_list.push_back(n);
    for (auto rv : r.getReplicas()) {
      cluster::ReplicaVersion v;
      v.node = rv.getNode();
      if (rv.isError()) {
        v.status = rpc::ErrorFromWire(rv.getError());
      } else if (rv.isVersion()) {
        auto version = rpc::VersionFromWire(rv.getVersion());
        if (version.ok()) {
          v.version = std::move(version).value();
        } else {
          v.status = version.status();
        }
      }
      out.replicas.push_back(std::move(v));
    }
    return out;
  } catch (const kj::Exception& e) {
    auto st = rpc::FromException(e);
    if (EndpointDown(st)) m.NextEndpoint();
    return st;
  }
}

const std::string& Client::session() const { return impl_->session; }
void Client::set_session(std::string token) { impl_->session = std::move(token); }
const std::string& Client::endpoint() const {
  static const std::string kNone;
  return impl_->options.endpoints.empty() ? kNone : impl_->Endpoint();
}

}  // namespace causeway
