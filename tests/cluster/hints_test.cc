// Hinted handoff (cluster/internal/hint_replayer.h, the coordinator's sloppy quorum): table tests
// on the message-queue harness, whose storage keeps hints by (target, key) as the engine does.
#include <gtest/gtest.h>

#include <string>

#include "base/limits.h"
#include "base/strings.h"
#include "cluster/internal/hint_replayer.h"
#include "harness.h"

namespace causeway::cluster {
namespace {

using testing::Harness;

ClientWrite Put(std::string key, std::string value, bool hinted_counts = true) {
  ClientWrite w;
  w.key = std::move(key);
  w.value = std::move(value);
  w.w = Consistency::All();
  w.hinted_counts = hinted_counts;
  return w;
}

// A coordinator for `key` that is neither its replica nor `avoid`.
size_t Coordinator(Harness& h, const std::string& key, size_t avoid) {
  auto replicas = h.Replicas(0, key);
  for (size_t i = 0; i < h.size(); ++i) {
    if (i != avoid && std::find(replicas.begin(), replicas.end(), i) == replicas.end()) return i;
  }
  return replicas[0] == avoid ? replicas[1] : replicas[0];
}

size_t HintsFor(Harness& h, NodeId target) {
  size_t n = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    for (const auto& [k, v] : h.node(i).hints) n += k.first == target ? 1 : 0;
  }
  return n;
}

// Goal: with a replica down, a W=all write succeeds through a stand-in that keeps a hint for it
// (counted toward W by default), and once the replica is back the hint is replayed, acknowledged
// and deleted: the replica holds the write with no client read.
TEST(HintedHandoff, StandInKeepsTheWriteAndHandsItOverWithoutReads) {
  Harness h(5, /*fixed_tokens=*/true);
  h.Run(3000);
  const std::string key = "hk";
  const size_t down = h.Replicas(0, key)[1];
  const NodeId down_id = h.core(down).id();
  h.node(down).crashed = true;
  h.Run(6000);  // convicted by the failure detector
  const size_t via = Coordinator(h, key, down);
  ClientResult w = h.Write(via, Put(key, "v1"));
  ASSERT_TRUE(w.status.ok()) << w.status.ToString();
  h.Drain();
  EXPECT_EQ(h.core(via).counters().hinted_writes, 1u);
  EXPECT_EQ(HintsFor(h, down_id), 1u);
  EXPECT_EQ(h.node(down).store.count(key), 0u);

  h.Restart(down, /*restore_view=*/true);
  h.Run(3000);  // no client request at all
  ASSERT_EQ(h.node(down).store.count(key), 1u);
  EXPECT_EQ(h.node(down).store.at(key).value, "v1");
  EXPECT_EQ(HintsFor(h, down_id), 0u);  // deleted once acknowledged
  uint64_t replayed = 0;
  for (size_t i = 0; i < h.size(); ++i) replayed += h.core(i).counters().hints_replayed;
  EXPECT_EQ(replayed, 1u);
}

// Goal: in a cluster of rf nodes there is no stand-in: the coordinator keeps the hint itself (not
// counted toward W), so a replica that was down still gets the write with no client read.
TEST(HintedHandoff, WithoutAStandInTheCoordinatorKeepsTheHint) {
  Harness h(3, /*fixed_tokens=*/true);
  h.Run(3000);
  const size_t down = 2;
  const NodeId down_id = h.core(down).id();
  h.node(down).crashed = true;
  h.Run(6000);
  ClientWrite w = Put("k3", "v");
  w.w = Consistency::Number(2);
  ASSERT_TRUE(h.Write(0, w).status.ok());
  ClientWrite all = Put("k3", "v2");
  EXPECT_EQ(h.Write(0, all).status.code(), ErrorCode::kUnavailable);  // its own hint does not count
  h.Drain();
  EXPECT_EQ(h.node(0).hints.count({down_id, "k3"}), 1u);
  h.Restart(down, true);
  h.Run(3000);
  ASSERT_EQ(h.node(down).store.count("k3"), 1u);
  EXPECT_EQ(h.node(down).store.at("k3").value, "v");
  EXPECT_EQ(HintsFor(h, down_id), 0u);
}

// Goal: a newer write for the same key replaces the older hint (hints grow with keys, not with
// writes), and only the newest is replayed.
TEST(HintedHandoff, ANewerWriteReplacesTheHint) {
  Harness h(5, /*fixed_tokens=*/true);
  h.Run(3000);
  const std::string key = "hk2";
  const size_t down = h.Replicas(0, key)[0];
  const NodeId down_id = h.core(down).id();
  h.node(down).crashed = true;
  h.Run(6000);
  const size_t via = Coordinator(h, key, down);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(h.Write(via, Put(key, StrCat("v", i))).status.ok());
  }
  h.Drain();
  EXPECT_EQ(HintsFor(h, down_id), 1u);
  h.Restart(down, true);
  h.Run(3000);
  ASSERT_EQ(h.node(down).store.count(key), 1u);
  EXPECT_EQ(h.node(down).store.at(key).value, "v4");
}

