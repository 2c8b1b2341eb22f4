// `causeway bench`: YCSB-style load against running nodes (natively over Cap'n Proto, or over
// RESP2 against Causeway's RESP gateway or any redis-server), or against the engine in-process as
// the reference measured in the same run (STYLE.md 15).
//
// Node mode: --threads threads (default 2, so that the client does not starve the node of the
// machine's cores), each with one backend (tools/internal/bench_backend.h: one Client, or one
// hiredis loop) holding its share of the --connections connections on its one event loop.
// Closed loop (default): --outstanding calls in flight per connection. Open loop (--rate R):
// operations are due at fixed intervals (R/s over all threads) and latency is measured from the
// intended send time (tools/internal/bench_workload.h: no coordinated omission); at most
// connections x outstanding are in flight, later ones wait and are charged for it.
// Workloads (--workload a|b|c|f|w, else --read-ratio), keys uniform or scrambled zipfian
// (--distribution, theta 0.99), any value size up to 1 MiB.
// Engine mode (--engine-reference DIR): the same mix straight on an Engine, no network, with as
// many closed-loop threads as node mode has client threads (--engine-threads overrides). Ping
// mode (--ping): node mode's connections, outstanding calls and threads, but every call is a null
// call (ClientApi.ping, RESP PING), answered without the store: the protocol's own ceiling on this
// machine. All print one JSON line last.
#include <CLI/CLI.hpp>
#include <array>
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
#include "tools/internal/bench_backend.h"
#include "tools/internal/bench_workload.h"
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
  std::string workload;  // a|b|c|f|w; empty: --read-ratio
  std::string distribution = "uniform";
  std::string backend = "native";  // native | resp
  std::string password;            // RESP AUTH
  double rate = 0;                 // ops/s over all threads; 0: closed loop
  uint64_t keys = 10000;
  bool no_preload = false;
  bool sessions = false;  // carry one session per thread (its token grows with the keys)
  bool ping = false;      // null calls only (no preload, no store)
  std::string w, r;
  std::string engine_reference;  // DIR: measure the engine in-process instead of nodes
  int engine_threads = 0;        // 0: --threads
  std::string sync = "periodic";
  uint64_t seed = 1;
  // Parsed in RunBench.
  WorkloadMix mix;
  KeyDistribution keys_from = KeyDistribution::kUniform;
};

// One operation type's measurements.
struct OpStats {
  LatencyHistogram latency;
  uint64_t ops = 0, errors = 0;
  void Merge(const OpStats& o) {
    latency.Merge(o.latency);
    ops += o.ops, errors += o.errors;
  }
};

// What one thread measured.
struct ThreadResult {
  LatencyHistogram latency;
  std::array<OpStats, kBenchOpCount> per_op;
  uint64_t reads = 0, writes = 0, not_found = 0, errors = 0;
  uint64_t due = 0, issued = 0;  // open loop: operations due by the end, and sent
  std::string first_error;

