// Replicas converge by themselves (issue 9, "Tests"), as real `causeway serve` processes: three
// nodes rf=3 under a W=2 write-and-delete load, one of them killed (-9) and restarted, or paused
// (SIGSTOP) for 30 s and continued. Then, with no client read at all, every replica of every key
// must come to hold the same version (seen with Explain, which asks every replica and repairs
// nothing: Coordinator::StartExplain finishes in FinishExplain, never in Judge/RepairStale), that
// version must be at least the newest acknowledged one, and no deleted key may show a live value
// that was not written after the delete. A fresh client reading at R=1 through a restarted node
// must never see a version older than what was acknowledged before the restart (catching up).
//
// The load is sequential per key, so each key's history is known exactly: every operation's
// value names the operation, acknowledged ones carry their version, failed ones may or may not
// have landed. Seeded: CAUSEWAY_TEST_SEED=N replays a key and operation order (timing still
// varies: these are real processes).
//
// Addresses: 127.0.0.133..135, 136..138, and 139 (three ports) for the third test. Every wait and
// loop is bounded; TearDown (proc_cluster.h) kills every node it started and prints their logs'
// tails on failure.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/limits.h"
#include "base/strings.h"
#include "rpc/client.h"
#include "tests/cluster_proc/proc_cluster.h"
#include "tests/tools/harness.h"
#include "tools/internal/process.h"

namespace causeway::cluster_proc {
namespace {

using nlohmann::json;
using tools::MonotonicMs;
using tools::testing::ReadFile;
using tools::testing::RunCli;

constexpr uint64_t kConvergeMs = 60000;    // the bound the tests give convergence
constexpr uint64_t kPollMs = 500;          // between two explain passes
constexpr uint64_t kCallTimeoutMs = 2000;  // one client call (the node's default deadline)
constexpr uint64_t kPauseMs = 30000;       // SIGSTOP to SIGCONT (the issue's 30 s)
constexpr size_t kLoadKeys = 100;          // keys the load writes and deletes
constexpr double kDeleteFraction = 0.3;    // of the load's operations
constexpr size_t kValueBytes = 100;        // values are padded to this size
constexpr auto kLoadOpInterval = std::chrono::microseconds(2500);  // per worker: 400 ops/s
constexpr size_t kLoadOpsMax = 200000;       // a bound on one load phase, whatever its time
constexpr size_t kDetailsMax = 10;           // failure lines printed per check
constexpr int kReadAttemptsMax = 50;         // per key, for the fresh R=1 reads after a restart
constexpr size_t kReadRoundsMax = 100;       // rounds of those reads
constexpr const char* kReplayMbPerS = "32";  // hint replay and exchange pace of the third test
constexpr uint64_t kCatchUpSlackMs = 10000;  // beyond kCatchUpMaxMs, for a loaded machine

uint64_t TestSeed() {
  const char* text = std::getenv("CAUSEWAY_TEST_SEED");
  uint64_t seed =
      text != nullptr
          ? std::strtoull(text, nullptr, 10)
          : static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  std::cerr << "seed " << seed << " (replay: CAUSEWAY_TEST_SEED=" << seed << ")\n";
  return seed;
}

// (timestamp, writer): the LWW order of versions, 0 for "no version".
using Dot = std::pair<Hlc, NodeId>;
Dot DotOf(const std::optional<Version>& v) { return v ? Dot{v->timestamp, v->writer} : Dot{}; }

// What the load did to one key, in issue order.
struct Op {
  bool del = false;
  std::string value;   // names the operation ("<key>#<seq>" padded); empty for deletes
  bool acked = false;  // the client got a version back
  Dot dot;             // when acked
};
struct KeyLog {
  std::string key;
  std::vector<Op> ops;
  // The newest acknowledged operation (its index in ops), if any.
  std::optional<size_t> newest_acked;
};

std::string KeyName(size_t i) { return StrCat("ck", i); }

// Writes (or deletes) `log.key` once through `client` with `consistency`, a value of
// `value_bytes` that names the operation, and records the operation. Returns the call's status.
Status Apply(Client* client, KeyLog* log, bool del, cluster::Consistency consistency,
             size_t value_bytes) {
  Op op;
  op.del = del;
  if (!del) {
    op.value = StrCat(log->key, "#", log->ops.size());
    op.value.resize(value_bytes, '.');
  }
  CallOptions options;
  options.consistency = consistency;
  Result<Version> r =
      del ? client->Delete(log->key, options) : client->Put(log->key, op.value, options);
  if (r.ok()) {
    op.acked = true;
    op.dot = {r->timestamp, r->writer};
    log->newest_acked = log->ops.size();
  }
  log->ops.push_back(std::move(op));
  return r.ok() ? Status::Ok() : r.status();
}

// A client of the nodes `via`, tried in that order.
std::unique_ptr<Client> ClientOf(const std::vector<const Node*>& via) {
  ClientOptions options;
  for (const Node* n : via) options.endpoints.push_back(n->address);
  options.timeout_ms = kCallTimeoutMs;
  return std::make_unique<Client>(options);
}

// The status JSON of one node, as `causeway status --json` reports it (null if unreachable).
json StatusOf(const Node& node) {
  auto r = RunCli({"status", "--json", "--endpoints", node.address, "--timeout-ms", "1000"});
  json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  if (r.exit_code != 0 || !j.is_object()) return json();
  for (const auto& row : j["nodes"]) {
    if (row.value("name", "") == node.name) return row;
  }
  return json();
}

class Converge : public ProcCluster {
 protected:
  // Sum of read_repairs over the three nodes: it must stay 0, since nothing here reads.
  uint64_t ReadRepairs() {
    uint64_t sum = 0;
    for (auto& n : nodes_) sum += StatusOf(*n).value("read_repairs", uint64_t{0});
    return sum;
  }
};

// The W=2 load: one thread per coordinator order (a Client belongs to its thread), each owning
// the keys k with k % workers == its index, so that each key's operations are sequential. Each
// operation is a put (70%) or a delete (30%) of a random key of the worker's. Records every
// key's history.
class Load {
 public:
  Load(uint64_t seed, std::vector<std::vector<const Node*>> orders)
      : orders_(std::move(orders)), logs_(kLoadKeys), workers_(orders_.size()) {
    for (size_t k = 0; k < kLoadKeys; ++k) logs_[k].key = KeyName(k);
    for (size_t w = 0; w < workers_.size(); ++w) workers_[w].rng.seed(seed + w);
  }

