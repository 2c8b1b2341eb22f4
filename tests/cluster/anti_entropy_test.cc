// Anti-entropy (cluster/internal/anti_entropy.h): table tests on the message-queue harness,
// whose storage answers span hashes and digests over its maps as the engine does over RocksDB.
#include <gtest/gtest.h>

#include <string>

#include "base/limits.h"
#include "base/strings.h"
#include "cluster/ring.h"
#include "harness.h"

namespace causeway::cluster {
namespace {

using testing::Harness;

Version At(uint64_t ms, NodeId writer, std::string value, bool tombstone = false) {
  Version v;
  v.timestamp = HlcMake(testing::kEpochMs + ms, 0);
  v.writer = writer;
  v.vv.Advance(writer, v.timestamp);
  v.tombstone = tombstone;
  if (!tombstone) v.value = std::move(value);
  return v;
}

// Every replica of every key holds the same winner (by dot and tombstone).
bool Converged(Harness& h) {
  std::map<std::string, std::vector<size_t>> keys;
  for (size_t i = 0; i < h.size(); ++i) {
    for (const auto& [k, v] : h.node(i).store) keys[k];
  }
  for (const auto& [k, unused] : keys) {
    const std::vector<size_t> replicas = h.Replicas(0, k);
    const auto first = h.node(replicas[0]).store.find(k);
    for (size_t r : replicas) {
      const auto it = h.node(r).store.find(k);
      if (it == h.node(r).store.end() || first == h.node(replicas[0]).store.end()) return false;
      if (!it->second.SameDot(first->second) || it->second.tombstone != first->second.tombstone) {
        return false;
      }
    }
  }
  return true;
}

// Goal: replicas whose stores were made to differ behind the core's back (as a lost disk, a
// crash past hints, a hint over budget) converge with no client read: keys missing on either
// side, older winners on either side and deletes are all repaired, both ways, and an exchange
// over identical replicas then finds nothing.
TEST(AntiEntropy, ReplicasThatDifferConvergeWithoutClientReads) {
  Harness h(3, /*fixed_tokens=*/true);
  h.Run(3000);
  const NodeId w1 = h.core(0).id();
  for (int k = 0; k < 300; ++k) {
    const std::string key = StrCat("k", k);
    for (size_t i = 0; i < 3; ++i) h.node(i).store[key] = At(100 + k, w1, "old");
  }
  for (int k = 0; k < 300; k += 7) h.node(0).store[StrCat("k", k)] = At(5000 + k, w1, "new0");
  for (int k = 3; k < 300; k += 11) h.node(1).store.erase(StrCat("k", k));
  for (int k = 5; k < 300; k += 13) h.node(2).store[StrCat("k", k)] = At(6000 + k, w1, "", true);
  h.node(1).store["only-on-1"] = At(7000, w1, "lonely");
  ASSERT_FALSE(Converged(h));
  uint64_t deadline_ms = 60000;
  while (!Converged(h) && deadline_ms > 0) {
    h.Run(500);
    deadline_ms -= 500;
  }
  EXPECT_TRUE(Converged(h));
  uint64_t differed = 0, written = 0, reads = 0;
  for (size_t i = 0; i < 3; ++i) {
    const auto c = h.core(i).counters();
    differed += c.aae_keys_differed;
    written += c.aae_keys_pushed + c.aae_keys_pulled;
    reads += c.reads;
  }
  EXPECT_GT(differed, 0u);
  EXPECT_GT(written, 0u);
  EXPECT_EQ(reads, 0u);  // no client read took part
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(h.node(i).store.at("k7").value, "new0");
    EXPECT_TRUE(h.node(i).store.at("k5").tombstone);
    EXPECT_EQ(h.node(i).store.count("k3"), 1u);
    EXPECT_EQ(h.node(i).store.at("only-on-1").value, "lonely");
  }
  // Identical replicas: further exchanges complete and find nothing more.
  uint64_t exchanges_before = 0, differed_before = 0;
  for (size_t i = 0; i < 3; ++i) exchanges_before += h.core(i).counters().aae_exchanges;
  for (size_t i = 0; i < 3; ++i) differed_before += h.core(i).counters().aae_keys_differed;
  h.Run(2 * kAaeIntervalMsDefault + 1000);
  uint64_t exchanges_after = 0, differed_after = 0;
  for (size_t i = 0; i < 3; ++i) exchanges_after += h.core(i).counters().aae_exchanges;
  for (size_t i = 0; i < 3; ++i) differed_after += h.core(i).counters().aae_keys_differed;
  EXPECT_GT(exchanges_after, exchanges_before);
  EXPECT_EQ(differed_after, differed_before);
}

// Goal: the exchange descends only into what differs and pages long digest lists: a replica
// missing thousands of keys (more than one digest answer holds) is filled completely.
TEST(AntiEntropy, AnEmptyReplicaIsFilledPastOneDigestPage) {
  Harness h(3, /*fixed_tokens=*/true);
  h.Run(3000);
  const NodeId w1 = h.core(0).id();
  const int keys = static_cast<int>(kAaeDigestsPerResponseMax) + 1500;
  for (int k = 0; k < keys; ++k) {
    for (size_t i = 0; i < 2; ++i) h.node(i).store[StrCat("p", k)] = At(100 + k, w1, "v");
  }
  uint64_t deadline_ms = 120000;
  while (h.node(2).store.size() < static_cast<size_t>(keys) && deadline_ms > 0) {
    h.Run(1000);
    deadline_ms -= 1000;
  }
  EXPECT_EQ(h.node(2).store.size(), static_cast<size_t>(keys));
  EXPECT_TRUE(Converged(h));
}

// Goal: an on-demand repair reports its progress and ends done at 100%, with what differed.
TEST(AntiEntropy, OnDemandRepairReportsProgressToTheEnd) {
  Harness h(3, /*fixed_tokens=*/true);
  h.Run(3000);
  const NodeId w1 = h.core(0).id();
  for (int k = 0; k < 50; ++k) h.node(0).store[StrCat("r", k)] = At(100 + k, w1, "v");
  const uint64_t id = h.core(0).StartRepair({}, h.now());
  NodeCore::RepairStatus st = h.core(0).repair_status(id, h.now());
  EXPECT_TRUE(st.known);
  EXPECT_EQ(st.exchanges_total, 2u);  // rf=3 on 3 nodes: one range, two other replicas
  for (int round = 0; round < 100 && !st.done; ++round) {
    h.Run(200);
    st = h.core(0).repair_status(id, h.now());
  }
  ASSERT_TRUE(st.done);
  EXPECT_TRUE(st.status.ok()) << st.status.ToString();
  EXPECT_DOUBLE_EQ(st.fraction, 1.0);
  EXPECT_EQ(st.exchanges_done, 2u);
  EXPECT_GE(st.keys_differed, 50u);
  EXPECT_GE(st.keys_written, 50u);
  EXPECT_FALSE(h.core(0).repair_status(id + 1, h.now()).known);
  // A repair with a replica down ends, failed, and says which.
  h.node(2).crashed = true;
  h.Run(8000);
  const uint64_t id2 = h.core(0).StartRepair({}, h.now());
  for (int round = 0; round < 100 && !st.done; ++round) h.Run(200);
  for (int round = 0; round < 100; ++round) {
    st = h.core(0).repair_status(id2, h.now());
    if (st.done) break;
    h.Run(200);
  }
  ASSERT_TRUE(st.done);
  EXPECT_FALSE(st.status.ok());
  EXPECT_EQ(st.exchanges_failed, 1u);
  EXPECT_EQ(st.exchanges_done, 1u);
}

// Goal: the per-range tombstone watermark waits for an exchange with every other replica: with
// one replica down nothing may be purged; once every exchange completed, the watermark rises (to
// the grace floor at most).
TEST(AntiEntropy, TombstoneWatermarkWaitsForEveryReplica) {
  Harness h(3, /*fixed_tokens=*/true);
  h.Run(3000);  // all three know each other
  h.node(2).crashed = true;
  h.Run(kTombstoneWatermarkIntervalMs + 5000);
  ClientWrite w;
  w.key = "t";
  w.value = "v";
  w.w = Consistency::One();
  ASSERT_TRUE(h.Write(0, w).status.ok());
  h.Run(kTombstoneWatermarkIntervalMs + 1000);
  ASSERT_FALSE(h.node(0).watermarks.empty());
  for (const SpanWatermark& m : h.node(0).watermarks) EXPECT_EQ(m.watermark, 0u);
  h.node(2).crashed = false;
  h.Restart(2, /*restore_view=*/true);
  h.Run(kTombstoneWatermarkIntervalMs + 5000);
  ASSERT_FALSE(h.node(0).watermarks.empty());
  const Hlc floor = HlcMake(HlcPhysicalMs(h.node(0).hlc->Last()) - kTombstoneGraceMsDefault, 0);
  for (const SpanWatermark& m : h.node(0).watermarks) {
    EXPECT_GT(m.watermark, 0u);
    EXPECT_LE(m.watermark, floor);
  }
}

}  // namespace
}  // namespace causeway::cluster