  void Merge(const ThreadResult& o) {
    latency.Merge(o.latency);
    for (size_t i = 0; i < per_op.size(); ++i) per_op[i].Merge(o.per_op[i]);
    reads += o.reads, writes += o.writes, not_found += o.not_found, errors += o.errors;
    due += o.due, issued += o.issued;
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

// One thread's load over its backend: a closed loop keeping `outstanding` calls in flight per
// connection, or an open loop on a schedule.
class Driver {
 public:
  Driver(const BenchFlags& f, std::unique_ptr<BenchBackend> backend, int index)
      : f_(f),
        backend_(std::move(backend)),
        rng_(f.seed * 7919 + static_cast<uint64_t>(index)),
        keys_(f.keys_from, f.keys, ZipfianGenerator::kYcsbTheta),
        value_(f.value_bytes, 'v'),
        index_(index),
        window_(f.outstanding * ConnectionsOf(f, index)) {}

  // Writes this thread's share of the key space (keys i with i % threads == index).
  void Preload() {
    uint64_t next = static_cast<uint64_t>(index_);
    auto step = static_cast<uint64_t>(f_.threads);
    auto more = [&] { return next < f_.keys; };
    Loop(more, [&] {
      std::string key = BenchKey(next);
      next += step;
      backend_->StartWrite(key, value_, [this](const BenchReply& r) {
        if (!r.status.ok()) result_.Error(r.status);
        Done();
      });
    });
  }

  void RunClosed(const std::atomic<bool>& stop) {
    Loop([&] { return !stop.load(std::memory_order_relaxed); }, [&] { Issue(SteadyClock::now()); });
  }

  // Operation i of this thread is due at schedule.Intended(i); runs until `end`, then waits for
  // what is in flight.
  void RunOpen(const OpenLoopSchedule& schedule, SteadyClock::time_point end) {
    uint64_t issued = 0;
    while (true) {
      const auto now = SteadyClock::now();
      if (now >= end) break;
      const uint64_t due = schedule.DueBy(now);
      while (issued < due && in_flight_ < window_) {
        ++in_flight_;
        Issue(schedule.Intended(issued++));
      }
      // Wait for the next due time, or (window full, operations overdue) for replies.
      const auto next = issued < due ? now + std::chrono::microseconds(kOpenLoopBusyWaitUs)
                                     : std::min(schedule.Intended(issued), end);
      backend_->WaitFor(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(next - now).count()));
    }
    result_.due = schedule.DueBy(end);
    result_.issued = issued;
    backend_->Wait();
  }

  ThreadResult& result() { return result_; }

 private:
  static constexpr int64_t kOpenLoopBusyWaitUs = 100;

  // Issues while `more()`, keeping at most `window_` in flight; returns when all finished.
  template <typename More, typename IssueFn>
  void Loop(More more, IssueFn issue) {
    refill_ = [&] {
      while (more() && in_flight_ < window_) {
        ++in_flight_;
        issue();
      }
    };
    while (true) {
      refill_();
      if (in_flight_ == 0) break;
      backend_->Wait();
    }
    refill_ = nullptr;
  }

  // One operation of the mix, timed from `start` (the actual send time in a closed loop, the
  // intended one in an open loop). Caller counted it in in_flight_.
  void Issue(SteadyClock::time_point start) {
    if (f_.ping) {
      backend_->StartPing([this, start](const BenchReply& r) {
        Finish(BenchOp::kRead, start, r);
        if (r.status.ok()) ++result_.reads;
      });
      return;
    }
    std::string key = BenchKey(keys_.Next(rng_));
    const BenchOp op = f_.mix.Pick(coin_(rng_));
    switch (op) {
      case BenchOp::kRead:
        backend_->StartRead(key, [this, start](const BenchReply& r) {
          if (r.status.ok()) {
            ++result_.reads;
            result_.not_found += r.found ? 0 : 1;
          }
          Finish(BenchOp::kRead, start, r);
        });
        break;
      case BenchOp::kUpdate:
        backend_->StartWrite(key, value_, [this, start](const BenchReply& r) {
          if (r.status.ok()) ++result_.writes;
          Finish(BenchOp::kUpdate, start, r);
        });
        break;
      case BenchOp::kReadModifyWrite:
        backend_->StartRead(key, [this, start, key](const BenchReply& read) {
          if (!read.status.ok()) return Finish(BenchOp::kReadModifyWrite, start, read);
          ++result_.reads;
          backend_->StartWrite(key, value_, [this, start](const BenchReply& r) {
            if (r.status.ok()) ++result_.writes;
            Finish(BenchOp::kReadModifyWrite, start, r);
          });
        });
        break;
    }
  }

  void Finish(BenchOp op, SteadyClock::time_point start, const BenchReply& r) {
    OpStats& stats = result_.per_op[static_cast<size_t>(op)];
    if (r.status.ok()) {
      const uint64_t us = MicrosSince(start);
      result_.latency.Record(us);
      stats.latency.Record(us);
      ++stats.ops;
    } else {
      ++stats.errors;
      result_.Error(r.status);
    }
    Done();
  }

  void Done() {
    --in_flight_;
    if (refill_) refill_();
  }

  const BenchFlags& f_;
  std::unique_ptr<BenchBackend> backend_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> coin_{0.0, 1.0};
  KeyChooser keys_;
  std::string value_;
  int index_;
  int window_;  // calls in flight: outstanding x this thread's connections
  int in_flight_ = 0;
  std::function<void()> refill_;
  ThreadResult result_;
};

json LatencyJson(const LatencyHistogram& h) {
  auto ms = [&](double q) { return static_cast<double>(h.Percentile(q)) / 1000.0; };
  return {{"p50_ms", ms(0.50)},
          {"p99_ms", ms(0.99)},
          {"p999_ms", ms(0.999)},
          {"max_ms", static_cast<double>(h.max()) / 1000.0}};
}

json Report(const char* mode, const BenchFlags& f, const ThreadResult& total, double seconds) {
  uint64_t ops = total.reads + total.writes;
  // A read-modify-write is one operation of the workload (two calls, counted in reads/writes).
  const OpStats& rmw = total.per_op[static_cast<size_t>(BenchOp::kReadModifyWrite)];
  ops -= rmw.ops;
  auto per_s = [&](uint64_t n) { return seconds > 0 ? static_cast<double>(n) / seconds : 0.0; };
  json out = {{"mode", mode},
              {"backend", f.backend},
              {"workload", f.mix.name},
              {"distribution", KeyDistributionName(f.keys_from)},
              {"loop", f.rate > 0 ? "open" : "closed"},
              {"value_bytes", f.value_bytes},
              {"read_ratio", f.mix.read},
              {"keys", f.keys},
              {"seconds", seconds},
              {"ops", ops},
              {"ops_per_s", per_s(ops)},
              {"reads", total.reads},
              {"writes", total.writes},
              {"write_mb_per_s", per_s(total.writes) * static_cast<double>(f.value_bytes) / 1e6},
              {"not_found", total.not_found},
              {"errors", total.errors},
              {"first_error", total.first_error}};
  out.update(LatencyJson(total.latency));
  json per_op = json::object();
  for (int i = 0; i < kBenchOpCount; ++i) {
    const OpStats& st = total.per_op[static_cast<size_t>(i)];
    if (st.ops == 0 && st.errors == 0) continue;
    json one = {{"ops", st.ops}, {"ops_per_s", per_s(st.ops)}, {"errors", st.errors}};
    one.update(LatencyJson(st.latency));
    per_op[std::string(BenchOpName(static_cast<BenchOp>(i)))] = one;
  }
  out["per_op"] = per_op;
  if (f.rate > 0) {
    out["target_ops_per_s"] = f.rate;
    out["ops_due"] = total.due;
    out["ops_sent"] = total.issued;  // fewer than due: the window was full (overloaded)
  }
  return out;
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
  const bool resp = f.backend == "resp";
  if (resp && (!f.r.empty() || !f.w.empty())) {
    return Fail(kExitUsage, "--r/--w are native-only", "the RESP gateway's connection decides");
  }
  CallOptions read_options{*r, f.client.timeout_ms}, write_options{*w, f.client.timeout_ms};
  std::vector<ThreadResult> results(static_cast<size_t>(f.threads));
  std::vector<Status> setup(static_cast<size_t>(f.threads));
  std::latch preloaded(f.threads), go(1);
  std::atomic<bool> stop{false};
  SteadyClock::time_point start, end;  // set before `go` opens
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(f.threads));
  for (int i = 0; i < f.threads; ++i) {
    pool.emplace_back([&, i] {
      // A backend belongs to the thread that created it (its event loop). Thread i starts at
      // endpoint i % n, so the load spreads over the nodes.
      const auto idx = static_cast<size_t>(i);
      std::unique_ptr<BenchBackend> backend;
      if (resp) {
        auto made = MakeRespBackend(Rotated(*endpoints, idx), ConnectionsOf(f, i), f.password,
                                    f.client.timeout_ms);
        if (made.ok()) {
          backend = std::move(*made);
        } else {
          setup[idx] = made.status();
        }
      } else {
        ClientOptions options{.endpoints = Rotated(*endpoints, idx),
                              .timeout_ms = f.client.timeout_ms,
                              .connect_timeout_ms = std::min<uint64_t>(f.client.timeout_ms, 2000),
                              .connections = static_cast<size_t>(ConnectionsOf(f, i))};
        if (Status s = ApplyCredentials(f.client, &options); !s.ok()) {
          setup[idx] = s;
        } else {
          backend = MakeNativeBackend(std::move(options), read_options, write_options, f.sessions);
        }
      }
      if (backend == nullptr) {
        preloaded.count_down();
        return;
      }
      Driver conn(f, std::move(backend), i);
      if (!f.no_preload && !f.ping) conn.Preload();
      preloaded.count_down();
      go.wait();
      if (f.rate > 0) {
        // Threads interleave: thread i's operations are offset by i / rate.
        const double per_thread = f.rate / f.threads;
        const auto offset = std::chrono::nanoseconds(static_cast<int64_t>(1e9 * i / f.rate));
        conn.RunOpen(OpenLoopSchedule(per_thread, start + offset), end);
      } else {
        conn.RunClosed(stop);
      }
      results[idx] = conn.result();
    });
  }
  preloaded.wait();
  for (const Status& s : setup) {
    if (!s.ok()) {
      go.count_down();
      stop.store(true);
      for (auto& t : pool) t.join();
      return FailStatus("bench: cannot connect", s);
    }
  }
  std::cerr << "bench: " << f.connections << " connections x " << f.outstanding
            << " outstanding on " << f.threads << " threads for " << f.duration_s << " s ("
            << f.backend << ", " << (f.rate > 0 ? "open loop" : "closed loop") << ")\n";
  start = SteadyClock::now();
  end = start + std::chrono::duration_cast<SteadyClock::duration>(
                    std::chrono::duration<double>(f.duration_s));
  go.count_down();
  std::this_thread::sleep_for(std::chrono::duration<double>(f.duration_s));
  stop.store(true);
  for (auto& t : pool) t.join();
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  ThreadResult total;
  for (const auto& result : results) total.Merge(result);
  json out = Report(f.ping ? "ping" : (resp ? "resp" : "node"), f, total, seconds);
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
    KeyChooser keys(f.keys_from, f.keys, ZipfianGenerator::kYcsbTheta);
    while (!stop.load(std::memory_order_relaxed)) {
      std::string key = BenchKey(keys.Next(rng));
      auto start = SteadyClock::now();
      if (f.mix.Pick(coin(rng)) == BenchOp::kRead) {  // updates and read-modify-writes: a put
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

int RunBench(BenchFlags& f) {
  if (f.value_bytes > kValueBytesMax) return Fail(kExitUsage, "--value-bytes is over 1 MiB");
  if (f.workload.empty()) {
    f.mix = ReadRatioMix(f.read_ratio);
  } else {
    auto mix = ParseWorkload(f.workload);
    if (!mix.ok()) return Fail(kExitUsage, mix.status().message());
    f.mix = *mix;
  }
  auto dist = ParseKeyDistribution(f.distribution);
  if (!dist.ok()) return Fail(kExitUsage, dist.status().message());
  f.keys_from = *dist;
  if (f.backend != "native" && f.backend != "resp") {
    return Fail(kExitUsage, "--backend must be native or resp");
  }
  if (f.rate > 0 && !f.engine_reference.empty()) {
    return Fail(kExitUsage, "--rate is for nodes, not --engine-reference");
  }
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
  cmd->add_option(
      "--workload", f->workload,
      "YCSB mix: a (50/50 read/update), b (95/5), c (read only), f (read-modify-write), "
      "w (write only); overrides --read-ratio");
  cmd->add_option("--distribution", f->distribution, "key choice: uniform | zipfian (theta 0.99)")
      ->capture_default_str();
  cmd->add_option("--backend", f->backend,
                  "native (Cap'n Proto) | resp (RESP2: Causeway's --resp-listen, or redis-server)")
      ->capture_default_str();
  cmd->add_option("--password", f->password, "RESP: AUTH with this password first");
  cmd->add_option("--rate", f->rate,
                  "open loop: this many ops/s over all threads, latency from the intended send "
                  "time (0: closed loop)")
      ->check(CLI::Range(0.0, 1e8))
      ->capture_default_str();
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
