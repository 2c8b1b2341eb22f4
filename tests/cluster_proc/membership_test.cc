// Membership changes with real `causeway serve` processes (issue 10, "Tests"): three nodes with
// kLoadKeys keys; a 4th and a 5th join while a client writes and reads at R=1; one is
// decommissioned; every node is restarted in turn under load; one whose data dir was deleted is
// replaced. After each step (and during the joins) fresh clients reading at R=1 through every
// node find every key acknowledged before the step began, and no acknowledged write is lost.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "base/strings.h"
#include "rpc/client.h"
#include "tests/cluster_proc/proc_cluster.h"
#include "tools/internal/process.h"

namespace causeway::cluster_proc {
namespace {

using nlohmann::json;
using tools::testing::RunCli;

constexpr size_t kLoadKeys = 20000;
constexpr size_t kLoadWindow = 256;    // puts in flight while loading
constexpr size_t kCheckSample = 1500;  // keys a check reads through each node
constexpr uint64_t kCallTimeoutMs = 5000;
constexpr uint64_t kSettleMs = 120000;  // joins, a decommission, a rebuild: bounded waits

std::string LoadKey(size_t i) { return StrCat("mk", i); }
std::string LoadValue(size_t i) { return StrCat("v", i); }

class Membership : public ProcCluster {
 protected:
  Node& AddNode(char name, int host) {
    auto node = std::make_unique<Node>();
    node->name = std::string(1, name);
    node->address = tools::testing::FreeAddress(host);
    node->log = dir_.path() + "/" + node->name + ".log";
    node->flags = {"--node-id",    node->name, "--listen",  node->address, "--data-dir",
                   DataDir(*node), "--seeds",  A().address, "--rf",        "3"};
    nodes_.push_back(std::move(node));
    nodes_.back()->process.Start(nodes_.back()->flags, nodes_.back()->log);
    return *nodes_.back();
  }
  std::string DataDir(const Node& n) const { return dir_.path() + "/" + n.name; }

  std::unique_ptr<Client> ClientVia(const Node& n) const {
    ClientOptions options;
    options.endpoints = {n.address};
    options.timeout_ms = kCallTimeoutMs;
    return std::make_unique<Client>(options);
  }

  // The node's view of `name` from `causeway status --json` (null if unreachable or unknown).
  json Row(const Node& via, const std::string& name) const {
    auto r = RunCli({"status", "--json", "--endpoints", via.address, "--timeout-ms", "1000"});
    json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    if (r.exit_code != 0 || !j.is_object()) return json();
    for (const auto& row : j["nodes"]) {
      if (row.value("name", "") == name) return row;
    }
    return json();
  }

  // Until every node in `live` sees every node in `live` up (not joining, leaving or down).
  bool WaitAllUp(const std::vector<const Node*>& live) const {
    return tools::WaitUntil(
        [&] {
          for (const Node* v : live) {
            for (const Node* n : live) {
              if (Row(*v, n->name).value("state", "") != "up") return false;
            }
          }
          return true;
        },
        kSettleMs, 500);
  }

  // Reads a sample of the loaded keys at R=1 through every node of `via`, each with a fresh
  // client; returns the reads that did not answer the key's value, with the first few named.
  size_t BadReads(const std::vector<const Node*>& via, uint64_t seed, std::string* first) const {
    size_t bad = 0;
    std::mt19937_64 rng(seed);
    for (const Node* n : via) {
      auto client = ClientVia(*n);
      CallOptions one;
      one.consistency = cluster::Consistency::Number(1);
      for (size_t s = 0; s < kCheckSample; ++s) {
        const size_t k = rng() % kLoadKeys;
        auto got = client->Get(LoadKey(k), one);
        const bool ok =
            got.ok() && got->found && got->version && got->version->value == LoadValue(k);
        if (!ok && bad++ < 3) {
          *first += StrCat(
              " [", n->name, " ", LoadKey(k), ": ",
              got.ok() ? (got->found ? "stale" : "not found") : got.status().ToString(), "]");
        }
      }
    }
    return bad;
  }

  void Load() {
    auto client = ClientVia(A());
    CallOptions all;
    all.consistency = cluster::Consistency::All();
    std::atomic<size_t> failed{0};
    for (size_t first = 0; first < kLoadKeys; first += kLoadWindow) {
      for (size_t k = first; k < std::min(kLoadKeys, first + kLoadWindow); ++k) {
        client->StartPut(LoadKey(k), LoadValue(k), all, [&](Result<Version> r) {
          if (!r.ok()) failed++;
        });
      }
      client->Wait();
    }
    ASSERT_EQ(failed.load(), 0u);
  }

