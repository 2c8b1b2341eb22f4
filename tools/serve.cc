// `causeway serve`: runs one node until SIGTERM/SIGINT.
//
// Startup order: resolve the configuration, open the engine, check the data dir belongs to this
// node name, restore the ring tokens and the last known member view and bump the generation, open
// the HLC on the engine, create the server, then run it with the termination signals handled on
// their own thread. The core asks the server to store tokens and view when they change
// (cluster::PersistMetaAction); nothing here polls for them.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef CAUSEWAY_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string_view>
#include <thread>

#include "base/build_info.h"
#include "base/hlc.h"
#include "base/limits.h"
#include "cluster/ceiling.h"
#include "cluster/startup.h"
#include "engine/engine.h"
#include "rpc/cluster_secret.h"
#include "rpc/engine_ports.h"
#include "rpc/server.h"
#include "rpc/users.h"
#include "tools/internal/commands.h"
#include "tools/internal/config.h"
#include "tools/internal/logging.h"

namespace causeway::tools {
namespace {

struct ServeFlags {
  std::map<std::string, std::string> raw;  // config key -> flag text
  std::map<std::string, CLI::Option*> options;
  std::string config_file;
  bool print_config = false;
};

// The three layers below the defaults: file, environment, flags (lowest precedence first).
Result<std::vector<ConfigLayer>> GatherLayers(const ServeFlags& flags) {
  std::vector<ConfigLayer> layers;
  GetEnvFn getenv = ProcessEnvironment();
  std::string file = flags.config_file;
  if (file.empty()) file = getenv("CAUSEWAY_CONFIG").value_or("");
  if (!file.empty()) {
    auto layer = LoadConfigFile(file);
    if (!layer.ok()) return layer.status();
    layers.push_back(std::move(*layer));
  }
  layers.push_back(LoadEnvironment(getenv));
  ConfigLayer from_flags;
  for (const auto& [key, option] : flags.options) {
    if (option->count() > 0) from_flags[key] = RawValue{flags.raw.at(key), "flag " + FlagName(key)};
  }
  layers.push_back(std::move(from_flags));
  return layers;
}

// Restores the node's identity (cluster::RestoreIdentity, the start-up every driver host shares)
// and logs what it did.
Status RestoreIdentity(Engine& engine, const ServeConfig& config, cluster::NodeConfig* node,
                       spdlog::logger& log) {
  EngineMetaStore meta(&engine);
  cluster::StartupNotes notes;
  auto restored = cluster::RestoreIdentity(meta, *node, &notes);
  if (!restored.ok()) {
    if (restored.status().code() != ErrorCode::kInvalidArgument) return restored.status();
    return Status::InvalidArgument("data dir " + config.data_dir + ": " +
                                   restored.status().message());
  }
  *node = std::move(restored).value();
  for (const auto& warning : notes.warnings) log.warn("{}", warning);
  if (notes.tokens_restored && static_cast<int>(node->tokens.size()) != config.tokens) {
    log.warn(
        "keeping the {} ring tokens stored in the data dir (tokens = {} applies only to a new "
        "node)",
        node->tokens.size(), config.tokens);
  }
  if (notes.members_restored > 0) {
    log.info("restored a member view of {} nodes", notes.members_restored);
  }
  return Status::Ok();
}

cluster::NodeConfig MakeNodeConfig(const ServeConfig& c) {
  cluster::NodeConfig node;
  node.name = c.node_id;
  node.address = c.advertise;
  node.seeds = c.seeds;
  node.tokens_per_node = c.tokens;  // a new node's count; stored tokens win on a restart
  node.rf = c.rf;
  node.default_w = c.w_default;
  node.default_r = c.r_default;
  node.request_timeout_ms = c.request_timeout_ms;
  node.peer_timeout_ms = c.peer_timeout_ms;
  node.gossip_interval_ms = c.gossip_interval_ms;
  node.phi_convict = c.phi_convict;
  node.clock_fence_fraction = c.clock_fence_fraction;
  node.aae_interval_ms = c.aae_interval_ms;
  node.aae_bytes_per_s = c.aae_mb_per_s << 20;
  node.hint_replay_bytes_per_s = c.hint_replay_mb_per_s << 20;
  node.stream_bytes_per_s = c.stream_mb_per_s << 20;
  node.replace = !c.replace.empty();
  return node;
}

// Waits for SIGTERM/SIGINT (blocked in every thread by the caller) and stops the server; a second
// signal exits at once. SIGHUP reloads the TLS files. Finish() wakes and joins the thread after
// Run() returned.
class SignalWatcher {
 public:
  SignalWatcher(Server* server, spdlog::logger* log) : server_(server), log_(log) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~SignalWatcher() { Finish(); }
  void Finish() {
    if (!thread_.joinable()) return;
    done_.store(true);
    // Wakes the watcher's sigwait(): SIGTERM is blocked in every thread, so it terminates nothing.
    pthread_kill(thread_.native_handle(), SIGTERM);  // NOLINT(bugprone-bad-signal-to-kill-thread)
    thread_.join();
  }

