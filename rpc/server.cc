// The node server: wires the roles of rpc/internal together on one libuv loop and runs it.
//   Listener      the socket, accept loop, connections, idle close
//   NodeHost      hosts cluster::NodeDriver: transport, reply sink and clock over the CallTable
//                 (every in-flight call, one deadline sweep) and the PeerLinks
//   StoragePool   the driver's storage runner over the engine
//   client_api / peer_api   the Cap'n Proto interfaces, entering through NodeHost
// docs/design.md describes the threading and the limits.
#include "rpc/server.h"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <mutex>

#include "rpc/internal/bootstrap.h"
#include "rpc/internal/client_api.h"
#include "rpc/internal/http_listener.h"
#include "rpc/internal/listener.h"
#include "rpc/internal/login_gate.h"
#include "rpc/internal/metrics.h"
#include "rpc/internal/node_host.h"
#include "rpc/internal/node_stats.h"
#include "rpc/internal/peer_api.h"
#include "rpc/internal/storage_pool.h"
#include "rpc/internal/uv_event_port.h"
#include "rpc/resp/gateway.h"
#include "schema/causeway.capnp.h"

namespace causeway {
namespace {

// Idle client connections are looked for this often.
constexpr uint64_t kIdleSweepIntervalMs = 1000;
// Bounded drain at Stop(): in-flight calls get at most this long beyond their own deadlines.
constexpr uint64_t kStopDrainExtraMs = 1000;

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Engine* engine = nullptr;
  HybridClock* clock = nullptr;
  cluster::CeilingStore* ceiling = nullptr;
  std::shared_ptr<spdlog::logger> log;
  int listen_fd = -1;
  int port = 0;
  int resp_fd = -1;  // the RESP gateway's socket until SetUpLoop hands it over
  int resp_port = 0;
  int http_fd = -1;
  int http_port = 0;
  // Outlives every call (NodeHost records into it as calls settle) and the HTTP listener.
  rpc::Metrics metrics;
  // The TLS contexts new connections use (loop thread; swapped by a reload).
  std::shared_ptr<const rpc::TlsContexts> tls;

  uv_loop_t loop{};
  uv_async_t stop_async{};
  uv_async_t reload_async{};  // ReloadTls(); closed with stop_async
  std::atomic<bool> reload_in_progress{false};
  uv_timer_t tick_timer{};
  std::atomic<bool> stop_requested{false};
  std::mutex stop_mu;
  bool stop_async_open = true;  // GUARDED_BY(stop_mu)
  std::string stop_reason;      // GUARDED_BY(stop_mu): the first Stop()'s

  // Run()-time roles, loop thread only. Declaration order is construction order; TearDown()
  // destroys them in reverse.
  kj::Own<rpc::UvEventPort> event_port;
  kj::Own<rpc::UvIoProvider> low_io;
  kj::Own<kj::AsyncIoProvider> io;
  std::unique_ptr<rpc::StoragePool> storage;
  std::unique_ptr<rpc::LoginGate> logins;  // with a users file
  rpc::SecurityContext security;
  std::unique_ptr<rpc::NodeHost> host;
  std::unique_ptr<rpc::Listener> listener;
  std::unique_ptr<rpc::resp::Gateway> resp;
  std::unique_ptr<rpc::HttpListener> http;

  bool stopping = false;
  std::string stopped_for;  // loop thread: the reason of the stop under way
  bool torn_down = false;
  uint64_t stop_deadline_ms = 0;
  uint64_t last_idle_sweep_ms = 0;

