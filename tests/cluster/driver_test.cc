// NodeDriver: the one executor of the core's actions, exercised on its own ports.
#include "cluster/driver.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "base/hlc.h"
#include "base/limits.h"
#include "cluster/startup.h"
#include "harness.h"

namespace causeway::cluster {
namespace {

// Ports of a lone node whose storage completes from inside Run(), as the server's pool does in
// `periodic` mode: the driver must queue those completions, never re-enter the core.
class InlinePorts final : public Transport,
                          public StorageRunner,
                          public ReplySink,
                          public MonotonicClock {
 public:
  void Send(NodeId, const std::string&, PeerMessage) override { ++sends; }
  void Run(StorageAction action) override {
    StorageResult result;
    if (action.kind == StorageAction::Kind::kApply) {
      store[action.key] = action.version;
    } else if (auto it = store.find(action.key); it != store.end()) {
      result.version = it->second;
    }
    ++depth;
    max_depth = std::max(max_depth, depth);
    driver->OnStorageDone(action.op_id, std::move(result));
    --depth;
  }
  void StoreMeta(std::string name, std::string value) override {
    meta[name] = value;
    driver->OnMetaStored(name, Status::Ok());
  }
  void SetTombstoneWatermarks(std::vector<SpanWatermark> w) override {
    watermarks.push_back(std::move(w));
  }
  void StoreHlcCeiling(uint64_t ceiling_ms) override { ceilings.push_back(ceiling_ms); }
  void Reply(RequestId id, ClientResult result) override { replies[id].push_back(result); }
  void ExplainReply(RequestId, ExplainResult) override {}
  TimeMs NowMs() override { return now; }

  NodeDriver* driver = nullptr;
  std::map<std::string, Version> store;
  std::map<std::string, std::string> meta;
  std::vector<std::vector<SpanWatermark>> watermarks;
  std::vector<uint64_t> ceilings;  // stores asked for, completed by the test
  std::map<RequestId, std::vector<ClientResult>> replies;
  int sends = 0, depth = 0, max_depth = 0;
  TimeMs now = 1000;

  // Completes every ceiling store asked for (each completion may ask for the next).
  void CompleteCeilings() {
    while (!ceilings.empty()) {
      uint64_t ms = ceilings.back();
      ceilings.clear();
      driver->OnCeilingStored(ms, Status::Ok());
    }
  }
  // `ticks` ticks `step_ms` apart; the wall clock `physical` (if any) moves along.
  void TickFor(int ticks, uint64_t step_ms, testing::TestClock* physical = nullptr) {
    for (int i = 0; i < ticks; ++i) {
      now += step_ms;
      if (physical != nullptr) physical->now_ms += step_ms;
      driver->Tick();
      CompleteCeilings();
    }
  }
};

ClientWrite Put(std::string key, std::string value) {
  ClientWrite w;
  w.key = std::move(key);
  w.value = std::move(value);
  return w;
}

NodeConfig LoneNode() {
  NodeConfig c;
  c.name = "solo";
  c.address = "127.0.0.1:7999";
  c.seeds = {c.address};
  c.rf = 1;
  c.default_w = 1;
  c.default_r = 1;
  return c;
}

// Goal: with storage that completes inline, a write and a read through the driver are each
// answered exactly once, and the core's own replica messages loop back without the transport.
TEST(NodeDriver, InlineStorageCompletionsAreQueuedNotReentered) {
  testing::TestClock physical;
  auto hlc = HybridClock::Open(&physical, nullptr);
  ASSERT_TRUE(hlc.ok());
  InlinePorts ports;
  NodeDriver driver(LoneNode(), hlc->get(), {&ports, &ports, &ports, &ports});
  ports.driver = &driver;
  ports.TickFor(5, 20);
  const ClientWrite w = Put("k", "v");
  driver.StartWrite(1, w);
  ASSERT_EQ(ports.replies[1].size(), 1u);
  ASSERT_TRUE(ports.replies[1][0].status.ok()) << ports.replies[1][0].status.ToString();
  ClientRead r;
  r.key = "k";
  r.session = ports.replies[1][0].session;
  driver.StartRead(2, r);
  ASSERT_EQ(ports.replies[2].size(), 1u);
  ASSERT_TRUE(ports.replies[2][0].version.has_value());
  EXPECT_EQ(ports.replies[2][0].version->value, "v");
  EXPECT_EQ(ports.sends, 0);      // rf=1: nothing left the node
  EXPECT_EQ(ports.max_depth, 1);  // completions never nested a second storage call
  EXPECT_TRUE(driver.StorageIdle());
}

// Goal: the tombstone-GC policy is the core's decision, carried out by the driver: once the clock
// has stamped something, a tick sets watermarks covering the ring; a lone node's ranges have no
// other replica to wait for, so the grace floor (the clock minus the grace) decides; the next
// marks come an interval later.
TEST(NodeDriver, TombstoneWatermarkFollowsTheClockMinusTheGrace) {
  testing::TestClock physical;
  auto hlc = HybridClock::Open(&physical, nullptr);
  ASSERT_TRUE(hlc.ok());
  InlinePorts ports;
  NodeDriver driver(LoneNode(), hlc->get(), {&ports, &ports, &ports, &ports});
  ports.driver = &driver;
  const ClientWrite w = Put("k", "v");
  driver.Tick();
  EXPECT_TRUE(ports.watermarks.empty());  // the clock has stamped nothing yet
  ports.TickFor(5, 20);
  driver.StartWrite(1, w);  // moves the HLC to the wall clock
  ports.now += 20;
  driver.Tick();
  ASSERT_EQ(ports.watermarks.size(), 1u);
  ASSERT_FALSE(ports.watermarks[0].empty());
  uint64_t covered = 0;
  for (const SpanWatermark& m : ports.watermarks[0]) {
    EXPECT_EQ(m.watermark, HlcMake(HlcPhysicalMs((*hlc)->Last()) - kTombstoneGraceMsDefault, 0));
    covered += m.span.last - m.span.first;
  }
  EXPECT_EQ(covered + ports.watermarks[0].size(), 0u);  // the whole ring: 2^64 tokens
  ports.now += kTombstoneWatermarkIntervalMs / 2;
  driver.Tick();
  EXPECT_EQ(ports.watermarks.size(), 1u);  // not before the interval
  ports.now += kTombstoneWatermarkIntervalMs / 2;
  driver.Tick();
  EXPECT_EQ(ports.watermarks.size(), 2u);
  EXPECT_EQ(driver.counters().watermarks_set, 2u);
}

// A durable ceiling store that counts synchronous stores (only start-up may make one).
class CountingClockStore final : public ClockStore {
 public:
  Result<uint64_t> LoadHlcCeilingMs() override { return stored_ms; }
  Status StoreHlcCeilingMs(uint64_t ceiling_ms) override {
    ++sync_stores;
    stored_ms = ceiling_ms;
    return Status::Ok();
  }
  uint64_t stored_ms = 0;
  int sync_stores = 0;
};

// Goal: a running node renews its clock's ceiling through the driver's storage runner, never
// synchronously on its own thread; a renewal that is late refuses writes (kUnavailable) instead
// of blocking, and they succeed again once it lands.
TEST(NodeDriver, ClockCeilingIsRenewedThroughTheStorageRunner) {
  testing::TestClock physical;
  CountingClockStore durable;
  CeilingStore ceiling(&durable, kMaxClockOffsetMsDefault);
  auto hlc = HybridClock::Open(&physical, &ceiling);
  ASSERT_TRUE(hlc.ok());
  ASSERT_EQ(durable.sync_stores, 0);  // the clock waits for the driver's verdict on the wall
  InlinePorts ports;
  NodeDriver driver(LoneNode(), hlc->get(), {&ports, &ports, &ports, &ports, &ceiling});
  ASSERT_EQ(durable.sync_stores, 1);  // a lone node trusts its wall clock: the start-up store
  ports.driver = &driver;
  ports.TickFor(5, 20);
  const ClientWrite w = Put("k", "v");
  RequestId id = 1;
  // Time passes in 100 ms steps; each renewal the driver asks for completes at once.
  for (int step = 0; step < 40; ++step, ++id) {
    physical.now_ms += 100;
    driver.StartWrite(id, w);
    ASSERT_TRUE(ports.replies[id].at(0).status.ok()) << ports.replies[id][0].status.ToString();
    ports.CompleteCeilings();
  }
  EXPECT_EQ(durable.sync_stores, 1);  // nothing synchronous after start-up
  EXPECT_GE(driver.counters().ceilings_stored, 5u);
  // Now the store stops answering: once the clock reaches its durable ceiling, writes are
  // refused with kUnavailable, and nothing blocks.
  bool refused = false;
  for (int step = 0; step < 40 && !refused; ++step, ++id) {
    physical.now_ms += 100;
    driver.StartWrite(id, w);
    refused = ports.replies[id].at(0).status.code() == ErrorCode::kUnavailable;
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(durable.sync_stores, 1);
  EXPECT_GE(ceiling.late_renewals(), 1u);
  ASSERT_FALSE(ports.ceilings.empty());
  ports.CompleteCeilings();  // the late store lands; the driver then asks for the newest
  driver.StartWrite(++id, w);
  EXPECT_TRUE(ports.replies[id].at(0).status.ok()) << ports.replies[id][0].status.ToString();
}

// Goal: an idle node's ticks keep its clock's ceiling ahead, so the first write after a quiet
// spell longer than the lead succeeds without any synchronous store.
TEST(NodeDriver, TicksKeepAnIdleNodesCeilingAhead) {
  testing::TestClock physical;
  CountingClockStore durable;
  CeilingStore ceiling(&durable, kMaxClockOffsetMsDefault);
  auto hlc = HybridClock::Open(&physical, &ceiling);
  ASSERT_TRUE(hlc.ok());
  InlinePorts ports;
  NodeDriver driver(LoneNode(), hlc->get(), {&ports, &ports, &ports, &ports, &ceiling});
  ports.driver = &driver;
  ports.TickFor(400, 25, &physical);  // 10 s of ticks, no client request
  EXPECT_GE(driver.counters().ceilings_stored, 15u);
  const ClientWrite w = Put("k", "v");
  driver.StartWrite(1, w);
  EXPECT_TRUE(ports.replies[1].at(0).status.ok()) << ports.replies[1][0].status.ToString();
  EXPECT_EQ(ceiling.late_renewals(), 0u);
  EXPECT_EQ(durable.sync_stores, 1);
}

// Goal: a node that does not trust its wall clock (it awaits its seed, and its clock is 300 s
// ahead) refuses writes and never raises its persisted ceiling from that clock: no store at
// start-up nor on ticks, and the ceilings it does store follow the timestamps a peer replicated to
// it (at most their physical part plus the lead), so a restart with the clock fixed does not wait
// out 300 s.
TEST(NodeDriver, UntrustedWallClockNeverRaisesTheCeiling) {
  testing::TestClock physical;
  const uint64_t true_ms = physical.now_ms;
  physical.now_ms += 300000;
  CountingClockStore durable;
  CeilingStore ceiling(&durable, kMaxClockOffsetMsDefault);
  auto hlc = HybridClock::Open(&physical, &ceiling);
  ASSERT_TRUE(hlc.ok());
  InlinePorts ports;
  NodeConfig config = LoneNode();
  config.seeds = {"127.0.0.1:7001"};  // a seed that never answers
  NodeDriver driver(config, hlc->get(), {&ports, &ports, &ports, &ports, &ceiling});
  ports.driver = &driver;
  EXPECT_EQ(durable.sync_stores, 0);
  ports.TickFor(40, 25, &physical);
  EXPECT_EQ(driver.counters().ceilings_stored, 0u);
  driver.StartWrite(1, Put("k", "v"));
  EXPECT_EQ(ports.replies[1].at(0).status.code(), ErrorCode::kUnavailable)
      << ports.replies[1][0].status.ToString();  // (joining, and its clock is unverified)
  EXPECT_FALSE(driver.core().ClockTrusted());
  // A trusted peer replicates a version stamped at the true time: the ceiling follows it.
  Version v;
  v.timestamp = HlcMake(true_ms + 1000, 0);
  v.writer = NodeIdFromName("peer");
  v.value = "x";
  v.vv.Advance(v.writer, v.timestamp);
  for (int i = 0; i < 3; ++i) {
    driver.OnPeerMessage(v.writer, ReplicateRequest{static_cast<RequestId>(i + 1), "k", v});
    ports.TickFor(4, 25, &physical);
  }
  EXPECT_GE(driver.counters().ceilings_stored, 1u);
  EXPECT_LE(ceiling.durable_ms(), true_ms + 1000 + ceiling.lead_ms() + 1000);
  EXPECT_LT(ceiling.durable_ms(), physical.now_ms);  // never from the wall clock
  EXPECT_EQ(ports.store.count("k"), 1u);             // and the replica write landed
}

// Goal: start-up restores identity once for every host: a second start bumps the generation,
// keeps the tokens and refuses a data dir of another node's name.
TEST(Startup, RestoresTokensBumpsGenerationAndRefusesAnotherName) {
  testing::Harness h(3, /*fixed_tokens=*/false);
  h.Run(3000);
  const auto tokens = h.core(1).tokens();
  const uint64_t generation = h.core(1).config().generation;
  h.Restart(1, true);
  EXPECT_EQ(h.core(1).tokens(), tokens);
  EXPECT_EQ(h.core(1).config().generation, generation + 1);
  h.node(1).meta[std::string(kMetaNodeName)] = "someone-else";
  testing::Harness::Ports ports(&h, 1);
  StartupNotes notes;
  auto refused = RestoreIdentity(ports, h.core(1).config(), &notes);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace causeway::cluster
