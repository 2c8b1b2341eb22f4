// `causeway bench`: closed-loop load against running nodes, or against the engine in-process as
// the reference measured in the same run (STYLE.md 15).
//
// Node mode: --threads threads (default 2, so that the client does not starve the node of the
// machine's cores), each with one Client holding its share of the --connections connections on
// its one event loop, keeping --outstanding calls in flight per connection (StartGet/StartPut
// spread round-robin over the thread's connections). Engine mode (--engine-reference DIR): the
// same mix straight on an Engine, no network, with as many closed-loop threads as node mode has
// client threads (--engine-threads overrides). Ping mode (--ping): node mode's connections,
// outstanding calls and threads, but every call is ClientApi.ping, which the node answers without
// its core or store: Cap'n Proto's own ceiling on this machine. All print one JSON line last.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <latch>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "base/hlc.h"
#include "base/limits.h"
#include "engine/engine.h"
#include "rpc/client.h"
#include "tools/internal/client_flags.h"
#include "tools/internal/commands.h"
#include "tools/internal/histogram.h"
#include "tools/internal/process.h"

namespace causeway::tools {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

struct BenchFlags {
  ClientFlags client;
  int connections = 64;
  int outstanding = 4;
  int threads = 2;
  double duration_s = 10;
  size_t value_bytes = 1024;
  double read_ratio = 0.5;
  uint64_t keys = 10000;
  bool no_preload = false;
  bool sessions = false;  // carry one session per thread (its token grows with the keys)
  bool ping = false;      // null calls only (no preload, no store)
  std::string w, r;
  std::string engine_reference;  // DIR: measure the engine in-process instead of nodes
  int engine_threads = 0;        // 0: --threads
  std::string sync = "periodic";
  uint64_t seed = 1;
};

// What one thread measured.
struct ThreadResult {
  LatencyHistogram latency;
  uint64_t reads = 0, writes = 0, not_found = 0, errors = 0;
  std::string first_error;

  void Merge(const ThreadResult& o) {
    latency.Merge(o.latency);
    reads += o.reads, writes += o.writes, not_found += o.not_found, errors += o.errors;
    if (first_error.empty()) first_error = o.first_error;
  }
  void Error(const Status& s) {
    ++errors;
    if (first_error.empty()) first_error = s.ToString();
  }
};

std::string BenchKey(uint64_t i) { return "bench:" + std::to_string(i); }

uint64_t MicrosSince(SteadyClock::time_point start) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - start).count());
}

// Connections driven by thread `index` of `threads`: an even share of the total, at least one.
int ConnectionsOf(const BenchFlags& f, int index) {
  return f.connections / f.threads + (index < f.connections % f.threads ? 1 : 0);
}

ClientOptions WithCredentials(const ClientFlags& flags, ClientOptions options) {
  (void)ApplyCredentials(flags, &options);  // a bad --password-file: the node refuses the login
  return options;
}

// One thread's closed loop over its connections: keeps `outstanding` calls in flight per
// connection until told to stop.
class Driver {
 public:
  Driver(const BenchFlags& f, std::vector<std::string> endpoints, CallOptions read_options,
         CallOptions write_options, int index)
      : f_(f),
        client_(
            WithCredentials(f.client, ClientOptions{std::move(endpoints), f.client.timeout_ms,
                                                    std::min<uint64_t>(f.client.timeout_ms, 2000),
                                                    static_cast<size_t>(ConnectionsOf(f, index))})),
        read_options_(read_options),
        write_options_(write_options),
        rng_(f.seed * 7919 + static_cast<uint64_t>(index)),
        value_(f.value_bytes, 'v'),
        index_(index),
        window_(f.outstanding * ConnectionsOf(f, index)) {}

  // Writes this thread's share of the key space (keys i with i % threads == index).
  void Preload() {
    uint64_t next = static_cast<uint64_t>(index_);
    auto step = static_cast<uint64_t>(f_.threads);
    auto more = [&] { return next < f_.keys; };
    Loop(more, [&] {
      IssuePut(BenchKey(next), /*measured=*/false);
      next += step;
    });
  }

