// ClientCore's connections: opening them to an endpoint and probing a new one with a ping
// (a paused node accepts connections but never answers).
#include "rpc/internal/buffered_stream.h"
#include "rpc/internal/client_core.h"
#include "rpc/internal/convert.h"
#include "rpc/tls.h"

namespace causeway {

using client_internal::Ms;
using client_internal::MsUntil;
using client_internal::Now;

// ---- Connections ----------------------------------------------------------------------------

// The endpoint's connections, opening them if needed; calls that need them meanwhile share the
// one connect in progress.
kj::Promise<causeway::Status> ClientCore::Connected(size_t i, kj::TimePoint attempt_deadline,
                                                    bool last_chance) {
  Target& target = targets[i];
  if (!target.conns.empty()) return causeway::Status::Ok();
  if (!target.connecting) {
    target.connecting = true;
    target.connect = Connect(i, attempt_deadline, last_chance).fork();
  }
  return KJ_ASSERT_NONNULL(target.connect).addBranch();
}

// Opens options.connections connections (within connect_timeout_ms and the attempt's deadline),
// then probes the first. A failure is kUnavailable, so the call moves on.
kj::Promise<causeway::Status> ClientCore::Connect(size_t i, kj::TimePoint attempt_deadline,
                                                  bool last_chance) {
  targets[i].pending.clear();
  uint64_t connect_ms = std::min(options.connect_timeout_ms, MsUntil(attempt_deadline));
  size_t n = std::max<size_t>(options.connections, 1);
  return Deadline(OpenAll(i, n), connect_ms, "connect")
      .then([this, i, attempt_deadline,
             last_chance]() { return Probe(i, attempt_deadline, last_chance); },
            [this, i](kj::Exception&& e) -> kj::Promise<causeway::Status> {
              causeway::Status s = rpc::FromException(e);
              if (s.code() == ErrorCode::kTimeout) SkipForAWhile(i);
              return causeway::Status::Unavailable(StrCat("cannot connect to ",
                                                          options.endpoints[i], ": ", s.message(),
                                                          " (is the node running?)"));
            })
      .then([this, i](causeway::Status s) {
        Target& target = targets[i];
        target.connecting = false;
        if (s.ok()) {
          target.conns = std::move(target.pending);
          target.next_conn = 0;
        }
        target.pending.clear();
        return s;
      });
}

kj::Promise<void> ClientCore::OpenAll(size_t i, size_t n) {
  if (targets[i].pending.size() >= n) return kj::READY_NOW;
  return OpenOne(options.endpoints[i]).then([this, i, n](kj::Own<Conn> c) {
    targets[i].pending.push_back(kj::mv(c));
    return OpenAll(i, n);
  });
}

// Opens one connection (a failure is a kj::Exception).
kj::Promise<kj::Own<ClientCore::Conn>> ClientCore::OpenOne(const std::string& endpoint) {
  if (!options.tls_ca_file.empty() && !tls && !tls_error) {
    auto made =
        rpc::NewClientTlsContext(options.tls_ca_file, options.tls_cert_file, options.tls_key_file);
    if (made.ok()) {
      tls = kj::mv(*made);
    } else {
      tls_error = made.status();
    }
  }
  if (tls_error) return rpc::ToException(*tls_error);
  auto connected = io.provider->getNetwork().parseAddress(endpoint).then(
      [](kj::Own<kj::NetworkAddress> a) { return a->connect().attach(kj::mv(a)); });
  if (tls) {
    connected = connected.then([this](kj::Own<kj::AsyncIoStream> stream) {
      return tls->wrapClient(kj::mv(stream), options.tls_server_name.c_str());
    });
  }
  return connected.then([this](kj::Own<kj::AsyncIoStream> stream) {
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
    auto bootstrap = c->rpc->bootstrap(id).castAs<wire::Bootstrap>();
    if (options.user.empty()) {
      c->api = bootstrap.clientRequest().send().getClient();
    } else {
      auto login = bootstrap.loginRequest();
      login.setUser(options.user);
      login.setPassword(kj::arrayPtr(reinterpret_cast<const kj::byte*>(options.password.data()),
                                     options.password.size()));
      c->api = login.send().getClient();
    }
    return c;
  });
}

// A paused or hung node still accepts connections (the kernel's backlog), so connections count
// only once the node answered a ping within probe_timeout_ms: otherwise the call moves on now,
// instead of after a whole attempt.
kj::Promise<causeway::Status> ClientCore::Probe(size_t i, kj::TimePoint attempt_deadline,
                                                bool last_chance) {
  const uint64_t until_ms = MsUntil(attempt_deadline);
  const uint64_t probe_timeout_ms =
      options.probe_timeout_ms + (options.user.empty() ? 0 : kClientLoginProbeExtraMs);
  const uint64_t probe_ms = last_chance ? until_ms : std::min(probe_timeout_ms, until_ms);
  auto ping = targets[i].pending.front()->api.pingRequest().send().ignoreResult();
  return Deadline(kj::mv(ping), probe_ms, "probe")
      .then([]() { return causeway::Status::Ok(); },
            [this, i, probe_ms](kj::Exception&& e) {
              causeway::Status s = rpc::FromException(e);
              // Refused credentials or role: another node would refuse them too.
              if (s.code() == ErrorCode::kInvalidArgument) {
                return causeway::Status::InvalidArgument(options.endpoints[i] + ": " + s.message());
              }
              if (s.code() == ErrorCode::kTimeout) SkipForAWhile(i);
              return causeway::Status::Unavailable(StrCat(
                  options.endpoints[i], " accepted the connection but did not answer within ",
                  probe_ms, " ms (paused, hung or overloaded?): ", s.message()));
            });
}

}  // namespace causeway
