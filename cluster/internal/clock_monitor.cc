#include "cluster/internal/clock_monitor.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "base/assert.h"
#include "base/limits.h"
#include "base/strings.h"

namespace causeway::cluster::internal {

std::string_view VerdictName(ClockMonitor::Verdict verdict) {
  switch (verdict) {
    case ClockMonitor::Verdict::kUnverified:
      return "unverified";
    case ClockMonitor::Verdict::kTrusted:
      return "trusted";
    case ClockMonitor::Verdict::kFenced:
      return "fenced";
  }
  return "unknown";
}

ClockMonitor::ClockMonitor(uint64_t max_offset_ms, double fence_fraction)
    : threshold_ms_(static_cast<uint64_t>(
          std::llround(static_cast<double>(max_offset_ms) * fence_fraction))) {
  CW_ASSERT(fence_fraction > 0.0 && fence_fraction <= 1.0, "fence fraction must be in (0, 1]");
}

bool ClockMonitor::Observe(TimeMs now, uint64_t wall_ms) {
  const int64_t previous = wall_minus_mono_ms_;
  wall_minus_mono_ms_ = static_cast<int64_t>(wall_ms) - static_cast<int64_t>(now);
  if (!observed_) {  // the first reading is the baseline
    observed_ = true;
    evaluated_at_ms_ = wall_minus_mono_ms_;
    return true;
  }
  auto beyond = [](int64_t moved) {
    return static_cast<uint64_t>(std::llabs(moved)) > kClockJumpToleranceMs;
  };
  if (beyond(wall_minus_mono_ms_ - previous)) {
    ++jumps_;  // counted once per step
    stepped_since_sample_ = true;
  }
  return beyond(wall_minus_mono_ms_ - evaluated_at_ms_);
}

void ClockMonitor::OnSample(NodeId peer, uint64_t peer_wall_ms, TimeMs sent_ms, TimeMs now,
                            uint64_t wall_ms) {
  if (peer == 0 || peer_wall_ms == 0 || sent_ms == 0 || sent_ms > now) return;
  const uint64_t rtt = now - sent_ms;
  Sample s;
  s.uncertainty_ms = rtt / 2;
  s.offset_ms = static_cast<int64_t>(peer_wall_ms + rtt / 2) - static_cast<int64_t>(wall_ms);
  s.at = now;
  s.wall_minus_mono_ms = static_cast<int64_t>(wall_ms) - static_cast<int64_t>(now);
  samples_[peer] = s;
  ever_sampled_ = true;
  stepped_since_sample_ = false;
}

void ClockMonitor::Evaluate(const std::vector<NodeId>& live, bool awaiting_peers, TimeMs now) {
  for (auto it = samples_.begin(); it != samples_.end();) {
    it = now >= it->second.at + kClockSampleKeepMs ? samples_.erase(it) : std::next(it);
  }
  // The live peers' fresh samples; with no live peer, every sample kept (partitioned or alone
  // after a cluster: the last measurements, corrected for our own steps, still say where our
  // clock stands).
  std::vector<const Sample*> judged;
  for (NodeId peer : live) {
    auto it = samples_.find(peer);
    if (it != samples_.end() && now < it->second.at + kClockSampleTtlMs) {
      judged.push_back(&it->second);
    }
  }
  if (live.empty()) {
    for (const auto& [peer, sample] : samples_) judged.push_back(&sample);
  }
  std::vector<int64_t> offsets;
  uint64_t far = 0;
  for (const Sample* s : judged) {
    // Our wall clock moved by (now - then) against monotonic time since the sample: the peer is
    // that much further from us (peers' own steps show in their next sample).
    const int64_t offset = s->offset_ms - (wall_minus_mono_ms_ - s->wall_minus_mono_ms);
    offsets.push_back(offset);
    const uint64_t distance = static_cast<uint64_t>(std::llabs(offset));
    if (distance > s->uncertainty_ms && distance - s->uncertainty_ms > threshold_ms_) ++far;
  }
  evaluated_at_ms_ = wall_minus_mono_ms_;
  live_ = live.size();
  sampled_ = offsets.size();
  far_ = far;
  median_offset_ms_ = 0;
  if (!offsets.empty()) {
    const auto middle = offsets.begin() + static_cast<std::ptrdiff_t>(offsets.size() / 2);
    std::nth_element(offsets.begin(), middle, offsets.end());
    median_offset_ms_ = offsets[offsets.size() / 2];
  }
  // Counting ourselves among the live nodes: trusted when we and the peers that agree with us
  // are a majority of them; fenced when the peers far from us are at least half of them (we
  // cannot be in a majority); unverified in between (not enough samples yet).
  const uint64_t near = sampled_ - far_;
  const uint64_t nodes = live_ + 1;
  Verdict next;
  if (live.empty() && offsets.empty()) {
    next = awaiting_peers || ever_sampled_ ? Verdict::kUnverified : Verdict::kTrusted;
  } else if (live.empty()) {  // judging the kept samples alone
    next = far_ * 2 > sampled_   ? Verdict::kFenced
           : near * 2 > sampled_ ? Verdict::kTrusted
                                 : Verdict::kUnverified;
  } else if ((near + 1) * 2 > nodes) {
    next = Verdict::kTrusted;
  } else if (far_ * 2 >= nodes) {
    next = Verdict::kFenced;
  } else {
    next = Verdict::kUnverified;
  }
  if (next == Verdict::kFenced && verdict_ != Verdict::kFenced) ++fences_;
  verdict_ = next;
}

Status ClockMonitor::Gate() const {
  if (verdict_ == Verdict::kTrusted) return Status::Ok();
  return Status::Unavailable(Describe() + "; nothing was written: retry on another node");
}

std::vector<NodeId> ClockMonitor::WantSamples(const std::vector<NodeId>& live, TimeMs now,
                                              size_t max) const {
  std::vector<std::pair<TimeMs, NodeId>> due;  // (sampled at, peer); never sampled first
  for (NodeId peer : live) {
    auto it = samples_.find(peer);
    if (it == samples_.end()) {
      due.emplace_back(0, peer);
    } else if (now >= it->second.at + kClockSampleRefreshMs) {
      due.emplace_back(it->second.at, peer);
    }
  }
  std::sort(due.begin(), due.end());
  std::vector<NodeId> out;
  for (size_t i = 0; i < due.size() && i < max; ++i) out.push_back(due[i].second);
  return out;
}

NodeCore::ClockStatus ClockMonitor::Report() const {
  NodeCore::ClockStatus s;
  s.state = std::string(VerdictName(verdict_));
  s.median_offset_ms = median_offset_ms_;
  s.sampled_peers = sampled_;
  s.far_peers = far_;
  s.threshold_ms = threshold_ms_;
  s.fences = fences_;
  s.jumps = jumps_;
  s.description = Describe();
  return s;
}

std::string ClockMonitor::Describe() const {
  switch (verdict_) {
    case Verdict::kTrusted:
      return StrCat("this node's clock agrees with the cluster (median offset ", median_offset_ms_,
                    " ms)");
    case Verdict::kFenced:
      // The peers' median offset is theirs relative to us: our clock is off by its negation.
      return StrCat("this node's clock is ", -median_offset_ms_, " ms off the cluster (", far_,
                    " of ", sampled_, " sampled peers farther than ", threshold_ms_,
                    " ms); it stamps no writes until its clock agrees again");
    case Verdict::kUnverified:
      return StrCat("this node has not yet compared its clock with the cluster (", sampled_, " of ",
                    live_, " live peers sampled)");
  }
  return "unknown clock state";
}

}  // namespace causeway::cluster::internal