  void SetUpLoop();
  rpc::HttpResponse ServeHttp(std::string_view path);
  void OnTick();
  void BeginStop(const std::string& reason);
  std::string RequestedReason();
  void TearDown();
  void StartTlsReload();
};

void Server::Impl::SetUpLoop() {
  event_port = kj::heap<rpc::UvEventPort>(&loop);
  low_io = kj::heap<rpc::UvIoProvider>(*event_port);
  io = kj::newAsyncIoProvider(*low_io);
  storage = std::make_unique<rpc::StoragePool>(&loop, engine, log.get());
  rpc::TlsSource tls_source = nullptr;
  if (tls) tls_source = [this] { return tls; };
  host = std::make_unique<rpc::NodeHost>(
      options.node, engine, clock, ceiling, storage.get(), io->getNetwork(), event_port->timer(),
      log.get(), options.cluster_secret.get(), options.tls.peer ? tls_source : nullptr);
  if (options.users) logins = std::make_unique<rpc::LoginGate>(&loop, options.users);
  security.secret = options.cluster_secret.get();
  security.logins = logins.get();
  security.log = log.get();
  security.client_tls = options.tls.client;
  security.peer_tls = options.tls.peer;
  rpc::NodeHost* h = host.get();
  rpc::SecurityContext* sec = &security;
  listener = std::make_unique<rpc::Listener>(
      *low_io, event_port->timer(), listen_fd, options.idle_connection_timeout_ms,
      [h, sec](std::shared_ptr<rpc::ConnStats> conn) -> capnp::Capability::Client {
        return rpc::NewBootstrap(*h, *sec, std::move(conn));
      },
      log.get(), tls_source);
  listen_fd = -1;  // owned by the listener now
  if (resp_fd >= 0) {
    rpc::Listener* l = listener.get();
    rpc::resp::RespOptions resp_options = options.resp;
    if (logins) {
      // With a users file, RESP's AUTH user password checks the same users, with their roles,
      // through the same bounded, off-loop gate as Bootstrap.login (its password is unused).
      resp_options.authenticator = [gate = logins.get()](const std::string& user,
                                                         std::string password) {
        return gate->Authenticate(user, std::move(password))
            .then([user](Result<rpc::Role> role) -> Result<rpc::resp::Identity> {
              if (!role.ok()) return role.status();
              return rpc::resp::Identity{user, *role};
            });
      };
    }
    resp = std::make_unique<rpc::resp::Gateway>(
        *host, *low_io, event_port->timer(), resp_fd, std::move(resp_options),
        [l] { return l->connections(); }, log.get(),
        options.tls.client != rpc::ClientTls::kOff ? tls_source : nullptr);
    resp_fd = -1;  // owned by the gateway now
  }
  host->set_connection_count([l = listener.get()] { return l->connections(); });
  host->set_refusal_counts([l = listener.get(), sec] {
    const rpc::Listener::Counters& c = l->counters();
    rpc::RefusalCounts r;
    r.connections_evicted = c.evicted;
    r.connections_refused = c.refused;
    r.handshake_timeouts = c.handshake_timeouts;
    r.slow_frames = c.slow_frames;
    r.reply_budget = c.reply_budget;
    r.security_closes = c.security;
    r.tls_failures = c.tls_failures;
    r.peer_refusals = sec->counters.peer_refusals;
    r.client_refusals = sec->counters.client_refusals;
    r.login_failures = sec->counters.login_failures;
    return r;
  });
  host->set_metrics(&metrics);
  if (http_fd >= 0) {
    http = std::make_unique<rpc::HttpListener>(
        *low_io, event_port->timer(), http_fd,
        [this](std::string_view path) { return ServeHttp(path); }, log.get());
    http_fd = -1;
  }
  uv_timer_init(&loop, &tick_timer);
  tick_timer.data = this;
  uv_timer_start(
      &tick_timer, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->OnTick(); },
      options.tick_interval_ms, options.tick_interval_ms);
}

// /livez: the loop runs (it answers at all). /readyz: joined and serving (NodeStats::ready).
rpc::HttpResponse Server::Impl::ServeHttp(std::string_view path) {
  rpc::HttpResponse r;
  if (path == "/metrics") {
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics.Render(rpc::CollectNodeStats(*host));
  } else if (path == "/livez") {
    r.body = "ok\n";
  } else if (path == "/readyz") {
    const rpc::NodeStats st = rpc::CollectNodeStats(*host);
    r.status = st.ready ? 200 : 503;
    r.body = st.ready ? "ok\n" : "not ready: " + st.not_ready_reason + "\n";
  } else {
    r.status = 404;
    r.body = "not found: try /metrics, /livez or /readyz\n";
  }
  return r;
}

void Server::Impl::OnTick() {
  const uint64_t now = rpc::MonotonicMs();
  host->Tick();
  if (now - last_idle_sweep_ms >= kIdleSweepIntervalMs) {
    last_idle_sweep_ms = now;
    listener->SweepIdle(now);
    if (resp) resp->SweepIdle(now);
  }
  if (!stopping && !host->stop_wanted().empty()) BeginStop(host->stop_wanted());
  if (stopping && (host->Drained() || now >= stop_deadline_ms)) {
    if (!host->Drained()) {
      log->warn("event=stop_drain_timeout in_flight={}", host->client_calls());
    }
    uv_stop(&loop);
  }
}

