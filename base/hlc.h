// Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014).
//
// A timestamp is 64 bits: physical milliseconds since the Unix epoch in the high 48 bits, a
// logical counter in the low kHlcLogicalBits. Now() strictly increases; Update() merges a
// timestamp received from elsewhere so that anything stamped afterwards is larger.
//
// Restarts: every timestamp handed out has a physical part below the *durable* ceiling, an upper
// bound persisted through ClockStore; after a restart the clock starts above the stored ceiling,
// so it never goes backwards even if the wall clock did. Renewals are asked for ahead of need:
// when the physical part comes within kHlcCeilingRenewMs of the requested ceiling, the clock
// requests physical + kHlcCeilingLeadMs (RequestHlcCeilingMs: returns at once; the store makes it
// durable in the background). A store may choose other margins (ClockStore::CeilingSchedule: the
// engine in `periodic` mode renews on its periodic sync and keeps a longer lead). Only when a
// timestamp would reach the durable ceiling (the background is late, or the store has none) does
// the clock renew synchronously (StoreHlcCeilingMs), counted in synchronous_renewals(). Correctness
// never depends on the background: it only keeps the synchronous path cold. Which timestamps are
// handed out never depends on it either (only which ceiling a restart starts from).
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "base/limits.h"
#include "base/status.h"
#include "base/version.h"

namespace causeway {

inline constexpr Hlc HlcMake(uint64_t physical_ms, uint64_t logical) {
  return (physical_ms << kHlcLogicalBits) | logical;
}
inline constexpr uint64_t HlcPhysicalMs(Hlc t) { return t >> kHlcLogicalBits; }
inline constexpr uint64_t HlcLogical(Hlc t) { return t & ((uint64_t{1} << kHlcLogicalBits) - 1); }
// How a person reads a timestamp: its physical part as ISO-8601 UTC to the millisecond, then
// "+" and the logical counter: "2026-12-01T21:25:43.120Z+3". The raw number is shown beside it
// wherever one is printed (get/put --json "timestamp", explain, logs).
std::string HlcUtcText(Hlc t);

// Wall-clock source; the simulator supplies a manual, skewable one.
class PhysicalClock {
 public:
  virtual ~PhysicalClock() = default;
  virtual uint64_t NowMs() = 0;  // milliseconds since the Unix epoch
};

// The real wall clock (CLOCK_REALTIME).
class SystemClock final : public PhysicalClock {
 public:
  uint64_t NowMs() override;
};

// How far ahead the clock keeps its ceiling: when the physical part comes within renew_ms of the
// ceiling last asked for, it asks for physical + lead_ms. 0 < renew_ms < lead_ms.
struct HlcCeilingSchedule {
  uint64_t lead_ms = kHlcCeilingLeadMs;
  uint64_t renew_ms = kHlcCeilingRenewMs;
  // Whether Open stores a first ceiling (from the wall clock) at once. A store that must first
  // learn whether the wall clock can be trusted (cluster/ceiling.h) says no: the clock then
  // starts above the stored ceiling and asks for a new one when it first needs it.
  bool store_at_open = true;
};

// Durable home of the clock's ceiling (the engine's `clock` column family).
class ClockStore {
 public:
  virtual ~ClockStore() = default;
  virtual Result<uint64_t> LoadHlcCeilingMs() = 0;            // 0 when never stored
  virtual Status StoreHlcCeilingMs(uint64_t ceiling_ms) = 0;  // durable (synced) on return
  // Asks for `ceiling_ms` to be made durable soon, without waiting: must not block on I/O. The
  // default does nothing (the clock then renews synchronously when it reaches the ceiling).
  virtual void RequestHlcCeilingMs(uint64_t ceiling_ms) { (void)ceiling_ms; }
  // The largest ceiling made durable so far by requests or stores (0: none known). A lower-bound
  // answer is always safe; the default knows nothing.
  virtual uint64_t DurableHlcCeilingMs() { return 0; }
  // The margins the clock should use with this store; read once, by HybridClock::Open.
  virtual HlcCeilingSchedule CeilingSchedule() { return {}; }
};

class HybridClock {
 public:
  // Loads the ceiling from `store`, starts above it and persists a first ceiling above that
  // (synchronously: a restart is not the hot path) unless the store's schedule says not to. `store`
  // may be null (no persistence: tests and tools that stamp nothing durable).
  static Result<std::unique_ptr<HybridClock>> Open(
      PhysicalClock* physical, ClockStore* store,
      uint64_t max_offset_ms = kMaxClockOffsetMsDefault);

  // A new timestamp, larger than every one returned or merged before. Fails only when the ceiling
  // cannot be persisted (the disk is gone): then nothing may be stamped.
  Result<Hlc> Now();
  // Merges a timestamp from a peer or a client session. Rejects (kClockSkew, counted, not
  // adopted) one whose physical part is more than max_offset_ms ahead of our physical clock.
  Status Update(Hlc remote);
  // The largest timestamp handed out or merged so far.
  Hlc Last() const;
  // How far the physical part of Last() is ahead of the physical clock now (0 when it is not).
  // Large after a restart that resumed above the persisted ceiling, or after the wall clock
  // stepped back: peers would reject what this clock stamps until the wall clock catches up.
  uint64_t LeadOverPhysicalMs();
  // The physical clock's reading now (for the clock-offset monitor: cluster/).
  uint64_t PhysicalNowMs() { return physical_->NowMs(); }
  uint64_t rejected_updates() const { return rejected_.load(std::memory_order_relaxed); }
  uint64_t max_offset_ms() const { return max_offset_ms_; }
  const HlcCeilingSchedule& ceiling_schedule() const { return schedule_; }
  // Renewals done in the caller's thread (durable ceiling reached) since Open, the one in Open
  // not included. Stays 0 in steady state when the store renews in the background.
  uint64_t synchronous_renewals() const {
    return synchronous_renewals_.load(std::memory_order_relaxed);
  }

 private:
  HybridClock(PhysicalClock* physical, ClockStore* store, uint64_t max_offset_ms,
              HlcCeilingSchedule schedule, Hlc start);
  Status EnsureCeilingLocked(uint64_t physical_ms);
  Status RenewSynchronouslyLocked(uint64_t physical_ms);

  PhysicalClock* const physical_;
  ClockStore* const store_;
  const uint64_t max_offset_ms_;
  const HlcCeilingSchedule schedule_;
  mutable std::mutex mu_;
  Hlc last_ = 0;  // GUARDED_BY(mu_)
  // Every physical part handed out is < durable_ms_ (a cached lower bound of the store's durable
  // ceiling); requested_ms_ >= durable_ms_ is the largest ceiling asked for.
  uint64_t durable_ms_ = 0;    // GUARDED_BY(mu_)
  uint64_t requested_ms_ = 0;  // GUARDED_BY(mu_)
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> synchronous_renewals_{0};
};

}  // namespace causeway