 private:
  void Loop() {
    sigset_t set = TerminationSignals();
    int stops = 0;
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0 || done_.load()) return;
      if (sig == SIGHUP) {
        log_->info("received SIGHUP: reloading the TLS certificate, key and CA files");
        server_->ReloadTls();
        continue;
      }
      if (++stops == 1) {
        const char* name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
        log_->info(
            "received {}: draining (finishing in-flight calls, storing the member view), then "
            "exiting; the node stays a member (`causeway node decommission` removes one)",
            name);
        server_->Stop(name);
      } else {
        log_->warn("received a second signal: exiting now without a graceful stop");
        log_->flush();
        _exit(kExitError);
      }
    }
  }

 public:
  static sigset_t TerminationSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);  // reloads TLS files (Server::ReloadTls), never stops
    return set;
  }

 private:
  Server* server_;
  spdlog::logger* log_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

Result<std::unique_ptr<Engine>> OpenEngine(const ServeConfig& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return Status::IoError("cannot create data dir " + config.data_dir + ": " + ec.message());
  }
  EngineOptions options;
  options.dir = config.data_dir;
  options.sync = config.sync;
  options.periodic_sync_ms = config.periodic_sync_ms;
  options.block_cache_bytes = static_cast<size_t>(config.block_cache_mb) << 20;
  options.storage_profile = config.storage_profile;
  options.disk_reserve_bytes = config.disk_reserve_bytes;
  return Engine::Open(options);
}

// The RESP gateway's options; the password is the first line of resp_requirepass_file.
Status ConfigureResp(const ServeConfig& config, rpc::resp::RespOptions* resp) {
  resp->listen = config.resp_listen;
  if (config.resp_requirepass_file.empty()) return Status::Ok();
  std::ifstream in(config.resp_requirepass_file);
  std::string password;
  if (!in || !std::getline(in, password)) {
    return Status::InvalidArgument("cannot read resp_requirepass_file " +
                                   config.resp_requirepass_file);
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) {
    return Status::InvalidArgument("resp_requirepass_file " + config.resp_requirepass_file +
                                   " holds an empty password");
  }
  resp->password = std::move(password);
  return Status::Ok();
}

// Everything after the configuration is known. Returns the process exit code.

// After a crash the clock resumes above its persisted ceiling, up to the ceiling lead ahead of
// the wall clock, and peers reject timestamps more than max_offset ahead. Wait (before listening,
// so clients go to other nodes) until what this node stamps is acceptable again. Bounded by the
// lead: the wall clock advances meanwhile.
void WaitForWallClock(HybridClock* clock, spdlog::logger& log) {
  uint64_t lead_ms = clock->LeadOverPhysicalMs();
  if (lead_ms <= clock->max_offset_ms()) return;
  const uint64_t wait_ms = lead_ms - clock->max_offset_ms();
  log.info(
      "clock resumed {} ms above the wall clock (persisted ceiling); waiting {} ms before "
      "serving so peers accept its timestamps",
      lead_ms, wait_ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms + 1));
}

// A restart right after a stop (a supervisor, or faketime's wrapper, see below) may find the old
// process still closing its engine. RocksDB holds DIR/LOCK with an fcntl lock; wait (bounded by
// kDataDirLockWaitMsMax) while another process holds it, so the restart does not fail for a lock
// that is about to go. A lock that stays is reported by Engine::Open as before.
void WaitForDataDirLock(const std::string& dir, spdlog::logger& log) {
  const std::string path = dir + "/LOCK";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // a new data dir
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kDataDirLockWaitMsMax);
  bool logged = false;
  while (std::chrono::steady_clock::now() < deadline) {
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    if (::fcntl(fd, F_GETLK, &probe) != 0 || probe.l_type == F_UNLCK) break;
    if (!logged) {
      log.info("data dir {} is held by pid {}; waiting up to {} ms for it to exit", dir,
               probe.l_pid, kDataDirLockWaitMsMax);
      logged = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kDataDirLockPollMs));
  }
  ::close(fd);
}