  // A background client: writes fresh keys at W=2 through `via` (recording the acknowledged
  // ones) and reads loaded keys at R=1 with a fresh session per round, counting wrong answers.
  struct Load2 {
    std::atomic<bool> stop{false};
    std::atomic<size_t> bad_reads{0}, reads{0}, writes{0};
    std::mutex mu;
    std::vector<size_t> acked;  // "live<i>" keys acknowledged
    std::string first_bad;
    std::thread thread;
    ~Load2() {  // a failed assertion returns early: the thread must not outlive the test
      stop = true;
      if (thread.joinable()) thread.join();
    }
  };
  void StartTraffic(Load2* t, std::vector<std::string> endpoints) {
    t->thread = std::thread([t, endpoints] {
      std::mt19937_64 rng(7);
      size_t next = 0;
      while (!t->stop) {
        ClientOptions options;
        options.endpoints = endpoints;
        options.timeout_ms = kCallTimeoutMs;
        Client c(options);  // a fresh session per round
        CallOptions w2, r1;
        w2.consistency = cluster::Consistency::Number(2);
        r1.consistency = cluster::Consistency::Number(1);
        for (int i = 0; i < 20 && !t->stop; ++i) {
          const size_t id = next++;
          if (c.Put(StrCat("live", id), StrCat("L", id), w2).ok()) {
            std::lock_guard<std::mutex> lock(t->mu);
            t->acked.push_back(id);
          }
          t->writes++;
          const size_t k = rng() % kLoadKeys;
          auto got = c.Get(LoadKey(k), r1);
          t->reads++;
          // An unavailable answer is not a wrong one (a restarted endpoint may refuse for a
          // moment); a found-but-stale or not-found answer is.
          if (got.ok() && !(got->found && got->version && got->version->value == LoadValue(k))) {
            std::lock_guard<std::mutex> lock(t->mu);
            if (t->bad_reads++ == 0)
              t->first_bad = LoadKey(k) + (got->found ? " stale" : " not found");
          }
        }
      }
    });
  }
  void StopTraffic(Load2* t) {
    t->stop = true;
    if (t->thread.joinable()) t->thread.join();
  }
  // Every acknowledged live write reads back at R=quorum through `via`.
  size_t LostWrites(Load2* t, const Node& via) {
    auto client = ClientVia(via);
    CallOptions q;
    q.consistency = cluster::Consistency::Quorum();
    size_t lost = 0;
    std::lock_guard<std::mutex> lock(t->mu);
    for (size_t id : t->acked) {
      auto got = client->Get(StrCat("live", id), q);
      if (!got.ok() || !got->found || !got->version || got->version->value != StrCat("L", id)) {
        lost++;
      }
    }
    return lost;
  }
};

TEST_F(Membership, JoinDecommissionRollingRestartReplaceNeverReadStale) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({101, 102, 103}));
  ASSERT_NO_FATAL_FAILURE(Load());
  std::string first;
  ASSERT_EQ(BadReads({&A(), &B(), &C()}, 1, &first), 0u) << first;

  Load2 traffic;
  StartTraffic(&traffic, {A().address, B().address, C().address});
  // Two joins while the client writes and reads through the old nodes.
  Node& d = AddNode('d', 104);
  Node& e = AddNode('e', 105);
  ASSERT_TRUE(tools::testing::WaitServing(d.address, kFormMs));
  ASSERT_TRUE(tools::testing::WaitServing(e.address, kFormMs));
  EXPECT_EQ(BadReads({&A(), &B(), &C()}, 2, &first), 0u) << "while d and e join:" << first;
  ASSERT_TRUE(WaitAllUp({&A(), &B(), &C(), &d, &e})) << "d and e did not finish joining";
  EXPECT_EQ(BadReads({&A(), &B(), &C(), &d, &e}, 3, &first), 0u) << "after the joins:" << first;
  for (const Node* n : {&d, &e}) {
    json row = Row(*n, n->name);
    EXPECT_GT(row.value("ring_share", 0.0), 0.0) << n->name << " owns nothing: " << row.dump();
  }

  // Decommission b: it hands its ranges over, leaves, and stops by itself.
  auto dec = RunCli({"node", "decommission", "--endpoints", B().address, "--timeout-s", "120"});
  ASSERT_EQ(dec.exit_code, 0) << dec.out << dec.err;
  EXPECT_EQ(B().process.Signal(0, 30000), 0) << "b did not stop by itself after leaving";
  EXPECT_EQ(Row(A(), "b").value("state", ""), "left");
  EXPECT_EQ(BadReads({&A(), &C(), &d, &e}, 4, &first), 0u) << "after decommissioning b:" << first;

  // Rolling restart of the four under load: SIGTERM drains, the node stays a member.
  StopTraffic(&traffic);
  Load2 rolling;
  StartTraffic(&rolling, {A().address, C().address, d.address, e.address});
  for (Node* n : {&A(), &C(), &d, &e}) {
    EXPECT_EQ(n->process.Signal(SIGTERM), 0) << n->name;
    EXPECT_NE(Row(n == &A() ? C() : A(), n->name).value("state", ""), "left") << n->name;
    ASSERT_NO_FATAL_FAILURE(Restart(*n));
    ASSERT_TRUE(WaitAllUp({&A(), &C(), &d, &e})) << "after restarting " << n->name;
  }
  StopTraffic(&rolling);
  EXPECT_EQ(BadReads({&A(), &C(), &d, &e}, 5, &first), 0u) << "after the rolling restart:" << first;

  // Replace e, whose data dir is lost.
  EXPECT_EQ(e.process.Signal(SIGKILL), 128 + SIGKILL);
  std::filesystem::remove_all(DataDir(e));
  e.flags.push_back("--replace");
  e.flags.push_back("e");
  ASSERT_NO_FATAL_FAILURE(Restart(e));
  ASSERT_TRUE(WaitAllUp({&A(), &C(), &d, &e}))
      << "e as a sees it: " << Row(A(), "e").dump() << "; e itself: " << Row(e, "e").dump();
  EXPECT_EQ(BadReads({&A(), &C(), &d, &e}, 6, &first), 0u) << "after replacing e:" << first;

  EXPECT_EQ(traffic.bad_reads.load(), 0u) << traffic.first_bad;
  EXPECT_EQ(rolling.bad_reads.load(), 0u) << rolling.first_bad;
  EXPECT_GT(traffic.reads.load() + rolling.reads.load(), 0u);
  EXPECT_EQ(LostWrites(&traffic, A()), 0u);
  EXPECT_EQ(LostWrites(&rolling, A()), 0u);
  std::printf(
      "traffic: %zu writes, %zu reads during the joins and decommission; %zu writes, %zu "
      "reads during the rolling restart\n",
      traffic.writes.load(), traffic.reads.load(), rolling.writes.load(), rolling.reads.load());
}

}  // namespace
}  // namespace causeway::cluster_proc