std::string Server::Impl::RequestedReason() {
  std::lock_guard<std::mutex> lock(stop_mu);
  return stop_reason;
}

// A drain, not a leave: the node stays a member (its member view is stored on the way out).
void Server::Impl::BeginStop(const std::string& reason) {
  if (stopping || !host) return;
  stopping = true;
  stopped_for = reason;
  log->info("event=draining reason=\"{}\" in_flight={}", reason, host->client_calls());
  listener->StopAccepting();
  if (resp) resp->StopAccepting();
  host->PrepareStop();
  if (options.on_lifecycle) options.on_lifecycle(false);
  stop_deadline_ms = rpc::MonotonicMs() + options.node.request_timeout_ms + kStopDrainExtraMs;
}

void Server::Impl::TearDown() {
  torn_down = true;
  while (reload_in_progress) uv_run(&loop, UV_RUN_ONCE);  // a TLS reload's files come back
  if (resp) resp->CloseAll();
  resp.reset();
  if (http) http->Close();
  http.reset();
  if (listener) listener->CloseAll();
  listener.reset();
  if (host) host->Close();
  if (logins) logins->Close();
  if (logins) logins->WaitIdle();
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_timer), nullptr);
  {
    std::lock_guard<std::mutex> lock(stop_mu);
    stop_async_open = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&stop_async), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&reload_async), nullptr);
  }
  // Work still on the pool comes back (and the stop's member view is stored) before the driver
  // and the loop go.
  if (storage) storage->WaitIdle();
  if (storage) storage->Detach();
  host.reset();
  logins.reset();
  storage.reset();
  io = nullptr;
  low_io = nullptr;
  event_port = nullptr;
  uv_run(&loop, UV_RUN_NOWAIT);
}

// Loads the TLS files on libuv's thread pool (never on the loop), then swaps the contexts on the
// loop. One reload at a time; a failure keeps the contexts in use.
void Server::Impl::StartTlsReload() {
  struct Work {
    uv_work_t req{};
    Impl* impl = nullptr;
    rpc::TlsSettings settings;
    Result<std::shared_ptr<const rpc::TlsContexts>> loaded = Status::Internal("not loaded");
  };
  if (!tls || torn_down || reload_in_progress.exchange(true)) return;
  auto* work = new Work;  // NOLINT(cppcoreguidelines-owning-memory): freed by the after callback
  work->req.data = work;
  work->impl = this;
  work->settings = options.tls;
  log->info("event=tls_reload_started");
  uv_queue_work(
      &loop, &work->req,
      [](uv_work_t* req) {
        auto* w = static_cast<Work*>(req->data);
        w->loaded = rpc::LoadTlsContexts(w->settings);
      },
      [](uv_work_t* req, int status) {
        std::unique_ptr<Work> w(static_cast<Work*>(req->data));
        Impl* impl = w->impl;
        impl->reload_in_progress = false;
        if (status != 0 || impl->torn_down) return;
        if (!w->loaded.ok()) {
          impl->log->error("event=tls_reload_failed error=\"{}\" (the old certificates stay)",
                           w->loaded.status().ToString());
          return;
        }
        impl->tls = std::move(w->loaded).value();
        impl->log->info("event=tls_reloaded cert_file=\"{}\"", impl->tls->cert_file);
      });
}

// ---- Server -------------------------------------------------------------------------------------