  // Runs every worker for `ms` (each at most kLoadOpsMax operations, one per kLoadOpInterval
  // at the most), then joins them.
  void RunFor(uint64_t ms) {
    const uint64_t end = MonotonicMs() + ms;
    std::vector<std::thread> threads;
    for (size_t w = 0; w < orders_.size(); ++w) {
      threads.emplace_back([this, w, end] {
        auto client = ClientOf(orders_[w]);
        const auto begin = std::chrono::steady_clock::now();
        for (size_t n = 0; n < kLoadOpsMax && MonotonicMs() < end; ++n) {
          std::this_thread::sleep_until(begin + n * kLoadOpInterval);  // paced, not flat out
          Step(w, client.get());
        }
      });
    }
    for (auto& t : threads) t.join();
  }

  const std::vector<KeyLog>& logs() const { return logs_; }
  uint64_t acked() const { return Sum(&Worker::acked); }
  uint64_t failed() const { return Sum(&Worker::failed); }
  std::string first_error() const {
    for (const auto& w : workers_) {
      if (!w.first_error.empty()) return w.first_error;
    }
    return "";
  }

 private:
  // One thread's state; only that thread touches it (and its keys' logs) while it runs.
  struct Worker {
    std::mt19937_64 rng;
    uint64_t acked = 0, failed = 0;
    std::string first_error;
  };

  uint64_t Sum(uint64_t Worker::*field) const {
    uint64_t sum = 0;
    for (const auto& w : workers_) sum += w.*field;
    return sum;
  }

  void Step(size_t w, Client* client) {
    Worker& worker = workers_[w];
    const size_t stride = orders_.size();
    const size_t owned = (kLoadKeys - w + stride - 1) / stride;
    const size_t k = w + stride * std::uniform_int_distribution<size_t>(0, owned - 1)(worker.rng);
    const bool del = std::bernoulli_distribution(kDeleteFraction)(worker.rng);
    Status s = Apply(client, &logs_[k], del, cluster::Consistency::Number(2), kValueBytes);
    if (s.ok()) {
      ++worker.acked;
    } else {
      ++worker.failed;
      if (worker.first_error.empty()) worker.first_error = s.ToString();
    }
  }