namespace causeway::cluster {
namespace {

// Goal: a replica drops (and acknowledges, so its holder deletes it) a replayed hint older than
// its watermark for the key, since a newer delete may already be purged there; a plain replica
// write of the same age is applied.
TEST(AntiEntropy, ReplicaDropsReplayedHintsBelowItsWatermark) {
  testing::Harness h(3, /*fixed_tokens=*/true);
  h.Run(3000);
  ClientWrite w;
  w.key = "other";
  w.value = "x";
  ASSERT_TRUE(h.Write(0, w).status.ok());       // the clock has stamped: the grace floor exists
  h.Run(kTombstoneWatermarkIntervalMs + 5000);  // exchanges with both peers completed
  Version v = At(0, h.core(1).id(), "ancient");
  v.timestamp = HlcMake(HlcPhysicalMs(h.node(0).hlc->Last()) - 2 * kTombstoneGraceMsDefault, 0);
  v.vv = VersionVector();
  v.vv.Advance(v.writer, v.timestamp);
  Actions out = h.core(0).OnPeerMessage(
      h.core(1).id(), ReplicateRequest{77, "hk", v, 0, /*replayed_hint=*/true}, h.now());
  ASSERT_EQ(out.size(), 1u);
  const auto* ack = std::get_if<ReplicateResponse>(&std::get<SendAction>(out[0]).message);
  ASSERT_NE(ack, nullptr);
  EXPECT_TRUE(ack->status.ok()) << ack->status.ToString();
  EXPECT_EQ(h.core(0).counters().hints_dropped, 1u);
  out = h.core(0).OnPeerMessage(h.core(1).id(), ReplicateRequest{78, "hk", v, 0, false}, h.now());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(std::get_if<StorageAction>(&out[0]), nullptr);  // applied
}

}  // namespace
}  // namespace causeway::cluster
