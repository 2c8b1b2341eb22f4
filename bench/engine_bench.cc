// engine_bench: the same workload through causeway::Engine and through raw RocksDB opened with
// the same options and column families (engine/internal/options.h), in one process and run.
//
//   1 KiB values: N random puts (distinct 16-byte keys in random order), then N random gets;
//   1 MiB values: M puts of fresh keys.
// Engine puts go through Apply() with a fresh Version each (HLC timestamp, fixed writer); engine
// gets go through Get() (record decoded and checked). Both databases are open at once and the
// work is interleaved in blocks (10,000 small ops or 20 big puts per side, alternating which side
// goes first), so both see the same load on a shared, noisy machine; each side's figure is its
// operations over the time spent in its own blocks. The last output line is one JSON object.
//
//   engine_bench [--quick] [--sync periodic|always|none] [--dir DIR] [--keys N] [--big M]
#include <rocksdb/db.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/internal/options.h"

namespace causeway {
namespace {

constexpr size_t kKeyBytes = 16;
constexpr size_t kSmallValueBytes = 1024;
constexpr size_t kBigValueBytes = 1 << 20;
constexpr NodeId kBenchWriter = 1;
constexpr size_t kSmallBlock = 10'000;  // ops per side before switching sides
constexpr size_t kBigBlock = 20;

struct Config {
  bool quick = false;
  SyncMode sync = SyncMode::kPeriodic;
  std::string dir;
  size_t keys = 1'000'000;
  size_t big = 2000;
};

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// What a phase runs against: one side (engine or raw) on its own database.
class Side {
 public:
  virtual ~Side() = default;
  virtual void Put(const std::string& key, std::string_view value) = 0;
  virtual void Get(const std::string& key) = 0;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "engine_bench: %s\n", what.c_str());
  std::exit(1);
}

class RawSide final : public Side {
 public:
  RawSide(const std::string& dir, const Config& cfg) {
    EngineOptions o;
    o.dir = dir;
    o.sync = cfg.sync;
    internal::DbLayout layout = internal::MakeDbLayout(o);
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(layout.db, dir, layout.column_families, &handles_, &raw);
    if (!s.ok()) Die("raw open: " + s.ToString());
    db_.reset(raw);
    write_options_ = internal::MakeWriteOptions(cfg.sync);
    if (cfg.sync == SyncMode::kPeriodic) {  // the same background WAL sync as the engine's
      syncer_ = std::thread([this, ms = o.periodic_sync_ms] { RunSyncer(ms); });
    }
  }
  ~RawSide() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (syncer_.joinable()) syncer_.join();
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
  void Put(const std::string& key, std::string_view value) override {
    rocksdb::Status s =
        db_->Put(write_options_, cf(), key, rocksdb::Slice(value.data(), value.size()));
    if (!s.ok()) Die("raw put: " + s.ToString());
  }
  void Get(const std::string& key) override {
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(), key, &value_);
    if (!s.ok()) Die("raw get: " + s.ToString());
  }

 private:
  rocksdb::ColumnFamilyHandle* cf() { return handles_[internal::kDataCfIndex]; }
  void RunSyncer(uint64_t ms) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(ms));
      if (!stop_) {
        db_->SyncWAL().PermitUncheckedError();
        syncs_++;
      }
    }
  }
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_options_;
  std::string value_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread syncer_;

 public:
  std::atomic<uint64_t> syncs_{0};  // background WAL syncs, to compare with the engine's
};

class EngineSide final : public Side {
 public:
  EngineSide(const std::string& dir, const Config& cfg) {
    EngineOptions o;
    o.dir = dir;
    o.sync = cfg.sync;
    Result<std::unique_ptr<Engine>> e = Engine::Open(o);
    if (!e.ok()) Die("engine open: " + e.status().ToString());
    engine_ = std::move(e).value();
    Result<std::unique_ptr<HybridClock>> c = HybridClock::Open(&wall_, engine_.get());
    if (!c.ok()) Die("clock open: " + c.status().ToString());
    clock_ = std::move(c).value();
    version_.writer = kBenchWriter;
  }
  void Put(const std::string& key, std::string_view value) override {
    Result<Hlc> ts = clock_->Now();
    if (!ts.ok()) Die("clock: " + ts.status().ToString());
    version_.timestamp = *ts;
    version_.vv = VersionVector();
    version_.vv.Advance(kBenchWriter, *ts);
    version_.value.assign(value.data(), value.size());
    Result<ApplyResult> r = engine_->Apply(key, version_);
    if (!r.ok()) Die("engine apply: " + r.status().ToString());
  }
  void Get(const std::string& key) override {
    Result<std::optional<Version>> r = engine_->Get(key);
    if (!r.ok() || !r->has_value()) Die("engine get failed");
  }
  Engine* engine() { return engine_.get(); }

 private:
  SystemClock wall_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<HybridClock> clock_;
  Version version_;
};

