// Gossip, failure detection and joining, on small clusters wired by the test harness.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "base/strings.h"
#include "harness.h"

namespace causeway::cluster::testing {
namespace {

// Every node's view: all n members known, all alive, all normal members holding tokens (joiners
// have streamed and turned kUp).
bool Converged(Harness& h, size_t n) {
  for (size_t i = 0; i < h.size(); ++i) {
    if (h.node(i).crashed || h.node(i).paused) continue;
    auto members = h.core(i).Members(h.now());
    if (members.size() != n) return false;
    for (const auto& m : members) {
      if (!m.alive || m.state.tokens.empty() || m.state.status != MemberStatus::kUp ||
          m.state.bootstrapping) {
        return false;
      }
    }
  }
  return true;
}

uint64_t RunUntilConverged(Harness& h, size_t n, uint64_t max_ms) {
  uint64_t start = h.now();
  while (!Converged(h, n) && h.now() - start < max_ms) h.Run(10);
  return h.now() - start;
}

// Goal: nodes that know only a seed address learn every member through gossip, choose balanced
// tokens from the view, and agree on preference lists.
TEST(Gossip, JoinersConvergeAndAgree) {
  Harness h(10, /*fixed_tokens=*/false);
  uint64_t took = RunUntilConverged(h, 10, 20000);
  std::printf("10 tokenless nodes started together converged in %llu ms\n",
              static_cast<unsigned long long>(took));
  ASSERT_TRUE(Converged(h, 10));
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(h.core(i).tokens().size(), static_cast<size_t>(kTokensPerNodeDefault));
  }
  double max_share = 0;
  for (const auto& m : h.core(0).Members(h.now())) max_share = std::max(max_share, m.ring_share);
  std::printf("10 nodes: max ring share %.3f (mean 0.100)\n", max_share);
  EXPECT_LE(max_share, 0.125);
  for (int k = 0; k < 50; ++k) {
    std::string key = "key" + std::to_string(k);
    for (size_t i = 1; i < h.size(); ++i) EXPECT_EQ(h.Replicas(i, key), h.Replicas(0, key));
  }
}

// Goal: a node joining a running 20-node cluster is known to all within a few seconds.
TEST(Gossip, LateJoinerKnownByAllQuickly) {
  Harness h(20, /*fixed_tokens=*/true);
  ASSERT_TRUE(Converged(h, 20) || RunUntilConverged(h, 20, 20000) < 20000);
  h.AddNode(/*fixed_tokens=*/false);
  uint64_t took = RunUntilConverged(h, 21, 20000);
  std::printf("joiner known (with tokens) by all 21 nodes after %llu ms\n",
              static_cast<unsigned long long>(took));
  EXPECT_TRUE(Converged(h, 21));
  EXPECT_LT(took, 5000u);
}

// Goal: a crashed node is seen down (phi accrual) and routed around; when it comes back, its
// advancing heartbeat makes it seen up again.
TEST(Gossip, FailureDetectedAndRecovery) {
  Harness h(5, /*fixed_tokens=*/true);
  ASSERT_LT(RunUntilConverged(h, 5, 20000), 20000u);
  h.node(4).paused = true;
  NodeId victim = h.core(4).id();
  auto alive_at = [&](size_t observer) {
    for (const auto& m : h.core(observer).Members(h.now())) {
      if (m.state.id == victim) return m.alive;
    }
    return false;
  };
  uint64_t start = h.now();
  while (alive_at(0) && h.now() - start < 30000) h.Run(10);
  std::printf("paused node seen down after %llu ms\n",
              static_cast<unsigned long long>(h.now() - start));
  EXPECT_FALSE(alive_at(0));
  EXPECT_LT(h.now() - start, 15000u);
  h.node(4).paused = false;
  start = h.now();
  while (!alive_at(0) && h.now() - start < 10000) h.Run(10);
  EXPECT_TRUE(alive_at(0));
  EXPECT_LT(h.now() - start, 3000u);
}

// Goal: a decommissioned node, once left, is off every ring; nobody routes to it.
TEST(Gossip, DecommissionRemovesNodeFromRings) {
  Harness h(5, /*fixed_tokens=*/true);
  ASSERT_LT(RunUntilConverged(h, 5, 20000), 20000u);
  ASSERT_TRUE(h.core(2).StartDecommission(h.now()).ok());
  for (int t = 0; t < 300 && h.core(2).stream_status(h.now()).member_status != MemberStatus::kLeft;
       ++t) {
    h.Run(100);
  }
  ASSERT_EQ(h.core(2).stream_status(h.now()).member_status, MemberStatus::kLeft);
  h.Run(1000);
  for (int k = 0; k < 100; ++k) {
    for (size_t i = 0; i < h.size(); ++i) {
      if (i == 2) continue;
      auto r = h.Replicas(i, "key" + std::to_string(k));
      EXPECT_EQ(std::count(r.begin(), r.end(), size_t{2}), 0);
      EXPECT_EQ(r.size(), 3u);
    }
  }
}

// Goal: the 100-node gossip traffic in steady state (all converged): bytes per round, per node
// and per message, the figure the digest format is judged by (docs/design.md). A message
// must stay well under a full view's size (what every message carried before digests).
TEST(Gossip, HundredNodesBytesPerRound) {
  Harness h(100, /*fixed_tokens=*/true);
  ASSERT_TRUE(Converged(h, 100) || RunUntilConverged(h, 100, 30000) < 30000);
  h.Run(5000);  // past the joins' changes
  const uint64_t rounds = 25, bytes0 = h.gossip_bytes(), msgs0 = h.gossip_messages();
  h.Run(rounds * kGossipIntervalMs);
  ASSERT_TRUE(Converged(h, 100));
  const uint64_t bytes = h.gossip_bytes() - bytes0, msgs = h.gossip_messages() - msgs0;
  ASSERT_GT(msgs, 0u);
  std::printf(
      "100 nodes steady state: %llu gossip bytes per round (%llu per node), %.1f messages per "
      "node per round, %llu bytes per message\n",
      static_cast<unsigned long long>(bytes / rounds),
      static_cast<unsigned long long>(bytes / rounds / 100), msgs / double(rounds) / 100,
      static_cast<unsigned long long>(bytes / msgs));
  GossipMessage full;
  for (const auto& m : h.core(0).Members(h.now())) full.members.push_back(m.state);
  std::printf("a full view would be %llu bytes\n",
              static_cast<unsigned long long>(GossipPayloadBytes(full)));
  EXPECT_LT(bytes / msgs, GossipPayloadBytes(full) / 4);
}

// Goal: the same inputs give the same trace (the simulator's replay depends on it).
TEST(Gossip, Deterministic) {
  auto run = [] {
    Harness h(8, /*fixed_tokens=*/false);
    h.Run(3000);
    return h.trace_hash();
  };
  EXPECT_EQ(run(), run());
}

// Goal: hostile gossip (too many members, oversized tokens) is bounded, never a crash.
TEST(Gossip, OversizedGossipIsBounded) {
  Harness h(2, /*fixed_tokens=*/true);
  GossipMessage bad;
  for (size_t i = 0; i < kClusterNodesMax * 2; ++i) {
    MemberState m;
    m.id = 1000 + i;
    m.name = StrCat("x", i);
    m.address = "127.0.0.2:1";
    m.tokens = {Token(i)};
    bad.members.push_back(m);
  }
  MemberState huge;
  huge.id = 5;
  huge.tokens.assign(kTokensPerNodeMax + 1, 1);
  bad.members.insert(bad.members.begin(), huge);
  h.driver(0).OnPeerMessage(h.core(1).id(), bad);
  EXPECT_LE(h.core(0).Members(h.now()).size(), kClusterNodesMax);
  for (const auto& m : h.core(0).Members(h.now())) EXPECT_NE(m.state.id, 5u);

  // Digests and pulls: unknown digests beyond the bound are not asked for, a huge `wanted` is
  // answered with at most the members we know.
  Harness g(2, /*fixed_tokens=*/true);
  g.Run(1000);  // both know each other, so there is someone to answer
  GossipMessage digests;
  digests.reply_wanted = true;
  for (size_t i = 0; i < kClusterNodesMax * 2; ++i) digests.digests.push_back({5000 + i, 1, 1, 7});
  Actions out = g.core(1).OnPeerMessage(g.core(0).id(), digests, g.now());
  ASSERT_EQ(out.size(), 1u);
  const auto& reply = std::get<GossipMessage>(std::get<SendAction>(out[0]).message);
  EXPECT_LE(reply.wanted.size(), kClusterNodesMax);
  EXPECT_LE(reply.members.size() + reply.digests.size(), kClusterNodesMax);
  GossipMessage pull;
  pull.wanted.assign(kClusterNodesMax * 4, g.core(1).id());
  for (size_t i = 0; i < kClusterNodesMax; ++i) pull.wanted.push_back(9000 + i);
  out = g.core(1).OnPeerMessage(g.core(0).id(), pull, g.now());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_LE(std::get<GossipMessage>(std::get<SendAction>(out[0]).message).members.size(), 1u);
}

}  // namespace
}  // namespace causeway::cluster::testing

namespace causeway::cluster::testing {
namespace {

// Goal: the 100-node figures: 99 tokenless nodes join a seed together and converge; then one
// more joins the running cluster and is known (with its tokens) by all within seconds; shares
// stay within 1.25x of the mean.
TEST(Gossip, HundredNodes) {
  Harness h(100, /*fixed_tokens=*/false);
  uint64_t took = RunUntilConverged(h, 100, 60000);
  ASSERT_TRUE(Converged(h, 100)) << "not converged after " << took << " ms";
  h.AddNode(/*fixed_tokens=*/false);
  uint64_t join = RunUntilConverged(h, 101, 30000);
  ASSERT_TRUE(Converged(h, 101));
  double max_share = 0;
  for (const auto& m : h.core(0).Members(h.now())) max_share = std::max(max_share, m.ring_share);
  std::printf(
      "100 nodes started together converged in %llu ms; the 101st joiner was known by "
      "all in %llu ms; max share %.4f = %.2fx mean\n",
      static_cast<unsigned long long>(took), static_cast<unsigned long long>(join), max_share,
      max_share * 101);
  EXPECT_LT(join, 10000u);
  EXPECT_LE(max_share * 101, 1.25);
}

}  // namespace
}  // namespace causeway::cluster::testing
