#include "cluster/ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "base/limits.h"
#include "base/strings.h"

namespace causeway::cluster {
namespace {

// Goal: the preference list is rf distinct nodes clockwise from the key's token, wrapping around.
TEST(Ring, PreferenceListWalksClockwiseAndWraps) {
  Ring ring;
  ring.SetNode(1, {100, 400});
  ring.SetNode(2, {200, 500});
  ring.SetNode(3, {300});
  struct Case {
    Token token;
    int rf;
    std::vector<NodeId> want;
  } cases[] = {
      {50, 3, {1, 2, 3}},  {100, 3, {1, 2, 3}},  // a token owns (prev, t]
      {101, 3, {2, 3, 1}}, {350, 2, {1, 2}},
      {450, 3, {2, 1, 3}}, {501, 3, {1, 2, 3}},  // past the last token: wraps to the first
      {250, 1, {3}},       {250, 5, {3, 1, 2}},  // never more than the node count
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ring.PreferenceList(c.token, c.rf), c.want) << "token " << c.token;
  }
  EXPECT_TRUE(Ring().PreferenceList(5, 3).empty());
}

// Goal: removing a node (a member that left) routes its ranges to the next nodes.
TEST(Ring, RemovedNodeIsSkipped) {
  Ring ring;
  ring.SetNode(1, {100});
  ring.SetNode(2, {200});
  ring.SetNode(3, {300});
  ring.RemoveNode(2);
  EXPECT_EQ(ring.PreferenceList(150, 2), (std::vector<NodeId>{3, 1}));
  EXPECT_FALSE(ring.Contains(2));
}

// Goal: hashed tokens (the empty-view allocation) are distinct, deterministic and name-dependent.
TEST(Ring, HashTokensDeterministic) {
  auto a = Ring::HashTokens("n1", kTokensPerNodeDefault);
  EXPECT_EQ(a.size(), static_cast<size_t>(kTokensPerNodeDefault));
  EXPECT_EQ(std::set<Token>(a.begin(), a.end()).size(), a.size());
  EXPECT_EQ(a, Ring::HashTokens("n1", kTokensPerNodeDefault));
  EXPECT_NE(a, Ring::HashTokens("n2", kTokensPerNodeDefault));
  Ring empty;
  EXPECT_EQ(empty.AllocateTokens("n1", kTokensPerNodeDefault), a);
}

struct Balance {
  double primary_max_over_mean, primary_min_over_mean, replica_max_over_mean;
};

Balance Measure(const Ring& ring, int rf) {
  auto primary = ring.PrimaryShares();
  auto replica = ring.ReplicaShares(rf);
  double mean = 1.0 / static_cast<double>(primary.size());
  double pmax = 0, pmin = 1, rmax = 0, sum = 0;
  for (auto& [n, s] : primary) pmax = std::max(pmax, s), pmin = std::min(pmin, s), sum += s;
  EXPECT_NEAR(sum, 1.0, 1e-9);
  for (auto& [n, s] : replica) rmax = std::max(rmax, s);
  return {pmax / mean, pmin / mean, rmax / (mean * rf)};
}

// Goal: 100 nodes joining one after another with the balanced allocation: no node is primary for
// more than 1.25x the mean share, and replica ownership at rf=3 stays close too. Prints the
// figures (docs/design.md quotes them).
TEST(Ring, HundredNodesJoinedOneByOneStayBalanced) {
  Ring ring;
  for (int i = 1; i <= 100; ++i) {
    std::string name = StrCat("n", i);
    auto tokens = ring.AllocateTokens(name, kTokensPerNodeDefault);
    ASSERT_EQ(tokens.size(), static_cast<size_t>(kTokensPerNodeDefault));
    ring.SetNode(NodeIdFromName(name), tokens);
    if (i >= 2) {
      Balance b = Measure(ring, 3);
      ASSERT_LE(b.primary_max_over_mean, 1.25) << "after " << i << " nodes";
    }
  }
  Balance b = Measure(ring, 3);
  std::printf(
      "balanced allocation, 100 nodes x %d tokens: primary max/mean %.3f min/mean %.3f, "
      "rf=3 replica max/mean %.3f\n",
      kTokensPerNodeDefault, b.primary_max_over_mean, b.primary_min_over_mean,
      b.replica_max_over_mean);
  EXPECT_LE(b.primary_max_over_mean, 1.25);
  EXPECT_GE(b.primary_min_over_mean, 0.75);
  EXPECT_LE(b.replica_max_over_mean, 1.5);

  Ring hashed;  // the reference: purely random tokens
  for (int i = 1; i <= 100; ++i) {
    std::string name = StrCat("n", i);
    hashed.SetNode(NodeIdFromName(name), Ring::HashTokens(name, kTokensPerNodeDefault));
  }
  Balance h = Measure(hashed, 3);
  std::printf(
      "hashed tokens, 100 nodes x %d tokens: primary max/mean %.3f, rf=3 replica "
      "max/mean %.3f\n",
      kTokensPerNodeDefault, h.primary_max_over_mean, h.replica_max_over_mean);
}

// Goal: allocation is deterministic given the view and the joiner.
TEST(Ring, AllocationDeterministic) {
  Ring ring;
  ring.SetNode(NodeIdFromName("n1"), Ring::HashTokens("n1", 16));
  ring.SetNode(NodeIdFromName("n2"), ring.AllocateTokens("n2", 16));
  EXPECT_EQ(ring.AllocateTokens("n3", 16), ring.AllocateTokens("n3", 16));
  auto shares = ring.PrimaryShares();
  EXPECT_NEAR(shares[NodeIdFromName("n1")], 0.5, 1e-6);
}

// Goal: incremental updates (Assign with a few changed nodes, SetNode, RemoveNode) give exactly
// the ring a fresh full build of the same nodes gives: same preference lists, same shares.
TEST(Ring, IncrementalUpdatesMatchFullBuild) {
  std::map<NodeId, std::vector<Token>> nodes;
  Ring incremental;
  uint64_t x = 12345;
  auto next = [&] { return x = x * 6364136223846793005ull + 1442695040888963407ull; };
  for (int step = 0; step < 300; ++step) {
    NodeId node = NodeIdFromName(StrCat("n", next() % 40));
    switch (next() % 4) {
      case 0:
        nodes.erase(node);
        incremental.RemoveNode(node);
        break;
      case 1:
        nodes[node] = Ring::HashTokens(StrCat("n", next()), 4);
        incremental.SetNode(node, nodes[node]);
        break;
      default:  // Assign with one or two nodes changed (the gossip path)
        nodes[node] = Ring::HashTokens(StrCat("n", next()), 16);
        if (next() % 2) nodes[NodeIdFromName(StrCat("n", next() % 40))] = {};
        incremental.Assign(nodes);
        for (auto it = nodes.begin(); it != nodes.end();) {
          it = it->second.empty() ? nodes.erase(it) : std::next(it);
        }
    }
    Ring full;
    full.Assign(nodes);
    ASSERT_EQ(incremental.node_count(), full.node_count());
    for (int k = 0; k < 50; ++k) {
      Token t = next();
      ASSERT_EQ(incremental.PreferenceList(t, 3), full.PreferenceList(t, 3)) << "step " << step;
    }
    ASSERT_EQ(incremental.PrimaryShares(), full.PrimaryShares()) << "step " << step;
  }
}

}  // namespace
}  // namespace causeway::cluster