using SideFactory = std::function<std::unique_ptr<Side>(const std::string& dir)>;

std::string KeyOf(uint64_t i) {
  // 16 bytes: a scrambled index in hex, so key order is unrelated to insertion order.
  char buf[kKeyBytes + 1];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(i * 0x9E3779B97F4A7C15ull));
  return std::string(buf, kKeyBytes);
}

// Random bytes: values do not compress, as with most real payloads.
std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    const uint64_t r = rng();
    std::memcpy(out.data() + i, &r, 8);
  }
  return out;
}

// Runs `op(side, i)` for i in [0, n) on both sides, interleaved in blocks that alternate which
// side goes first, so that both see the same machine load over time. Returns the seconds each
// side spent, {raw, engine}.
std::pair<double, double> Interleaved(Side* raw, Side* engine, size_t n, size_t block,
                                      const std::function<void(Side*, size_t)>& op) {
  double t[2] = {0, 0};
  for (size_t b = 0; b * block < n; ++b) {
    const size_t end = std::min(n, (b + 1) * block);
    for (int turn = 0; turn < 2; ++turn) {
      const int who = (turn + static_cast<int>(b)) % 2;  // 0 raw, 1 engine
      Side* side = who == 0 ? raw : engine;
      const auto start = std::chrono::steady_clock::now();
      for (size_t i = b * block; i < end; ++i) op(side, i);
      t[who] += Seconds(start);
    }
  }
  return {t[0], t[1]};
}

Config ParseArgs(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--quick") {
      cfg.quick = true;
      cfg.keys = 20'000;
      cfg.big = 40;
    } else if (a == "--sync") {
      Result<SyncMode> m = ParseSyncMode(next());
      if (!m.ok()) Die(m.status().ToString());
      cfg.sync = *m;
    } else if (a == "--dir") {
      cfg.dir = next();
    } else if (a == "--keys") {
      cfg.keys = std::stoull(next());
    } else if (a == "--big") {
      cfg.big = std::stoull(next());
    } else {
      Die("unknown argument " + a +
          " (--quick, --sync periodic|always|none, --dir DIR, --keys N, --big M)");
    }
  }
  return cfg;
}

// Anti-entropy tree figures on the engine just loaded (every segment dirty since Open, as after a
// restart): the full rebuild, a query with nothing dirty, a refresh after 1000 puts, and what a
// digest listing of one segment holds (key + timestamp + writer + tombstone flag per key).
nlohmann::json MeasureAae(Engine* engine, const std::vector<std::string>& keys,
                          const std::string& values) {
  nlohmann::json j;
  auto start = std::chrono::steady_clock::now();
  if (!engine->AaeSegmentHashes(0, kAaeSegments).ok()) Die("aae rebuild");
  j["rebuild_s"] = Seconds(start);
  start = std::chrono::steady_clock::now();
  if (!engine->AaeRangeRoot(0, 0).ok()) Die("aae root");
  j["clean_root_ms"] = Seconds(start) * 1000;
  Version v;
  v.writer = kBenchWriter;
  for (size_t i = 0; i < 1000; ++i) {
    v.timestamp = (Hlc{1} << 62) + i;
    v.vv = VersionVector();
    v.vv.Advance(kBenchWriter, v.timestamp);
    v.value.assign(values.data(), kSmallValueBytes);
    if (!engine->Apply(keys[(i * 7919) % keys.size()], v).ok()) Die("aae apply");
  }
  start = std::chrono::steady_clock::now();
  if (!engine->AaeRangeRoot(0, 0).ok()) Die("aae root");
  j["refresh_after_1000_puts_ms"] = Seconds(start) * 1000;
  uint64_t listed = 0, bytes = 0;
  constexpr uint32_t kSampled = 1000;
  for (uint32_t i = 0; i < kSampled; ++i) {
    Status s = engine->AaeSegmentDigests((i * 65521u) % kAaeSegments,
                                         [&](std::string_view key, Hlc, NodeId, bool) {
                                           ++listed;
                                           bytes += key.size() + 8 + 8 + 1;
                                           return true;
                                         });
    if (!s.ok()) Die("aae digests");
  }
  j["segment_keys_avg"] = static_cast<double>(listed) / kSampled;
  j["segment_digest_bytes_avg"] = static_cast<double>(bytes) / kSampled;
  j["segment_hashes_bytes_all"] = uint64_t{kAaeSegments} * 8;
  std::printf("aae: rebuild %.3f s, clean root %.3f ms, refresh after 1000 puts %.3f ms\n",
              j["rebuild_s"].get<double>(), j["clean_root_ms"].get<double>(),
              j["refresh_after_1000_puts_ms"].get<double>());
  return j;
}

