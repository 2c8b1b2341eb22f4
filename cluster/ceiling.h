// CeilingStore: the hybrid clock's ClockStore on a running node (base/hlc.h), which makes the
// renewal of the clock's durable ceiling a decision of the node driver (cluster/driver.h) instead
// of a synchronous store inside HybridClock::Now() on the loop thread.
//
// Before Start() it forwards to the durable store synchronously (HybridClock::Open loads the
// ceiling; its schedule says not to store a first one: the wall clock may not be trusted yet).
// After Start():
//  * RequestHlcCeilingMs (the clock, ahead of need) only records the request; the driver sees it
//    after each input and hands it to StorageRunner::StoreHlcCeiling (synced, off the loop), and
//    OnStored publishes it as durable;
//  * StoreHlcCeilingMs (the clock's slow path: a timestamp reached the durable ceiling because a
//    renewal is late) never blocks: it fails with kUnavailable and the write is refused.
// The schedule keeps the durable ceiling more than max_offset_ms + kHlcCeilingStoreLatencyMaxMs
// ahead of the clock, so a peer's timestamp (at most max_offset_ms ahead) never needs the slow
// path while renewals land within kHlcCeilingStoreLatencyMaxMs (base/limits.h).
//
// A ceiling is never derived from a wall clock the node does not trust (the clock monitor's
// verdict, cluster/internal/clock_monitor.h): Target() clamps what is stored to a base the core
// chooses (NodeCore::CeilingBaseMs) plus the lead. So a node whose clock was 300 s ahead
// restarts, once the clock is fixed, without waiting out 300 s.
//
// Not thread-safe: the node's loop (or the simulator) owns it, with its clock and driver.
#pragma once

#include <cstdint>

#include "base/hlc.h"
#include "base/status.h"

namespace causeway::cluster {

class CeilingStore final : public ClockStore {
 public:
  // `durable` (the engine; null: nothing is persisted) is borrowed.
  CeilingStore(ClockStore* durable, uint64_t max_offset_ms);

  // ---- ClockStore (called by the HybridClock)
  Result<uint64_t> LoadHlcCeilingMs() override;
  Status StoreHlcCeilingMs(uint64_t ceiling_ms) override;
  void RequestHlcCeilingMs(uint64_t ceiling_ms) override;
  uint64_t DurableHlcCeilingMs() override { return durable_ms_; }
  HlcCeilingSchedule CeilingSchedule() override { return schedule_; }

  // ---- the driver
  // From now on renewals go through the driver (the driver calls it, after HybridClock::Open).
  // `store_now_ms` nonzero: first store that ceiling synchronously (start-up, with a trusted wall
  // clock), so the first write after start does not wait for a renewal.
  Status Start(uint64_t store_now_ms);
  bool started() const { return started_; }
  // Asks for a renewal if `base_ms` (NodeCore::CeilingBaseMs: the wall clock while trusted) came
  // within the renewal margin of the durable ceiling: the driver calls it after every input, so
  // an idle node's ceiling stays ahead too and the first write after a quiet spell does not find
  // it reached.
  void KeepAhead(uint64_t base_ms);
  // The ceiling to store now (0: none): what was asked for, at most base_ms plus the lead. Drops
  // the part of the request beyond that (the clock asks again if it still needs it).
  uint64_t Target(uint64_t base_ms);
  // `ceiling_ms` is durable now.
  void OnStored(uint64_t ceiling_ms);
  uint64_t durable_ms() const { return durable_ms_; }
  uint64_t lead_ms() const { return schedule_.lead_ms; }
  uint64_t late_renewals() const { return late_renewals_; }

 private:
  ClockStore* durable_;
  HlcCeilingSchedule schedule_;
  bool started_ = false;
  uint64_t requested_ms_ = 0;
  uint64_t durable_ms_ = 0;
  uint64_t late_renewals_ = 0;  // slow-path calls refused after Start()
};

}  // namespace causeway::cluster
