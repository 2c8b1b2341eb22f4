#include "base/hlc.h"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace causeway {

std::string HlcUtcText(Hlc t) {
  const uint64_t ms = HlcPhysicalMs(t);
  const time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[128];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ+%llu", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>(ms % 1000), static_cast<unsigned long long>(HlcLogical(t)));
  return buf;
}

uint64_t SystemClock::NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

Result<std::unique_ptr<HybridClock>> HybridClock::Open(PhysicalClock* physical, ClockStore* store,
                                                       uint64_t max_offset_ms) {
  uint64_t ceiling_ms = 0;
  if (store != nullptr) {
    Result<uint64_t> loaded = store->LoadHlcCeilingMs();
    if (!loaded.ok()) return loaded.status();
    ceiling_ms = *loaded;
  }
  // Every timestamp handed out before the restart had a physical part below the durable ceiling
  // (EnsureCeilingLocked), and the stored one is at least that, so starting at (ceiling, 0) is
  // above all of them.
  const Hlc start = ceiling_ms == 0 ? 0 : HlcMake(ceiling_ms, 0);
  const HlcCeilingSchedule schedule =
      store != nullptr ? store->CeilingSchedule() : HlcCeilingSchedule{};
  if (schedule.renew_ms == 0 || schedule.renew_ms >= schedule.lead_ms) {
    return Status::InvalidArgument("HLC ceiling schedule needs 0 < renew_ms < lead_ms");
  }
  std::unique_ptr<HybridClock> clock(
      new HybridClock(physical, store, max_offset_ms, schedule, start));
  if (store != nullptr) {
    std::lock_guard<std::mutex> lock(clock->mu_);
    clock->durable_ms_ = ceiling_ms;  // it is stored
    clock->requested_ms_ = ceiling_ms;
    if (!schedule.store_at_open) return clock;
    const uint64_t first_ms = std::max(physical->NowMs(), ceiling_ms);
    if (Status s = clock->RenewSynchronouslyLocked(first_ms); !s.ok()) return s;
  }
  return clock;
}

HybridClock::HybridClock(PhysicalClock* physical, ClockStore* store, uint64_t max_offset_ms,
                         HlcCeilingSchedule schedule, Hlc start)
    : physical_(physical),
      store_(store),
      max_offset_ms_(max_offset_ms),
      schedule_(schedule),
      last_(start) {}

Result<Hlc> HybridClock::Now() {
  const Hlc wall = HlcMake(physical_->NowMs(), 0);
  std::lock_guard<std::mutex> lock(mu_);
  // last_ + 1 carries a full logical counter into the physical part: still strictly larger.
  const Hlc next = wall > last_ ? wall : last_ + 1;
  if (Status s = EnsureCeilingLocked(HlcPhysicalMs(next)); !s.ok()) return s;
  last_ = next;
  return next;
}

Status HybridClock::Update(Hlc remote) {
  const uint64_t local_ms = physical_->NowMs();
  if (HlcPhysicalMs(remote) > local_ms + max_offset_ms_) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return Status::ClockSkew("remote timestamp " + std::to_string(HlcPhysicalMs(remote)) +
                             " ms is more than " + std::to_string(max_offset_ms_) +
                             " ms ahead of local clock " + std::to_string(local_ms) + " ms");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (remote <= last_) return Status::Ok();
  if (Status s = EnsureCeilingLocked(HlcPhysicalMs(remote)); !s.ok()) return s;
  last_ = remote;
  return Status::Ok();
}

Hlc HybridClock::Last() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

uint64_t HybridClock::LeadOverPhysicalMs() {
  const uint64_t physical_ms = physical_->NowMs();
  const uint64_t last_ms = HlcPhysicalMs(Last());
  return last_ms > physical_ms ? last_ms - physical_ms : 0;
}

// Keeps every physical part handed out strictly below the durable ceiling. Asks for a renewal
// (non-blocking) once `physical_ms` comes within renew_ms of the requested ceiling, and
// renews in this thread only when `physical_ms` reached the durable one.
Status HybridClock::EnsureCeilingLocked(uint64_t physical_ms) {
  if (store_ == nullptr) return Status::Ok();
  if (physical_ms + schedule_.renew_ms >= requested_ms_) {
    requested_ms_ = physical_ms + schedule_.lead_ms;
    store_->RequestHlcCeilingMs(requested_ms_);
  }
  if (physical_ms < durable_ms_) return Status::Ok();
  durable_ms_ = std::max(durable_ms_, store_->DurableHlcCeilingMs());
  if (physical_ms < durable_ms_) return Status::Ok();
  synchronous_renewals_.fetch_add(1, std::memory_order_relaxed);
  return RenewSynchronouslyLocked(physical_ms);
}

// Persists (synced, in this thread) a ceiling lead_ms past `physical_ms`, or the one already
// requested if that is higher.
Status HybridClock::RenewSynchronouslyLocked(uint64_t physical_ms) {
  const uint64_t ceiling_ms = std::max(requested_ms_, physical_ms + schedule_.lead_ms);
  if (Status s = store_->StoreHlcCeilingMs(ceiling_ms); !s.ok()) return s;
  durable_ms_ = ceiling_ms;
  requested_ms_ = ceiling_ms;
  return Status::Ok();
}

}  // namespace causeway