int Run(int argc, char** argv) {
  Config cfg = ParseArgs(argc, argv);
  bool own_dir = false;
  if (cfg.dir.empty()) {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/engine-bench-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) Die("mkdtemp failed");
    cfg.dir = pattern;
    own_dir = true;
  }
  SideFactory make_raw = [&](const std::string& d) -> std::unique_ptr<Side> {
    return std::make_unique<RawSide>(d, cfg);
  };
  SideFactory make_engine = [&](const std::string& d) -> std::unique_ptr<Side> {
    return std::make_unique<EngineSide>(d, cfg);
  };
  std::vector<std::string> put_keys(cfg.keys), get_keys(cfg.keys);
  for (size_t i = 0; i < cfg.keys; ++i) put_keys[i] = KeyOf(i);
  std::mt19937_64 rng(12345);
  std::shuffle(put_keys.begin(), put_keys.end(), rng);
  for (size_t i = 0; i < cfg.keys; ++i) get_keys[i] = put_keys[rng() % cfg.keys];
  const std::string small_values = RandomBytes(kSmallValueBytes + 8192, 1);
  const std::string big_values = RandomBytes(2 * kBigValueBytes, 2);

  const double n = static_cast<double>(cfg.keys);
  double e_put = 0, r_put = 0, e_get = 0, r_get = 0, e_big = 0, r_big = 0;
  nlohmann::json aae;
  uint64_t big_syncs_raw = 0, big_syncs_engine = 0;  // WAL syncs during the 1 MiB phase
  {
    std::filesystem::remove_all(cfg.dir + "/raw");
    std::filesystem::remove_all(cfg.dir + "/engine");
    auto raw = make_raw(cfg.dir + "/raw");
    auto engine = make_engine(cfg.dir + "/engine");
    auto [rt, et] =
        Interleaved(raw.get(), engine.get(), cfg.keys, kSmallBlock, [&](Side* s, size_t i) {
          s->Put(put_keys[i], std::string_view(small_values).substr(i % 4096, kSmallValueBytes));
        });
    r_put = n / rt;
    e_put = n / et;
    std::printf("1KiB put: rocksdb %.0f ops/s, engine %.0f ops/s\n", r_put, e_put);
    std::tie(rt, et) = Interleaved(raw.get(), engine.get(), cfg.keys, kSmallBlock,
                                   [&](Side* s, size_t i) { s->Get(get_keys[i]); });
    r_get = n / rt;
    e_get = n / et;
    std::printf("1KiB get: rocksdb %.0f ops/s, engine %.0f ops/s\n", r_get, e_get);
    std::fflush(stdout);
    aae = MeasureAae(static_cast<EngineSide*>(engine.get())->engine(), put_keys, small_values);
  }
  {
    std::filesystem::remove_all(cfg.dir + "/raw");
    std::filesystem::remove_all(cfg.dir + "/engine");
    auto raw = make_raw(cfg.dir + "/raw-big");
    auto engine = make_engine(cfg.dir + "/engine-big");
    auto [rt, et] =
        Interleaved(raw.get(), engine.get(), cfg.big, kBigBlock, [&](Side* s, size_t i) {
          s->Put("big" + KeyOf(i).substr(3),
                 std::string_view(big_values).substr((i * 4099) % kBigValueBytes, kBigValueBytes));
        });
    const double mib = static_cast<double>(cfg.big) * kBigValueBytes / (1 << 20);
    r_big = mib / rt;
    e_big = mib / et;
    std::printf("1MiB put: rocksdb %.1f MB/s, engine %.1f MB/s\n", r_big, e_big);
    big_syncs_raw = static_cast<RawSide*>(raw.get())->syncs_.load();
    big_syncs_engine =
        static_cast<EngineSide*>(engine.get())->engine()->GetStats().background_syncs;
  }
  for (const char* sub : {"/raw", "/engine", "/raw-big", "/engine-big"}) {
    std::filesystem::remove_all(cfg.dir + sub);
  }
  if (own_dir) std::filesystem::remove_all(cfg.dir);

  nlohmann::json j;
  j["sync"] = std::string(SyncModeName(cfg.sync));
  j["quick"] = cfg.quick;
  j["keys"] = cfg.keys;
  j["big_puts"] = cfg.big;
  j["block_small"] = kSmallBlock;
  j["block_big"] = kBigBlock;
  j["engine_put_ops"] = e_put;
  j["rocksdb_put_ops"] = r_put;
  j["engine_get_ops"] = e_get;
  j["rocksdb_get_ops"] = r_get;
  j["engine_put_1mib_mbps"] = e_big;
  j["rocksdb_put_1mib_mbps"] = r_big;
  j["put_ratio"] = e_put / r_put;
  j["get_ratio"] = e_get / r_get;
  j["put_1mib_ratio"] = e_big / r_big;
  j["rocksdb_1mib_wal_syncs"] = big_syncs_raw;
  j["engine_1mib_wal_syncs"] = big_syncs_engine;
  j["aae"] = aae;
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace causeway

int main(int argc, char** argv) { return causeway::Run(argc, argv); }