// faketime(1), which operators use to try a node with a skewed clock, runs the node as its child
// and neither forwards signals nor kills the child when it is signalled itself: a SIGTERM meant
// for the node would leave it running, holding its data dir. Under faketime (its preload is in
// the environment) the node therefore takes its parent's death as a SIGTERM.
void ExitWithFaketimeWrapper(spdlog::logger& log) {
  const char* preload = std::getenv("LD_PRELOAD");
  if (preload == nullptr || std::string_view(preload).find("libfaketime") == std::string::npos) {
    return;
  }
  const pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) ::kill(getpid(), SIGTERM);  // the wrapper died before prctl
  log.info("running under faketime: this node stops when its faketime wrapper does");
}

// Tells systemd (Type=notify, deploy/systemd/causeway.service) that the node serves, or drains.
// A no-op outside systemd (no NOTIFY_SOCKET) and in builds without libsystemd.
void NotifySupervisor(bool serving) {
#ifdef CAUSEWAY_HAVE_SYSTEMD
  sd_notify(0, serving ? "READY=1\nSTATUS=serving" : "STOPPING=1\nSTATUS=draining");
#else
  (void)serving;
#endif
}

// The cluster secret and the users file (docs/operations.md, "Security"), and a descriptor limit
// raised to the hard limit, so that a connection flood meets the listener's bounds (which close
// the oldest unauthenticated connection) rather than accept() failing with EMFILE.
Status LoadSecurity(const ServeConfig& config, ServerOptions* options, spdlog::logger& log) {
  if (!config.cluster_secret_file.empty()) {
    auto secret = rpc::ClusterSecret::Load(config.cluster_secret_file);
    if (!secret.ok()) return secret.status();
    options->cluster_secret = std::make_shared<const rpc::ClusterSecret>(std::move(*secret));
  }
  if (!config.users_file.empty()) {
    auto users = rpc::Users::Load(config.users_file);
    if (!users.ok()) return users.status();
    if (users->size() == 0) {
      return Status::InvalidArgument("users file " + config.users_file +
                                     " has no users: add one with `causeway users add`");
    }
    options->users = std::make_shared<const rpc::Users>(std::move(*users));
  }
  options->tls.files = {config.tls_cert_file, config.tls_key_file, config.tls_ca_file};
  auto client_tls = rpc::ParseClientTls(config.client_tls);
  if (!client_tls.ok()) return client_tls.status();
  options->tls.client = *client_tls;
  options->tls.peer = config.peer_tls;
  log.info("security: peers {}, clients {}{}; TLS: client_tls={} peer_tls={}",
           options->cluster_secret ? "must prove the cluster secret" : "NOT authenticated",
           options->users ? "must log in" : "NOT authenticated",
           config.insecure ? " (insecure)" : "", config.client_tls, config.peer_tls ? "on" : "off");
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &files) != 0) log.warn("cannot raise RLIMIT_NOFILE");
  }
  return Status::Ok();
}

