// `causeway serve`: runs one node until SIGTERM/SIGINT.
//
// Startup order: resolve the configuration, open the engine, check the data dir belongs to this
// node name, restore the ring tokens and bump the generation, open the HLC on the engine, create
// the server, then run it with the termination signals handled on their own thread.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/engine.h"
#include "engine/hlc.h"
#include "engine/limits.h"
#include "rpc/client.h"
#include "rpc/server.h"
#include "tools/internal/commands.h"
#include "tools/internal/config.h"
#include "tools/internal/logging.h"

namespace causeway::tools {
namespace {

// Names of the node's own records in the engine's `clock` column family (Engine::StoreMeta).
constexpr std::string_view kMetaNodeName = "node_name";
constexpr std::string_view kMetaTokens = "tokens";  // decimal tokens, comma-separated
constexpr std::string_view kMetaGeneration = "generation";

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

std::string EncodeTokens(const std::vector<Token>& tokens) {
  std::string out;
  for (Token t : tokens) out += (out.empty() ? "" : ",") + std::to_string(t);
  return out;
}

Result<std::vector<Token>> DecodeTokens(std::string_view text) {
  std::vector<Token> tokens;
  for (const auto& item : SplitList(text)) {
    auto t = ParseUint(item, "stored token");
    if (!t.ok())
      return Status::Corruption("stored ring tokens are unreadable: " + std::string(text));
    tokens.push_back(*t);
  }
  return tokens;
}

// Claims the data dir for this node name (or checks an earlier claim), restores the ring tokens
// and bumps the generation. Fills `node`.
Status RestoreIdentity(Engine& engine, const ServeConfig& config, cluster::NodeConfig* node,
                       spdlog::logger& log) {
  auto name = engine.LoadMeta(kMetaNodeName);
  if (!name.ok()) return name.status();
  if (name->has_value() && **name != config.node_id) {
    return Status::InvalidArgument("data dir " + config.data_dir + " belongs to node '" + **name +
                                   "', not '" + config.node_id +
                                   "': start that node with --node-id " + **name +
                                   ", or give this node its own --data-dir");
  }
  if (!name->has_value()) {
    if (Status s = engine.StoreMeta(kMetaNodeName, config.node_id); !s.ok()) return s;
  }
  auto tokens = engine.LoadMeta(kMetaTokens);
  if (!tokens.ok()) return tokens.status();
  if (tokens->has_value()) {
    auto decoded = DecodeTokens(**tokens);
    if (!decoded.ok()) return decoded.status();
    node->tokens = std::move(*decoded);
    if (static_cast<int>(node->tokens.size()) != config.tokens) {
      log.warn(
          "keeping the {} ring tokens stored in the data dir (tokens = {} applies only to a "
          "new node)",
          node->tokens.size(), config.tokens);
    }
  }
  auto generation = engine.LoadMeta(kMetaGeneration);
  if (!generation.ok()) return generation.status();
  uint64_t previous = 0;
  if (generation->has_value()) {
    auto parsed = ParseUint(**generation, "stored generation");
    if (!parsed.ok()) return Status::Corruption("stored generation is unreadable");
    previous = *parsed;
  }
  node->generation = previous + 1;
  return engine.StoreMeta(kMetaGeneration, std::to_string(node->generation));
}

cluster::NodeConfig MakeNodeConfig(const ServeConfig& c) {
  cluster::NodeConfig node;
  node.name = c.node_id;
  node.address = c.advertise;
  node.seeds = c.seeds;
  node.rf = c.rf;
  node.default_w = c.w_default;
  node.default_r = c.r_default;
  node.request_timeout_ms = c.request_timeout_ms;
  node.peer_timeout_ms = c.peer_timeout_ms;
  node.gossip_interval_ms = c.gossip_interval_ms;
  node.phi_convict = c.phi_convict;
  return node;
}

// Waits for SIGTERM/SIGINT (blocked in every thread by the caller) and stops the server; a second
// signal exits at once. Finish() wakes and joins the thread after Run() returned.
class SignalWatcher {
 public:
  SignalWatcher(Server* server, spdlog::logger* log) : server_(server), log_(log) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~SignalWatcher() { Finish(); }
  void Finish() {
    if (!thread_.joinable()) return;
    done_.store(true);
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }

