#include "cluster/ceiling.h"

#include <algorithm>

#include "base/limits.h"

namespace causeway::cluster {

CeilingStore::CeilingStore(ClockStore* durable, uint64_t max_offset_ms) : durable_(durable) {
  schedule_.renew_ms = max_offset_ms + kHlcCeilingStoreLatencyMaxMs;
  schedule_.lead_ms = schedule_.renew_ms + kHlcCeilingRenewStepMs;
  schedule_.store_at_open = false;
}

Result<uint64_t> CeilingStore::LoadHlcCeilingMs() {
  if (durable_ == nullptr) return uint64_t{0};
  Result<uint64_t> loaded = durable_->LoadHlcCeilingMs();
  if (loaded.ok()) OnStored(*loaded);
  return loaded;
}

Status CeilingStore::Start(uint64_t store_now_ms) {
  if (store_now_ms > durable_ms_) {
    if (Status s = StoreHlcCeilingMs(store_now_ms); !s.ok()) return s;
  }
  started_ = true;
  return Status::Ok();
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

void CeilingStore::KeepAhead(uint64_t base_ms) {
  if (base_ms + schedule_.renew_ms >= std::max(requested_ms_, durable_ms_)) {
    RequestHlcCeilingMs(base_ms + schedule_.lead_ms);
  }
}

uint64_t CeilingStore::Target(uint64_t base_ms) {
  requested_ms_ = std::max(durable_ms_, std::min(requested_ms_, base_ms + schedule_.lead_ms));
  return requested_ms_ > durable_ms_ ? requested_ms_ : 0;
}

void CeilingStore::OnStored(uint64_t ceiling_ms) {
  durable_ms_ = std::max(durable_ms_, ceiling_ms);
  requested_ms_ = std::max(requested_ms_, durable_ms_);
}

}  // namespace causeway::cluster