int RunNode(const ServeConfig& config) {
  auto log = MakeLogger(config.node_id, config.log_format, config.log_level);
  ExitWithFaketimeWrapper(*log);
  // Block the termination signals before any thread exists, so that only the watcher gets them.
  sigset_t signals = SignalWatcher::TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  std::string seeds;
  for (const auto& seed : config.seeds) seeds += (seeds.empty() ? "" : ",") + seed;
  log->info(
      "event=starting node={} version={} listen={} http_listen={} data_dir=\"{}\" rf={} sync={} "
      "storage_profile={} seeds={}",
      config.node_id, kCausewayVersion, config.listen, config.http_listen, config.data_dir,
      config.rf, SyncModeName(config.sync), StorageProfileName(config.storage_profile), seeds);
  WaitForDataDirLock(config.data_dir, *log);
  auto engine = OpenEngine(config);
  if (!engine.ok()) {
    log->error("cannot open the engine: {}", engine.status().ToString());
    return Fail(ExitCodeFor(engine.status()) == kExitUsage ? kExitUsage : kExitError,
                "cannot open data dir " + config.data_dir + ": " + engine.status().ToString(),
                "is another node running on this data dir? Stop it, or pick another --data-dir");
  }
  const DiskReport disk = (*engine)->GetStats().disk;
  log->info("disk reserve {} MiB, {} MiB free of {} MiB on {}", disk.reserve_bytes >> 20,
            disk.free_bytes >> 20, disk.total_bytes >> 20, config.data_dir);
  ServerOptions options;
  options.node = MakeNodeConfig(config);
  options.listen = config.listen;
  options.tick_interval_ms = config.tick_interval_ms;
  if (Status s = ConfigureResp(config, &options.resp); !s.ok()) {
    log->error("{}", s.ToString());
    return Fail(kExitUsage, s.message(), "fix resp_requirepass_file");
  }
  options.http_listen = config.http_listen == "off" ? "" : config.http_listen;
  options.on_lifecycle = NotifySupervisor;
  if (Status s = LoadSecurity(config, &options, *log); !s.ok()) {
    return FailStatus("cannot start node " + config.node_id, s);
  }
  if (Status s = RestoreIdentity(**engine, config, &options.node, *log); !s.ok()) {
    log->error("{}", s.ToString());
    return FailStatus("cannot start node " + config.node_id, s);
  }
  SystemClock wall_clock;
  // The clock's ceiling lives in the engine; once open, the node driver renews it off the loop.
  cluster::CeilingStore ceiling(engine->get(), config.max_clock_offset_ms);
  auto clock = HybridClock::Open(&wall_clock, &ceiling, config.max_clock_offset_ms);
  if (!clock.ok()) return FailStatus("cannot open the clock", clock.status());
  WaitForWallClock(clock->get(), *log);
  auto server = Server::Create(options, engine->get(), clock->get(), log, &ceiling);
  if (!server.ok()) {
    log->error("cannot start the server: {}", server.status().ToString());
    return FailStatus("cannot start the server on " + config.listen, server.status());
  }
  Status run;
  {
    SignalWatcher watcher(server->get(), log.get());
    run = (*server)->Run();
    watcher.Finish();
  }
  server->reset();
  if (Status s = (*engine)->SyncWal(); !s.ok()) log->warn("final WAL sync: {}", s.ToString());
  engine->reset();
  if (!run.ok()) {
    log->error("stopped with an error: {}", run.ToString());
    return FailStatus("node " + config.node_id + " stopped", run);
  }
  log->info("event=exit node={} detail=\"stopped cleanly\"", config.node_id);
  return kExitOk;
}

int RunServe(const ServeFlags& flags) {
  auto layers = GatherLayers(flags);
  if (!layers.ok()) return Fail(kExitUsage, layers.status().message(), "fix the config file");
  auto config = ResolveServeConfig(*layers);
  if (!config.ok()) {
    return Fail(kExitUsage, config.status().message(), "see `causeway serve --help`");
  }
  if (flags.print_config) {
    std::cout << ServeConfigToToml(*config);
    return kExitOk;
  }
  return RunNode(*config);
}

}  // namespace

void AddServeCommand(CLI::App& app, CommandSlot* slot) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Run a node. Settings: flags > CAUSEWAY_* environment > --config file > defaults");
  for (const auto& key : ServeConfigKeys()) {
    std::string help(key.help);
    if (!key.default_value.empty()) help += " (default " + std::string(key.default_value) + ")";
    help += " [env " + EnvName(key.name) + "]";
    std::string name(key.name);
    // --insecure alone means true (a flag); the other keys take a value.
    flags->options[name] =
        name == "insecure" ? cmd->add_flag(FlagName(key.name) + "{true}", flags->raw[name], help)
                           : cmd->add_option(FlagName(key.name), flags->raw[name], help);
  }
  cmd->add_option("--config", flags->config_file, "TOML file of settings [env CAUSEWAY_CONFIG]");
  cmd->add_flag("--print-config", flags->print_config,
                "print the resolved settings as TOML and exit without starting");
  cmd->callback([flags, slot] { *slot = [flags] { return RunServe(*flags); }; });
}

}  // namespace causeway::tools