  void Run(const std::atomic<bool>& stop) {
    std::uniform_real_distribution<double> coin(0, 1);
    Loop([&] { return !stop.load(std::memory_order_relaxed); },
         [&] {
           if (f_.ping) return IssuePing();
           std::string key = BenchKey(rng_() % f_.keys);
           if (coin(rng_) < f_.read_ratio) {
             IssueGet(key);
           } else {
             IssuePut(std::move(key), /*measured=*/true);
           }
         });
  }

  ThreadResult& result() { return result_; }

 private:
  // Issues while `more()`, keeping at most `outstanding` in flight; returns when all finished.
  template <typename More, typename Issue>
  void Loop(More more, Issue issue) {
    refill_ = [&] {
      while (more() && in_flight_ < window_) {
        ++in_flight_;
        issue();
      }
    };
    while (true) {
      refill_();
      if (in_flight_ == 0) break;
      client_.Wait();
    }
    refill_ = nullptr;
  }

  // Without --sessions every call starts a new session: a thread touching thousands of keys
  // would otherwise send a token near kSessionTokenBytesMax with every call, and the benchmark
  // would measure token encoding rather than the store.
  void ForgetSession() {
    if (!f_.sessions) client_.set_session({});
  }

  void IssueGet(const std::string& key) {
    ForgetSession();
    auto start = SteadyClock::now();
    client_.StartGet(key, read_options_, [this, start](Result<ReadReply> reply) {
      if (reply.ok()) {
        result_.latency.Record(MicrosSince(start));
        ++result_.reads;
        result_.not_found += reply->found ? 0 : 1;
      } else {
        result_.Error(reply.status());
      }
      Done();
    });
  }

  void IssuePut(std::string key, bool measured) {
    ForgetSession();
    auto start = SteadyClock::now();
    client_.StartPut(std::move(key), value_, write_options_,
                     [this, start, measured](const Result<Version>& written) {
                       if (!written.ok()) {
                         result_.Error(written.status());
                       } else if (measured) {
                         result_.latency.Record(MicrosSince(start));
                         ++result_.writes;
                       }
                       Done();
                     });
  }

  void IssuePing() {
    auto start = SteadyClock::now();
    client_.StartPing([this, start](const Status& s) {
      if (s.ok()) {
        result_.latency.Record(MicrosSince(start));
        ++result_.reads;
      } else {
        result_.Error(s);
      }
      Done();
    });
  }

  void Done() {
    --in_flight_;
    if (refill_) refill_();
  }

  const BenchFlags& f_;
  Client client_;
  CallOptions read_options_, write_options_;
  std::mt19937_64 rng_;
  std::string value_;
  int index_;
  int window_;  // calls in flight: outstanding x this thread's connections
  int in_flight_ = 0;
  std::function<void()> refill_;
  ThreadResult result_;
};

json Report(const char* mode, const BenchFlags& f, const ThreadResult& total, double seconds) {
  auto ms = [&](double q) { return static_cast<double>(total.latency.Percentile(q)) / 1000.0; };
  uint64_t ops = total.reads + total.writes;
  return {{"mode", mode},
          {"value_bytes", f.value_bytes},
          {"read_ratio", f.read_ratio},
          {"keys", f.keys},
          {"seconds", seconds},
          {"ops", ops},
          {"ops_per_s", seconds > 0 ? static_cast<double>(ops) / seconds : 0.0},
          {"reads", total.reads},
          {"writes", total.writes},
          {"not_found", total.not_found},
          {"errors", total.errors},
          {"first_error", total.first_error},
          {"p50_ms", ms(0.50)},
          {"p99_ms", ms(0.99)},
          {"p999_ms", ms(0.999)},
          {"max_ms", static_cast<double>(total.latency.max()) / 1000.0}};
}

// Runs `body(index, stop)` on `threads` threads for the duration; returns the elapsed seconds.
template <typename Body>
double RunTimed(int threads, double duration_s, Body body) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads));
  auto start = SteadyClock::now();
  for (int i = 0; i < threads; ++i) pool.emplace_back([&, i] { body(i, stop); });
  std::this_thread::sleep_for(std::chrono::duration<double>(duration_s));
  stop.store(true);
  for (auto& t : pool) t.join();
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

