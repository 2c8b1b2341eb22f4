// A PhysicalClock that tests set by hand (and may move backwards, like a wall clock can).
#pragma once

#include <atomic>
#include <cstdint>

#include "base/hlc.h"

namespace causeway::testing {

class ManualClock final : public PhysicalClock {
 public:
  explicit ManualClock(uint64_t now_ms) : now_ms_(now_ms) {}
  uint64_t NowMs() override { return now_ms_.load(); }
  void Set(uint64_t now_ms) { now_ms_.store(now_ms); }
  void Advance(uint64_t ms) { now_ms_.fetch_add(ms); }

 private:
  std::atomic<uint64_t> now_ms_;
};

}  // namespace causeway::testing