Result<std::unique_ptr<Server>> Server::Create(ServerOptions options, Engine* engine,
                                               HybridClock* clock,
                                               std::shared_ptr<spdlog::logger> log,
                                               cluster::CeilingStore* ceiling) {
  if (options.listen.empty()) options.listen = options.node.address;
  auto fd = rpc::BindListen(options.listen);
  if (!fd.ok()) return fd.status();
  auto impl = std::make_unique<Impl>();
  impl->listen_fd = fd.value();
  impl->port = rpc::BoundPort(impl->listen_fd);
  if (!options.resp.listen.empty()) {
    auto resp_fd = rpc::BindListen(options.resp.listen);
    if (!resp_fd.ok()) {
      close(impl->listen_fd);
      impl->listen_fd = -1;
      return resp_fd.status();
    }
    impl->resp_fd = resp_fd.value();
    impl->resp_port = rpc::BoundPort(impl->resp_fd);
  }
  if (!options.http_listen.empty()) {
    auto http_fd = rpc::BindListen(options.http_listen);
    if (!http_fd.ok()) {
      close(impl->listen_fd);
      impl->listen_fd = -1;
      return Status(http_fd.status().code(),
                    "http_listen " + options.http_listen + ": " + http_fd.status().message());
    }
    impl->http_fd = http_fd.value();
    impl->http_port = rpc::BoundPort(impl->http_fd);
  }
  if (options.node.address.empty() || options.node.address.ends_with(":0")) {
    std::string host, port;
    rpc::SplitHostPort(options.listen, &host, &port);
    options.node.address = host + ":" + std::to_string(impl->port);
  }
  if (options.tls.any()) {
    auto tls = rpc::LoadTlsContexts(options.tls);
    if (!tls.ok()) {
      close(impl->listen_fd);
      impl->listen_fd = -1;
      if (impl->resp_fd >= 0) close(impl->resp_fd);
      impl->resp_fd = -1;
      if (impl->http_fd >= 0) close(impl->http_fd);
      impl->http_fd = -1;
      return tls.status();
    }
    impl->tls = std::move(tls).value();
  }
  impl->options = std::move(options);
  impl->engine = engine;
  impl->clock = clock;
  impl->ceiling = ceiling;
  impl->log = log ? std::move(log)
                  : std::make_shared<spdlog::logger>(
                        "causeway", std::make_shared<spdlog::sinks::null_sink_mt>());
  uv_loop_init(&impl->loop);
  uv_async_init(&impl->loop, &impl->stop_async, [](uv_async_t* a) {
    Impl* impl = static_cast<Impl*>(a->data);
    impl->BeginStop(impl->RequestedReason());
  });
  impl->stop_async.data = impl.get();
  uv_async_init(&impl->loop, &impl->reload_async,
                [](uv_async_t* a) { static_cast<Impl*>(a->data)->StartTlsReload(); });
  impl->reload_async.data = impl.get();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  if (impl_->listen_fd >= 0) close(impl_->listen_fd);
  if (impl_->resp_fd >= 0) close(impl_->resp_fd);
  if (impl_->http_fd >= 0) close(impl_->http_fd);
  if (!impl_->torn_down) {
    uv_close(reinterpret_cast<uv_handle_t*>(&impl_->stop_async), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&impl_->reload_async), nullptr);
    uv_run(&impl_->loop, UV_RUN_NOWAIT);
  }
  uv_loop_close(&impl_->loop);
}

int Server::port() const { return impl_->port; }
int Server::resp_port() const { return impl_->resp_port; }
int Server::http_port() const { return impl_->http_port; }

Status Server::Run() {
  Impl& impl = *impl_;
  if (impl.torn_down || impl.listen_fd < 0) return Status::Internal("Server::Run() called twice");
  auto setup = kj::runCatchingExceptions([&]() { impl.SetUpLoop(); });
  KJ_IF_MAYBE (e, setup) {
    return Status::Internal(e->getDescription().cStr());
  }
  impl.log->info("event=serving node={} address={} port={} http_port={} generation={}",
                 impl.options.node.name, impl.options.node.address, impl.port, impl.http_port,
                 impl.options.node.generation);
  if (impl.resp) {
    impl.log->info("event=serving_resp listen={} port={} auth={}", impl.options.resp.listen,
                   impl.resp_port, impl.options.resp.auth_required() ? "required" : "none");
  }
  if (impl.options.on_lifecycle) impl.options.on_lifecycle(true);
  if (impl.stop_requested) impl.BeginStop(impl.RequestedReason());
  uv_run(&impl.loop, UV_RUN_DEFAULT);
  Status synced = impl.engine->SyncWal();
  if (!synced.ok()) impl.log->error("event=sync_failed error=\"{}\"", synced.ToString());
  impl.TearDown();
  impl.log->info("event=stopped node={} reason=\"{}\"", impl.options.node.name, impl.stopped_for);
  return synced;
}

void Server::Stop(std::string reason) {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stop_reason.empty()) impl_->stop_reason = std::move(reason);
  impl_->stop_requested = true;
  if (impl_->stop_async_open) uv_async_send(&impl_->stop_async);
}

void Server::ReloadTls() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stop_async_open) uv_async_send(&impl_->reload_async);
}

}  // namespace causeway