  std::vector<std::vector<const Node*>> orders_;
  std::vector<KeyLog> logs_;
  std::vector<Worker> workers_;
};

// "" if every replica answered and all hold the same version (the same dot, presence, tombstone
// and value); else what differs.
std::string Divergence(const Result<cluster::ExplainResult>& e) {
  if (!e.ok()) return "explain failed: " + e.status().ToString();
  if (!e->status.ok()) return "explain failed: " + e->status.ToString();
  if (e->replicas.size() != kNodes) return StrCat(e->replicas.size(), " replicas listed");
  std::string out;
  const auto& first = e->replicas[0].version;
  for (const auto& r : e->replicas) {
    const auto& v = r.version;
    std::string state = !r.status.ok() ? "error (" + r.status.ToString() + ")"
                        : !v           ? "absent"
                        : v->tombstone ? StrCat("tombstone@", v->timestamp)
                                       : StrCat("value@", v->timestamp);
    std::string name = "?";
    for (const char* n : {"a", "b", "c"}) name = NodeIdFromName(n) == r.node ? n : name;
    out += StrCat(" ", name, ":", state);
  }
  for (const auto& r : e->replicas) {
    if (!r.status.ok() || r.version.has_value() != first.has_value()) return out;
    if (!r.version) continue;
    if (!r.version->SameDot(*first) || r.version->tombstone != first->tombstone ||
        r.version->value != first->value) {
      return out;
    }
  }
  return "";
}

// "" if the converged version `v` of a key whose history is `log` keeps every acknowledged write
// and resurrects no delete; else why not.
std::string Violation(const KeyLog& log, const std::optional<Version>& v) {
  if (!log.newest_acked) return "";  // nothing acknowledged: any outcome of the failed ops is fine
  const Op& newest = log.ops[*log.newest_acked];
  if (DotOf(v) < newest.dot) {
    return StrCat("holds ", v ? (v->tombstone ? "a tombstone" : "a value") : "nothing", " @",
                  DotOf(v).first, ", older than the acknowledged ", newest.del ? "delete" : "put",
                  " @", newest.dot.first, " (lost write)");
  }
  if (!v || v->tombstone) return "";
  // A live value must be the newest acknowledged put, or an operation issued after it.
  for (size_t i = *log.newest_acked; i < log.ops.size(); ++i) {
    if (!log.ops[i].del && log.ops[i].value == v->value) return "";
  }
  return "holds value '" + v->value.substr(0, v->value.find('.')) + "' @" +
         std::to_string(v->timestamp) + ", written before the newest acknowledged " +
         (newest.del ? "delete (resurrection)" : "put");
}

// Polls Explain through `via` (no reads, no repair) until every key's replicas agree or
// kConvergeMs passes: passes over the keys that still differ, then a full pass to confirm. Then
// checks every key's agreed version against its history. Returns the milliseconds it took.
uint64_t ExpectConverged(const Node& via, const std::vector<KeyLog>& logs) {
  auto client = ClientOf({&via});
  const uint64_t start = MonotonicMs();
  std::set<size_t> all, left;
  for (size_t k = 0; k < logs.size(); ++k) all.insert(k);
  std::map<size_t, std::string> why;
  std::map<size_t, std::optional<Version>> agreed;
  std::optional<size_t> differed_first;  // keys that differed at the first pass
  for (left = all; true;) {
    std::set<size_t> still;
    for (size_t k : left) {
      auto e = client->Explain(logs[k].key);
      std::string d = Divergence(e);
      if (d.empty()) {
        agreed[k] = e->replicas[0].version;
      } else {
        still.insert(k), why[k] = d, agreed.erase(k);
      }
    }
    if (!differed_first) differed_first = still.size();
    const bool confirmed = still.empty() && left == all;
    left = still.empty() && !confirmed ? all : std::move(still);
    if (confirmed || MonotonicMs() >= start + kConvergeMs) break;
    if (left != all) std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
  const uint64_t took = MonotonicMs() - start;
  if (left == all && agreed.size() == all.size()) left.clear();  // a timeout on the full pass
  size_t shown = 0;
  for (size_t k : left) {
    if (shown++ < kDetailsMax) ADD_FAILURE() << logs[k].key << " differs:" << why[k];
  }
  EXPECT_TRUE(left.empty()) << left.size() << " of " << logs.size()
                            << " keys still differ between replicas " << took
                            << " ms after the load stopped (no client reads)";
  size_t violations = 0;
  for (const auto& [k, v] : agreed) {
    std::string bad = Violation(logs[k], v);
    if (bad.empty()) continue;
    if (violations++ < kDetailsMax) ADD_FAILURE() << logs[k].key << ": " << bad;
  }
  EXPECT_EQ(violations, 0u) << "keys whose agreed version lost a write or resurrected one";
  std::cerr << "replicas of " << agreed.size() << " of " << logs.size() << " keys agreed " << took
            << " ms after the load stopped (" << *differed_first << " differed at first)\n";
  return took;
}

// What fresh R=1 reads through one node saw.
struct ReadTally {
  size_t answered = 0, stale = 0, errors = 0;
  uint64_t first_answer_ms = 0;  // after `since_ms`
};

// Reads every key at R=1 through `client`, each read without a session (as a fresh client), each
// retried kReadAttemptsMax times on errors, and counts the answers older than the key's newest
// acknowledged operation (shown up to kDetailsMax).
void ReadEveryKey(const Node& via, Client* client, const std::vector<KeyLog>& logs,
                  uint64_t since_ms, ReadTally* tally) {
  CallOptions one;
  one.consistency = cluster::Consistency::One();
  for (const KeyLog& log : logs) {
    Result<ReadReply> got = Status::Unavailable("not tried");
    std::string failures;  // of this key's earlier attempts, for a stale answer's message
    for (int attempt = 0; attempt < kReadAttemptsMax && !got.ok(); ++attempt) {
      client->set_session({});  // a fresh client's read: no session floor, so no escalation
      got = client->Get(log.key, one);
      if (got.ok()) break;
      ++tally->errors, failures += " [" + got.status().ToString() + "]";
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!got.ok()) {
      ADD_FAILURE() << log.key << ": no answer: " << got.status().ToString();
      continue;
    }
    if (tally->answered++ == 0) tally->first_answer_ms = MonotonicMs() - since_ms;
    const Op& newest = log.ops[*log.newest_acked];
    if (DotOf(got->version) >= newest.dot && got->found != newest.del) continue;
    if (tally->stale++ < kDetailsMax) {
      ADD_FAILURE() << log.key << " read at R=1 " << MonotonicMs() - since_ms
                    << " ms after the restart: " << (got->found ? "value" : "not found") << " @"
                    << DotOf(got->version).first << ", older than the acknowledged "
                    << (newest.del ? "delete" : "put") << " @" << newest.dot.first
                    << "; earlier attempts:" << (failures.empty() ? " none" : failures) << "; "
                    << via.name << " now catching_up=" << StatusOf(via).value("catching_up", false);
    }
  }
}

// Every rotation of `nodes`: one coordinator order per load worker.
std::vector<std::vector<const Node*>> Rotations(const std::vector<const Node*>& nodes) {
  std::vector<std::vector<const Node*>> orders;
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::vector<const Node*> order;
    for (size_t j = 0; j < nodes.size(); ++j) order.push_back(nodes[(i + j) % nodes.size()]);
    orders.push_back(std::move(order));
  }
  return orders;
}

void PrintLoad(const char* phase, const Load& load) {
  std::cerr << phase << ": " << load.acked() << " operations acknowledged, " << load.failed()
            << " failed" << (load.failed() ? " (first: " + load.first_error() + ")" : "") << "\n";
}

// Goal: kill -9 C in the middle of a W=2 write-and-delete load coordinated by all three nodes,
// keep the load going through A and B, restart C while it still runs; after it stops, with no
// client reads (read_repairs stays 0), every key's three replicas agree within 60 s, on a
// version at least the newest acknowledged one, and no deleted key is live again.
TEST_F(Converge, KilledNodeConvergesWithoutReads) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({133, 134, 135}));
  Load load(TestSeed(), Rotations({&A(), &B(), &C()}));
  load.RunFor(3000);
  PrintLoad("before the kill", load);
  EXPECT_EQ(C().process.Signal(SIGKILL), 128 + SIGKILL);
  load.RunFor(5000);
  PrintLoad("with C killed", load);
  C().process.Start(C().flags, C().log);
  load.RunFor(3000);  // C restarts meanwhile: writes go on while it catches up
  PrintLoad("after the restart", load);
  ASSERT_TRUE(tools::testing::WaitServing(C().address, kFormMs));
  ExpectConverged(A(), load.logs());
  EXPECT_EQ(ReadRepairs(), 0u) << "something read (and repaired) during the test";
  std::cerr << "C's status: " << StatusOf(C()).dump() << "\n";
}

