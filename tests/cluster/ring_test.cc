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
  // 0.82 before the joiner-dependent jitter (ring.h), which trades some sequential balance for
  // disjoint choices under concurrent joins.
  EXPECT_GE(b.primary_min_over_mean, 0.65);
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

// How joiners see the ring when they allocate (docs/design.md, "Ring").
enum class Views {
  kSequential,  // each joiner sees every earlier one
  kWaves,       // joiners arrive in waves of 1..param that allocate from one identical view
  kStale,       // each joiner's view misses the last 0..param joiners before it
};

struct JoinOutcome {
  std::map<NodeId, std::vector<Token>> nodes;
  Balance balance;
  bool duplicate_token = false;  // two nodes (or one twice) hold one token
  double min_share = 1;          // the smallest primary share of any node
};

// `n` nodes of `tokens` tokens join with views of kind `views`; the first node's tokens are
// hashed (an empty view). Names depend on the seed, so every seed is another cluster.
JoinOutcome JoinMany(Views views, int param, uint64_t seed, int n, int tokens) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  auto next = [&] { return x = x * 6364136223846793005ull + 1442695040888963407ull; };
  auto name = [&](int i) { return StrCat("s", seed, "-n", i); };
  std::vector<std::map<NodeId, std::vector<Token>>> history(1);  // the ring after each join
  std::map<NodeId, std::vector<Token>> placed;
  int i = 1;
  while (i <= n) {
    const int lag = views == Views::kStale ? static_cast<int>((next() >> 33) % (param + 1)) : 0;
    const int wave = views == Views::kWaves ? 1 + static_cast<int>((next() >> 33) % param) : 1;
    Ring view;
    view.Assign(history[history.size() - 1 - std::min<size_t>(lag, history.size() - 1)]);
    std::vector<std::pair<NodeId, std::vector<Token>>> joined;
    for (int j = 0; j < wave && i <= n; ++j, ++i) {
      joined.emplace_back(NodeIdFromName(name(i)), view.AllocateTokens(name(i), tokens));
    }
    for (auto& [id, t] : joined) {
      placed[id] = std::move(t);
      history.push_back(placed);
    }
  }
  JoinOutcome out;
  std::set<Token> seen;
  for (const auto& [id, t] : placed) {
    EXPECT_EQ(t.size(), static_cast<size_t>(tokens));
    for (Token token : t) out.duplicate_token |= !seen.insert(token).second;
  }
  Ring ring;
  ring.Assign(placed);
  for (const auto& [id, share] : ring.PrimaryShares())
    out.min_share = std::min(out.min_share, share);
  out.balance = Measure(ring, 3);
  out.nodes = std::move(placed);
  return out;
}

// Goal: 100 nodes x 16 tokens, over 20 seeds each, joining one by one, in waves of up to 4 that
// allocate from one identical view, and with views missing up to the last 4 joiners: never a
// token held twice, and every cluster within primary max/mean 1.25 and min/mean 0.5 (the
// targets of issue 10). Prints the worst figures (docs/design.md quotes them). Before
// joiner-dependent allocation, waves from one view gave identical tokens.
TEST(Ring, ConcurrentJoinersFromStaleOrIdenticalViewsStayDisjointAndBalanced) {
  struct Case {
    Views views;
    int param;
    const char* what;
  } cases[] = {{Views::kSequential, 0, "sequential"},
               {Views::kWaves, 4, "waves of <= 4 from one view"},
               {Views::kStale, 4, "views missing <= 4 joiners"}};
  for (const Case& c : cases) {
    double worst_max = 0, worst_min = 1;
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      JoinOutcome o = JoinMany(c.views, c.param, seed, 100, kTokensPerNodeDefault);
      ASSERT_FALSE(o.duplicate_token) << c.what << ", seed " << seed;
      EXPECT_LT(o.balance.primary_max_over_mean, 1.25) << c.what << ", seed " << seed;
      EXPECT_GE(o.balance.primary_min_over_mean, 0.5) << c.what << ", seed " << seed;
      worst_max = std::max(worst_max, o.balance.primary_max_over_mean);
      worst_min = std::min(worst_min, o.balance.primary_min_over_mean);
    }
    std::printf("%s, 100 nodes x %d tokens, 20 seeds: worst primary max/mean %.3f, min/mean %.3f\n",
                c.what, kTokensPerNodeDefault, worst_max, worst_min);
  }
}

// Goal: however many join at once from one view (here all 99 joiners see only the first node,
// or waves of up to 32), no two nodes share a token and every node is primary for part of the
// ring: balance is lost (nobody can balance against joiners it cannot see) but ownership is not.
TEST(Ring, ManyJoinersFromOneViewNeverShareATokenNorOwnNothing) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    for (int wave : {32, 99}) {
      JoinOutcome o = JoinMany(Views::kWaves, wave, seed, 100, kTokensPerNodeDefault);
      ASSERT_FALSE(o.duplicate_token) << "wave " << wave << ", seed " << seed;
      EXPECT_GT(o.min_share, 0) << "wave " << wave << ", seed " << seed;
    }
  }
  // The same names allocating from the same view agree (deterministic in ring, name, count).
  JoinOutcome a = JoinMany(Views::kWaves, 8, 7, 40, 8), b = JoinMany(Views::kWaves, 8, 7, 40, 8);
  EXPECT_EQ(a.nodes, b.nodes);
}

// Goal: an allocated token is never one already on the ring, even when the ring is crowded with
// neighbouring tokens, and a joiner asking for kTokensPerNodeMax tokens gets that many.
TEST(Ring, AllocationNeverReusesARingToken) {
  Ring ring;
  std::vector<Token> dense;
  for (Token t = 1000; t < 1000 + 4096; ++t) dense.push_back(t);
  ring.SetNode(NodeIdFromName("dense"), dense);
  ring.SetNode(NodeIdFromName("n1"), Ring::HashTokens("n1", 16));
  std::set<Token> on_ring(dense.begin(), dense.end());
  for (Token t : Ring::HashTokens("n1", 16)) on_ring.insert(t);
  for (int j = 0; j < 20; ++j) {
    std::vector<Token> t = ring.AllocateTokens(StrCat("j", j), kTokensPerNodeMax);
    ASSERT_EQ(t.size(), static_cast<size_t>(kTokensPerNodeMax));
    ASSERT_EQ(std::set<Token>(t.begin(), t.end()).size(), t.size());
    for (Token token : t) EXPECT_EQ(on_ring.count(token), 0u) << "joiner j" << j;
  }
}

// Goal: allocation is deterministic given the view and the joiner.
TEST(Ring, AllocationDeterministic) {
  Ring ring;
  ring.SetNode(NodeIdFromName("n1"), Ring::HashTokens("n1", 16));
  ring.SetNode(NodeIdFromName("n2"), ring.AllocateTokens("n2", 16));
  EXPECT_EQ(ring.AllocateTokens("n3", 16), ring.AllocateTokens("n3", 16));
  auto shares = ring.PrimaryShares();
  EXPECT_NEAR(shares[NodeIdFromName("n1")], 0.5, 0.02);  // half, give or take the slice jitter
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