// Goal: with hinted_counts off, only real replicas count: W=all with one down is refused with
// "nothing was written" and no hint is kept.
TEST(HintedHandoff, HintsNeedNotCount) {
  Harness h(5, /*fixed_tokens=*/true);
  h.Run(3000);
  const std::string key = "hk3";
  const size_t down = h.Replicas(0, key)[2];
  h.node(down).crashed = true;
  h.Run(6000);
  ClientResult w = h.Write(Coordinator(h, key, down), Put(key, "v", /*hinted_counts=*/false));
  EXPECT_EQ(w.status.code(), ErrorCode::kUnavailable) << w.status.ToString();
  EXPECT_NE(w.status.message().find("nothing was written"), std::string::npos);
  h.Drain();
  EXPECT_EQ(HintsFor(h, h.core(down).id()), 0u);
}

// Goal: a stand-in over its per-target budget refuses the hint (counted, the write then counts
// one fewer), never grows without bound; hints survive a restart of their holder and are still
// replayed.
TEST(HintedHandoff, BudgetRefusesAndHintsSurviveTheirHoldersRestart) {
  Harness h(5, /*fixed_tokens=*/true);
  h.Run(3000);
  for (size_t i = 0; i < h.size(); ++i) h.node(i).hint_budget = 1;
  const size_t down = 0;
  const NodeId down_id = h.core(down).id();
  h.node(down).crashed = true;
  h.Run(6000);
  int hinted = 0;
  for (int k = 0; k < 40 && hinted < 6; ++k) {
    const std::string key = StrCat("b", k);
    auto replicas = h.Replicas(1, key);
    if (std::find(replicas.begin(), replicas.end(), down) == replicas.end()) continue;
    ++hinted;
    ClientWrite w = Put(key, "v");
    w.w = Consistency::Number(2);
    h.Write(1, w);
  }
  h.Drain();
  uint64_t over = 0;
  for (size_t i = 1; i < h.size(); ++i) over += h.core(i).counters().hints_over_budget;
  EXPECT_GE(over, 1u);
  const size_t held = HintsFor(h, down_id);
  EXPECT_GE(held, 1u);
  EXPECT_LE(held, h.size() - 1);  // at most one per stand-in
  for (size_t i = 1; i < h.size(); ++i) h.Restart(i, true);
  h.Run(2000);
  h.Restart(down, true);
  h.Run(3000);
  EXPECT_EQ(HintsFor(h, down_id), 0u);
  uint64_t replayed = 0;
  for (size_t i = 1; i < h.size(); ++i) replayed += h.core(i).counters().hints_replayed;
  EXPECT_EQ(replayed, held);
}

// Goal (the replayer alone): a hint is deleted only after the target acknowledged it; a failed
// replay keeps it; every replay is marked as one (its target drops those below its watermark).
TEST(HintReplayer, DeletesOnlyAfterAckKeepsFailures) {
  internal::HintReplayer r(1 << 20, [](NodeId) { return std::string("127.0.0.1:1"); });
  Actions out;
  auto alive = [](NodeId) { return true; };
  r.Tick(1000, alive, &out);  // asks for the targets
  ASSERT_EQ(out.size(), 1u);
  const auto targets = std::get<StorageAction>(out[0]);
  StorageResult listed;
  listed.targets = {7};
  out.clear();
  r.OnStorageDone(targets.op_id, listed, &out);
  r.Tick(2000, alive, &out);
  ASSERT_EQ(out.size(), 1u);
  const auto scan = std::get<StorageAction>(out[0]);
  EXPECT_EQ(scan.kind, StorageAction::Kind::kScanHints);
  EXPECT_EQ(scan.target, 7u);
  StorageResult found;
  Version old_v, new_v, other_v;
  old_v.timestamp = HlcMake(100, 0);
  new_v.timestamp = HlcMake(900, 0);
  other_v.timestamp = HlcMake(901, 0);
  found.hints = {{"a", old_v}, {"b", new_v}, {"c", other_v}};
  out.clear();
  r.OnStorageDone(scan.op_id, found, &out);
  ASSERT_EQ(out.size(), 3u);
  const auto sent_a = std::get<ReplicateRequest>(std::get<SendAction>(out[0]).message);
  EXPECT_TRUE(sent_a.replayed_hint);
  const auto sent_b = std::get<ReplicateRequest>(std::get<SendAction>(out[1]).message);
  const auto sent_c = std::get<ReplicateRequest>(std::get<SendAction>(out[2]).message);
  EXPECT_EQ(sent_b.key, "b");
  EXPECT_EQ(sent_b.hint_for, 0u);
  out.clear();
  r.OnReplicateResponse(7, ReplicateResponse{sent_b.id, Status::Ok()}, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<StorageAction>(out[0]).key, "b");  // deleted after the ack
  out.clear();
  r.OnReplicateResponse(7, ReplicateResponse{sent_c.id, Status::IoError("disk")}, &out);
  EXPECT_TRUE(out.empty());  // kept for a later round
  EXPECT_EQ(r.counters().replayed, 1u);
  EXPECT_EQ(r.counters().replay_failures, 1u);
  EXPECT_TRUE(r.HasHintsFor(7));
}

}  // namespace
}  // namespace causeway::cluster