std::vector<std::string> Rotated(const std::vector<std::string>& endpoints, size_t by) {
  std::vector<std::string> out;
  for (size_t k = 0; k < endpoints.size(); ++k) {
    out.push_back(endpoints[(by + k) % endpoints.size()]);
  }
  return out;
}

int RunNodeBench(const BenchFlags& f) {
  auto endpoints = ParseEndpoints(f.client.endpoints);
  if (!endpoints.ok()) return Fail(kExitUsage, endpoints.status().message());
  auto r = ParseConsistency(f.r, "--r");
  auto w = ParseConsistency(f.w, "--w");
  if (!r.ok() || !w.ok()) return Fail(kExitUsage, (!r.ok() ? r : w).status().message());
  CallOptions read_options{*r, f.client.timeout_ms}, write_options{*w, f.client.timeout_ms};
  std::vector<ThreadResult> results(static_cast<size_t>(f.threads));
  std::latch preloaded(f.threads), go(1);
  std::atomic<bool> stop{false};
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(f.threads));
  for (int i = 0; i < f.threads; ++i) {
    pool.emplace_back([&, i] {
      // A Client belongs to the thread that created it (its KJ event loop). Thread i starts at
      // endpoint i % n, so the load spreads over the nodes.
      Driver conn(f, Rotated(*endpoints, static_cast<size_t>(i)), read_options, write_options, i);
      if (!f.no_preload && !f.ping) conn.Preload();
      preloaded.count_down();
      go.wait();
      conn.Run(stop);
      results[static_cast<size_t>(i)] = conn.result();
    });
  }
  preloaded.wait();
  std::cerr << "bench: " << f.connections << " connections x " << f.outstanding
            << " outstanding on " << f.threads << " threads for " << f.duration_s << " s\n";
  auto start = SteadyClock::now();
  go.count_down();
  std::this_thread::sleep_for(std::chrono::duration<double>(f.duration_s));
  stop.store(true);
  for (auto& t : pool) t.join();
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  ThreadResult total;
  for (const auto& result : results) total.Merge(result);
  json out = Report(f.ping ? "ping" : "node", f, total, seconds);
  out["endpoints"] = *endpoints;
  out["connections"] = f.connections;
  out["outstanding"] = f.outstanding;
  out["threads"] = f.threads;
  out["sessions"] = f.sessions;
  std::cout << out.dump() << "\n";
  return total.errors == 0 ? kExitOk : kExitError;
}

// ---- engine reference --------------------------------------------------------------------------

// The engine's own mixed throughput: the node's work minus network, RPC and replication. Each of
// the threads runs a closed loop of Engine::Get / Engine::Apply (a fresh HLC-stamped version, as
// the node writes it) over the same keys, value size and mix as node mode.
int RunEngineBench(const BenchFlags& f) {
  const int threads = f.engine_threads > 0 ? f.engine_threads : f.threads;
  auto sync = ParseSyncMode(f.sync);
  if (!sync.ok()) return Fail(kExitUsage, "--sync must be always, periodic or none");
  std::error_code ec;
  if (std::filesystem::exists(f.engine_reference) &&
      !std::filesystem::is_empty(f.engine_reference, ec)) {
    return Fail(kExitUsage, "--engine-reference " + f.engine_reference + " is not empty",
                "give a new or empty folder; the benchmark fills it with a database");
  }
  EngineOptions options;
  options.dir = f.engine_reference;
  options.sync = *sync;
  auto engine = Engine::Open(options);
  if (!engine.ok()) return FailStatus("cannot open the engine", engine.status());
  SystemClock wall;
  auto clock = HybridClock::Open(&wall, nullptr);
  if (!clock.ok()) return FailStatus("cannot open the clock", clock.status());
  const NodeId writer = NodeIdFromName("bench");
  std::string value(f.value_bytes, 'v');
  auto put = [&](const std::string& key, ThreadResult& out) {
    Version v;
    auto now = (*clock)->Now();
    if (!now.ok()) return out.Error(now.status());
    v.timestamp = *now;
    v.writer = writer;
    v.vv.Advance(writer, *now);
    v.value = value;
    auto applied = (*engine)->Apply(key, v);
    if (!applied.ok()) out.Error(applied.status());
  };
  if (!f.no_preload) {
    ThreadResult ignored;
    for (uint64_t i = 0; i < f.keys; ++i) put(BenchKey(i), ignored);
  }
  std::vector<ThreadResult> results(static_cast<size_t>(threads));
  double seconds = RunTimed(threads, f.duration_s, [&](int i, const std::atomic<bool>& stop) {
    ThreadResult& out = results[static_cast<size_t>(i)];
    std::mt19937_64 rng(f.seed * 104729 + static_cast<uint64_t>(i));
    std::uniform_real_distribution<double> coin(0, 1);
    while (!stop.load(std::memory_order_relaxed)) {
      std::string key = BenchKey(rng() % f.keys);
      auto start = SteadyClock::now();
      if (coin(rng) < f.read_ratio) {
        auto got = (*engine)->Get(key);
        if (!got.ok()) {
          out.Error(got.status());
          continue;
        }
        ++out.reads;
        out.not_found += got->has_value() ? 0 : 1;
      } else {
        put(key, out);
        ++out.writes;
      }
      out.latency.Record(MicrosSince(start));
    }
  });
  ThreadResult total;
  for (const auto& r : results) total.Merge(r);
  json out = Report("engine", f, total, seconds);
  out["threads"] = threads;
  out["sync"] = f.sync;
  std::cout << out.dump() << "\n";
  return total.errors == 0 ? kExitOk : kExitError;
}

