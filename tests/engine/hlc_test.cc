// Hybrid logical clock: monotonicity, logical overflow, skew rejection, persisted ceiling.
#include "base/hlc.h"

#include <gtest/gtest.h>

#include "support/manual_clock.h"

namespace causeway {
namespace {

using testing::ManualClock;

constexpr uint64_t kT0Ms = 1'700'000'000'000;

// An in-memory ClockStore that records every store and can be made to fail.
class MemoryClockStore final : public ClockStore {
 public:
  Result<uint64_t> LoadHlcCeilingMs() override { return ceiling_ms; }
  Status StoreHlcCeilingMs(uint64_t c) override {
    if (fail) return Status::IoError("store failed");
    ceiling_ms = c;
    ++stores;
    return Status::Ok();
  }
  uint64_t ceiling_ms = 0;
  int stores = 0;
  bool fail = false;
};

std::unique_ptr<HybridClock> OpenClock(ManualClock* pc, ClockStore* store) {
  Result<std::unique_ptr<HybridClock>> c = HybridClock::Open(pc, store);
  EXPECT_TRUE(c.ok());
  return c.ok() ? std::move(c).value() : nullptr;
}

TEST(Hlc, NowStrictlyIncreasesWithAFrozenOrBackwardClock) {
  // Goal: Now() is strictly increasing even when the wall clock stands still or goes back.
  ManualClock pc(kT0Ms);
  auto clock = OpenClock(&pc, nullptr);
  Hlc prev = 0;
  for (int i = 0; i < 1000; ++i) {
    if (i == 500) pc.Set(kT0Ms - 60'000);
    Result<Hlc> t = clock->Now();
    ASSERT_TRUE(t.ok());
    EXPECT_GT(*t, prev);
    prev = *t;
  }
  EXPECT_EQ(HlcPhysicalMs(prev), kT0Ms);
  EXPECT_EQ(HlcLogical(prev), 999u);
  pc.Set(kT0Ms + 5);
  Result<Hlc> t = clock->Now();
  EXPECT_EQ(*t, HlcMake(kT0Ms + 5, 0));  // physical time catches up: logical resets
}

TEST(Hlc, LogicalOverflowAdvancesPhysicalPart) {
  // Goal: 65536 stamps within one millisecond carry into the physical part, still increasing.
  ManualClock pc(kT0Ms);
  auto clock = OpenClock(&pc, nullptr);
  Hlc prev = 0;
  for (uint64_t i = 0; i < (uint64_t{1} << kHlcLogicalBits) + 10; ++i) {
    Hlc t = *clock->Now();
    ASSERT_GT(t, prev);
    prev = t;
  }
  EXPECT_EQ(HlcPhysicalMs(prev), kT0Ms + 1);
  EXPECT_EQ(HlcLogical(prev), 9u);
}

TEST(Hlc, UpdateAdoptsPeersWithinOffsetAndRejectsSkew) {
  // Goal: a remote stamp within max_offset moves us past it; beyond it is kClockSkew, counted,
  // not adopted.
  ManualClock pc(kT0Ms);
  auto clock = OpenClock(&pc, nullptr);
  const Hlc ahead = HlcMake(kT0Ms + kMaxClockOffsetMsDefault, 7);
  ASSERT_TRUE(clock->Update(ahead).ok());
  EXPECT_GT(*clock->Now(), ahead);
  const Hlc too_far = HlcMake(kT0Ms + kMaxClockOffsetMsDefault + 1, 0);
  Status s = clock->Update(too_far);
  EXPECT_EQ(s.code(), ErrorCode::kClockSkew);
  EXPECT_EQ(clock->rejected_updates(), 1u);
  EXPECT_LT(clock->Last(), too_far);
  EXPECT_LT(*clock->Now(), too_far);
  EXPECT_TRUE(clock->Update(HlcMake(kT0Ms - 1000, 0)).ok());  // old stamps are harmless
}

TEST(Hlc, CeilingIsPersistedAheadAndRenewed) {
  // Goal: the stored ceiling always stays above every handed-out physical part, renewed only
  // when within kHlcCeilingRenewMs.
  ManualClock pc(kT0Ms);
  MemoryClockStore store;
  auto clock = OpenClock(&pc, &store);
  Hlc t = *clock->Now();
  EXPECT_EQ(store.ceiling_ms, kT0Ms + kHlcCeilingLeadMs);
  EXPECT_EQ(store.stores, 1);
  for (uint64_t ms = 0; ms < 10 * kHlcCeilingLeadMs; ms += 10) {
    pc.Set(kT0Ms + ms);
    t = *clock->Now();
    ASSERT_LT(HlcPhysicalMs(t), store.ceiling_ms);
  }
  // One store per (lead - renew) ms of wall time, not one per stamp.
  EXPECT_LE(
      store.stores,
      1 + static_cast<int>(10 * kHlcCeilingLeadMs / (kHlcCeilingLeadMs - kHlcCeilingRenewMs)) + 1);
  EXPECT_GE(store.stores, 10);
}

// A MemoryClockStore that takes renewal requests; the test decides when one becomes durable.
class BackgroundClockStore final : public ClockStore {
 public:
  Result<uint64_t> LoadHlcCeilingMs() override { return stored_ms; }
  Status StoreHlcCeilingMs(uint64_t c) override {
    stored_ms = durable_ms = c;
    ++stores;
    return Status::Ok();
  }
  void RequestHlcCeilingMs(uint64_t c) override {
    requested_ms = c;
    ++requests;
  }
  uint64_t DurableHlcCeilingMs() override { return durable_ms; }
  void Serve() { stored_ms = durable_ms = requested_ms; }
  uint64_t stored_ms = 0, durable_ms = 0, requested_ms = 0;
  int stores = 0, requests = 0;
};

TEST(Hlc, RenewalsAreRequestedAheadAndSynchronousOnlyAtTheDurableCeiling) {
  // Goal: Open persists a first ceiling; later renewals are requested (not stored) once within
  // kHlcCeilingRenewMs of the requested ceiling; served requests keep Now() from storing; an
  // unserved one is not relied on: at the durable ceiling Now() renews synchronously, counted.
  ManualClock pc(kT0Ms);
  BackgroundClockStore store;
  auto clock = OpenClock(&pc, &store);
  EXPECT_EQ(store.stores, 1);
  EXPECT_EQ(store.durable_ms, kT0Ms + kHlcCeilingLeadMs);
  pc.Set(kT0Ms + kHlcCeilingLeadMs - kHlcCeilingRenewMs - 1);
  ASSERT_TRUE(clock->Now().ok());
  EXPECT_EQ(store.requests, 0);
  pc.Advance(1);
  ASSERT_TRUE(clock->Now().ok());
  EXPECT_EQ(store.requests, 1);
  EXPECT_EQ(store.requested_ms, kT0Ms + 2 * kHlcCeilingLeadMs - kHlcCeilingRenewMs);
  store.Serve();
  for (uint64_t ms = 0; ms < 5 * kHlcCeilingLeadMs; ms += 5) {  // a syncer that keeps up
    pc.Advance(5);
    Result<Hlc> t = clock->Now();
    ASSERT_TRUE(t.ok());
    ASSERT_LT(HlcPhysicalMs(*t), store.durable_ms);
    store.Serve();
  }
  EXPECT_EQ(clock->synchronous_renewals(), 0u);
  EXPECT_EQ(store.stores, 1);
  const int requests = store.requests;
  EXPECT_GE(requests, 6);
  const uint64_t durable_ms = store.durable_ms;  // a syncer that stops serving
  pc.Set(durable_ms - 1);
  EXPECT_EQ(HlcPhysicalMs(*clock->Now()), durable_ms - 1);
  EXPECT_EQ(clock->synchronous_renewals(), 0u);
  pc.Set(durable_ms);
  EXPECT_EQ(HlcPhysicalMs(*clock->Now()), durable_ms);
  EXPECT_EQ(clock->synchronous_renewals(), 1u);
  EXPECT_EQ(store.stores, 2);
  EXPECT_GT(store.durable_ms, durable_ms);
}

TEST(Hlc, RestartStartsAboveCeilingEvenIfWallClockWentBack) {
  // Goal: after a restart with the wall clock an hour behind, stamps stay above the old ones.
  ManualClock pc(kT0Ms);
  MemoryClockStore store;
  Hlc last = 0;
  {
    auto clock = OpenClock(&pc, &store);
    for (int i = 0; i < 100; ++i) last = *clock->Now();
  }
  pc.Set(kT0Ms - 3'600'000);
  auto clock = OpenClock(&pc, &store);
  Hlc t = *clock->Now();
  EXPECT_GT(t, last);
  EXPECT_LT(HlcPhysicalMs(t), store.ceiling_ms);
}

TEST(Hlc, FailingStoreStopsStamping) {
  // Goal: when the ceiling cannot be persisted, Now() fails instead of handing out a stamp that
  // a restart could repeat.
  ManualClock pc(kT0Ms);
  MemoryClockStore store;
  auto clock = OpenClock(&pc, &store);
  ASSERT_TRUE(clock->Now().ok());
  store.fail = true;
  pc.Advance(kHlcCeilingLeadMs);
  Result<Hlc> t = clock->Now();
  EXPECT_EQ(t.status().code(), ErrorCode::kIoError);
}

}  // namespace
}  // namespace causeway