// Goal: SIGSTOP C for 30 s during a W=2 write-and-delete load through A and B, then SIGCONT
// while the load goes on; after it stops, the same convergence and no-resurrection checks.
TEST_F(Converge, PausedNodeConvergesWithoutReads) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({136, 137, 138}));
  Load load(TestSeed(), Rotations({&A(), &B()}));
  load.RunFor(2000);
  PrintLoad("before the pause", load);
  ASSERT_EQ(::kill(C().process.pid(), SIGSTOP), 0);
  load.RunFor(kPauseMs);
  PrintLoad("with C paused", load);
  ASSERT_EQ(::kill(C().process.pid(), SIGCONT), 0);
  load.RunFor(3000);
  PrintLoad("after SIGCONT", load);
  ExpectConverged(A(), load.logs());
  EXPECT_EQ(ReadRepairs(), 0u) << "something read (and repaired) during the test";
  std::cerr << "C's status: " << StatusOf(C()).dump() << "\n";
}

// Goal: C misses overwrites and deletes of 200 small keys and overwrites of 100 values of 1 MiB
// (killed -9; the writes W=2 through A). 100 MiB of hints for C exceed A's budget for it
// (kHintBytesPerTargetMaxDefault, 64 MiB), so part of what C missed reaches it only by
// anti-entropy. A fresh client (no session) reading each key at R=1 through C alone, from the
// moment C listens again, never gets a version older than the one acknowledged before the
// restart began (C is catching up: it reads other replicas first until its hints have drained
// and one exchange per range completed). Then, with no more client reads, all replicas agree.
TEST_F(Converge, RestartedNodeNeverServesOlderThanAcknowledged) {
  // Hints and exchanges at 32 MiB/s instead of 8: at the defaults, catching up after 100 MiB took
  // 20-30 s on a loaded 2-core machine, against kCatchUpMaxMs (30 s) after which a node serves
  // anyway. What is tested is that catching up waits for the exchange, not the default pace.
  ASSERT_NO_FATAL_FAILURE(StartCluster(
      {139, 139, 139}, {"--hint-replay-mb-per-s", kReplayMbPerS, "--aae-mb-per-s", kReplayMbPerS}));
  constexpr size_t kSmallKeys = 200, kBigKeys = 100;
  constexpr size_t kDeletedEvery = 5;  // of the small keys, deleted while C is down
  static_assert(kBigKeys * kValueBytesMax > kHintBytesPerTargetMaxDefault * 3 / 2);
  std::vector<KeyLog> logs;
  for (size_t k = 0; k < kSmallKeys; ++k) logs.push_back({KeyName(k), {}, {}});
  for (size_t k = 0; k < kBigKeys; ++k) logs.push_back({StrCat("big", k), {}, {}});
  auto bytes_of = [&](size_t i) { return i < kSmallKeys ? kValueBytes : kValueBytesMax; };
  {
    auto writer = ClientOf({&A(), &B()});  // one Client per thread at a time
    for (size_t i = 0; i < logs.size(); ++i) {
      Status s = Apply(writer.get(), &logs[i], false, cluster::Consistency::All(), bytes_of(i));
      ASSERT_TRUE(s.ok()) << logs[i].key << ": " << s.ToString();
    }
    EXPECT_EQ(C().process.Signal(SIGKILL), 128 + SIGKILL);
    for (size_t i = 0; i < logs.size(); ++i) {
      const bool del = i < kSmallKeys && i % kDeletedEvery == 0;
      Status s = Apply(writer.get(), &logs[i], del, cluster::Consistency::Number(2), bytes_of(i));
      ASSERT_TRUE(s.ok()) << logs[i].key << ": " << s.ToString();
    }
  }
  C().process.Start(C().flags, C().log);
  const uint64_t restarted = MonotonicMs();
  ReadTally tally;
  size_t rounds = 0, rounds_caught_up = 0;
  {
    auto fresh = ClientOf({&C()});
    const uint64_t deadline = restarted + kCatchUpMaxMs + kCatchUpSlackMs;
    // Rounds while C catches up, then one that starts after it says it caught up.
    for (; rounds < kReadRoundsMax && rounds_caught_up == 0 && MonotonicMs() < deadline; ++rounds) {
      json status = StatusOf(C());
      const bool caught_up = status.is_object() && !status.value("catching_up", true);
      ReadEveryKey(C(), fresh.get(), logs, restarted, &tally);
      rounds_caught_up += caught_up ? 1 : 0;
    }
  }
  const std::string log = ReadFile(C().log);
  const bool by_bound = log.find("event=caught_up") != std::string::npos &&
                        log.find("at the bound") != std::string::npos;
  std::cerr << tally.answered << " R=1 reads through C in " << rounds << " rounds ("
            << rounds_caught_up << " after it caught up" << (by_bound ? ", by the bound" : "")
            << "), the first " << tally.first_answer_ms << " ms after its restart, the last "
            << MonotonicMs() - restarted << " ms; " << tally.errors << " failed attempts; "
            << tally.stale << " stale\n";
  EXPECT_EQ(tally.stale, 0u);
  EXPECT_GT(rounds_caught_up, 0u) << "C did not catch up within " << kCatchUpMaxMs << " ms + slack";
  EXPECT_FALSE(by_bound) << "C stopped catching up by the bound, not because it caught up";
  ExpectConverged(A(), logs);
}

}  // namespace
}  // namespace causeway::cluster_proc