 private:
  void Loop() {
    sigset_t set = TerminationSignals();
    int stops = 0;
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0 || done_.load()) return;
      if (++stops == 1) {
        log_->info("received {}: leaving the cluster, finishing in-flight calls, then exiting",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
        server_->Stop();
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
    return set;
  }

 private:
  Server* server_;
  spdlog::logger* log_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// A new node's core chooses its ring tokens after it has seen the ring (cluster/node.h), inside
// the server. This thread asks the running node for its own member entry, as any client would,
// and stores the tokens once they are known, so that a restart keeps the node's place on the ring.
class TokenPersister {
 public:
  TokenPersister(Engine* engine, const ServeConfig& config, std::vector<Token> stored,
                 spdlog::logger* log)
      : engine_(engine), address_(config.advertise), stored_(std::move(stored)), log_(log) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~TokenPersister() { Finish(); }
  void Finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    Client client(ClientOptions{{address_}, kPollTimeoutMs, kPollTimeoutMs});
    while (!WaitOrDone(kPollIntervalMs)) {
      auto status = client.Status();
      if (!status.ok()) continue;
      for (const auto& m : status->members) {
        if (m.state.id != status->id || m.state.tokens.empty()) continue;
        if (m.state.tokens != stored_) Store(m.state.tokens);
        return;
      }
    }
  }
  void Store(const std::vector<Token>& tokens) {
    if (Status s = engine_->StoreMeta(kMetaTokens, EncodeTokens(tokens)); !s.ok()) {
      log_->warn("cannot persist the ring tokens: {}", s.ToString());
      return;
    }
    log_->info("persisted {} ring tokens", tokens.size());
  }
  // True when Finish() was called.
  bool WaitOrDone(uint64_t ms) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return done_; });
  }

  static constexpr uint64_t kPollIntervalMs = 200;
  static constexpr uint64_t kPollTimeoutMs = 1000;
  Engine* engine_;
  std::string address_;
  std::vector<Token> stored_;
  spdlog::logger* log_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;  // GUARDED_BY(mu_)
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
  return Engine::Open(options);
}

// Everything after the configuration is known. Returns the process exit code.
int RunNode(const ServeConfig& config) {
  auto log = MakeLogger(config.node_id, config.log_format, config.log_level);
  // Block the termination signals before any thread exists, so that only the watcher gets them.
  sigset_t signals = SignalWatcher::TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  std::string seeds;
  for (const auto& seed : config.seeds) seeds += (seeds.empty() ? "" : ",") + seed;
  log->info("starting: listen {} data_dir {} rf {} sync {} seeds {}", config.listen,
            config.data_dir, config.rf, SyncModeName(config.sync), seeds);
  auto engine = OpenEngine(config);
  if (!engine.ok()) {
    log->error("cannot open the engine: {}", engine.status().ToString());
    return Fail(ExitCodeFor(engine.status()) == kExitUsage ? kExitUsage : kExitError,
                "cannot open data dir " + config.data_dir + ": " + engine.status().ToString(),
                "is another node running on this data dir? Stop it, or pick another --data-dir");
  }
  ServerOptions options{MakeNodeConfig(config), config.listen};
  if (Status s = RestoreIdentity(**engine, config, &options.node, *log); !s.ok()) {
    log->error("{}", s.ToString());
    return FailStatus("cannot start node " + config.node_id, s);
  }
  SystemClock wall_clock;
  auto clock = HybridClock::Open(&wall_clock, engine->get(), config.max_clock_offset_ms);
  if (!clock.ok()) return FailStatus("cannot open the clock", clock.status());
  auto server = Server::Create(options, engine->get(), clock->get(), log);
  if (!server.ok()) {
    log->error("cannot start the server: {}", server.status().ToString());
    return FailStatus("cannot start the server on " + config.listen, server.status());
  }
  log->info("node {} generation {} serving on {}", config.node_id, options.node.generation,
            config.listen);
  Status run;
  {
    SignalWatcher watcher(server->get(), log.get());
    TokenPersister persister(engine->get(), config, options.node.tokens, log.get());
    run = (*server)->Run();
    persister.Finish();
    watcher.Finish();
  }
  server->reset();
  if (Status s = (*engine)->SyncWal(); !s.ok()) log->warn("final WAL sync: {}", s.ToString());
  engine->reset();
  if (!run.ok()) {
    log->error("stopped with an error: {}", run.ToString());
    return FailStatus("node " + config.node_id + " stopped", run);
  }
  log->info("stopped cleanly");
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
    flags->options[name] = cmd->add_option(FlagName(key.name), flags->raw[name], help);
  }
  cmd->add_option("--config", flags->config_file, "TOML file of settings [env CAUSEWAY_CONFIG]");
  cmd->add_flag("--print-config", flags->print_config,
                "print the resolved settings as TOML and exit without starting");
  cmd->callback([flags, slot] { *slot = [flags] { return RunServe(*flags); }; });
}

}  // namespace causeway::tools