int RunBench(const BenchFlags& f) {
  if (f.value_bytes > kValueBytesMax) return Fail(kExitUsage, "--value-bytes is over 1 MiB");
  if (f.keys == 0) return Fail(kExitUsage, "--keys must be at least 1");
  if (f.threads > f.connections && f.engine_reference.empty()) {
    return Fail(kExitUsage, "--threads is more than --connections",
                "give at least one connection per thread");
  }
  if (!f.engine_reference.empty()) return RunEngineBench(f);
  return RunNodeBench(f);
}

}  // namespace

void AddBenchCommand(CLI::App& app, CommandSlot* slot) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Closed-loop get/put load; prints one JSON line (ops/s, p50/p99/p999 ms) last");
  AddClientFlags(cmd, &f->client, /*session=*/false);
  cmd->add_option("--connections", f->connections, "client connections, spread over --threads")
      ->check(CLI::Range(1, kBenchConnectionsMax))
      ->capture_default_str();
  cmd->add_option("--outstanding", f->outstanding, "calls in flight per connection")
      ->check(CLI::Range(1, kBenchOutstandingMax))
      ->capture_default_str();
  cmd->add_option("--threads", f->threads, "client threads, each driving several connections")
      ->check(CLI::Range(1, kBenchConnectionsMax))
      ->capture_default_str();
  cmd->add_option("--duration-s", f->duration_s, "measured time")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  cmd->add_option("--value-bytes", f->value_bytes, "value size")->capture_default_str();
  cmd->add_option("--read-ratio", f->read_ratio, "fraction of gets")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--keys", f->keys, "key space size")->capture_default_str();
  cmd->add_flag("--no-preload", f->no_preload, "do not write every key before measuring");
  cmd->add_flag("--ping", f->ping,
                "null calls only (answered without the store): the RPC layer's own ceiling");
  cmd->add_flag("--sessions", f->sessions,
                "carry one session per client thread across calls (default: a new one per call)");
  cmd->add_option("--r", f->r, "R for gets: N|one|quorum|all (default: the node's)");
  cmd->add_option("--w", f->w, "W for puts: N|one|quorum|all (default: the node's)");
  cmd->add_option("--engine-reference", f->engine_reference,
                  "measure the engine in-process in this new folder instead of nodes");
  cmd->add_option("--engine-threads", f->engine_threads,
                  "threads for --engine-reference (default: --threads)")
      ->check(CLI::Range(1, kBenchConnectionsMax));
  cmd->add_option("--sync", f->sync, "engine durability for --engine-reference")
      ->capture_default_str();
  cmd->add_option("--seed", f->seed, "key choice seed")->capture_default_str();
  cmd->callback([f, slot] { *slot = [f] { return RunBench(*f); }; });
}

}  // namespace causeway::tools
