#include "cluster/ceiling.h"

#include <algorithm>

#include "base/limits.h"

namespace causeway::cluster {

CeilingStore::CeilingStore(ClockStore* durable, PhysicalClock* physical, uint64_t max_offset_ms)
    : durable_(durable), physical_(physical) {
  schedule_.renew_ms = max_offset_ms + kHlcCeilingStoreLatencyMaxMs;
  schedule_.lead_ms = schedule_.renew_ms + kHlcCeilingRenewStepMs;
}

Result<uint64_t> CeilingStore::LoadHlcCeilingMs() {
  if (durable_ == nullptr) return uint64_t{0};
  return durable_->LoadHlcCeilingMs();
}

Status CeilingStore::StoreHlcCeilingMs(uint64_t ceiling_ms) {
  if (!started_) {
    if (durable_ != nullptr) {
      if (Status s = durable_->StoreHlcCeilingMs(ceiling_ms); !s.ok()) return s;
    }
    OnStored(ceiling_ms);
    return Status::Ok();
  }
  ++late_renewals_;
  RequestHlcCeilingMs(ceiling_ms);
  return Status::Unavailable(
      "the clock's durable ceiling is not renewed yet (is the disk slow?): retry shortly");
}

void CeilingStore::RequestHlcCeilingMs(uint64_t ceiling_ms) {
  requested_ms_ = std::max(requested_ms_, ceiling_ms);
}

void CeilingStore::KeepAhead() {
  const uint64_t now_ms = physical_->NowMs();
  if (now_ms + schedule_.renew_ms >= requested_ms_) {
    RequestHlcCeilingMs(now_ms + schedule_.lead_ms);
  }
}

void CeilingStore::OnStored(uint64_t ceiling_ms) {
  durable_ms_ = std::max(durable_ms_, ceiling_ms);
  requested_ms_ = std::max(requested_ms_, durable_ms_);
}

}  // namespace causeway::cluster
