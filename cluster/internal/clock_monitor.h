// ClockMonitor: how far this node's wall clock is from its live peers', and the fence that keeps
// a bad clock from stamping writes (docs/design.md, "Clock offsets and the fence").
//
// Samples (CockroachDB's remote clock monitor): a gossip push carries our monotonic send time;
// the peer's reply echoes it and carries the peer's wall clock when it replied. With rtt = now -
// echo, the peer's wall clock now is within rtt of reply_wall, so
//   offset = reply_wall + rtt/2 - our wall now,   uncertainty = rtt/2.
// A positive offset: the peer is ahead of us.
//
// Our own wall clock may step (NTP, an operator, a VM resume) after a sample was taken: each
// sample remembers our wall-minus-monotonic reading when taken, and is corrected by how far that
// moved since (peers' steps show in their next samples). So a step is judged at once, on the
// next input, without waiting for new samples, and so is its repair.
//
// Verdict, over the live peers with a sample younger than kClockSampleTtlMs, a peer being far when
// |offset| - uncertainty > threshold (= fence_fraction x max_offset), and counting ourselves among
// the live nodes:
//  * kTrusted: we and the sampled peers that are not far make a majority of the live nodes;
//  * kFenced: the far peers are at least half of the live nodes (we cannot be in a majority);
//  * kUnverified otherwise: not enough samples yet (start-up, new members). Also while we know no
//    live peer but await some (a seed other than ourselves has not answered yet): we are about to
//    join a cluster whose clocks we have not seen.
// With no live peer, the samples kept (up to kClockSampleKeepMs old, corrected as above) are
// judged instead: a node cut off from its cluster still knows where its clock stood. A node that
// never compared clocks and awaits no peer (a lone node) is trusted: nobody can disagree; one that
// did but has no sample left is unverified until a peer answers.
// Only a trusted node stamps writes or stores a clock ceiling from its wall clock. Two nodes
// whose clocks disagree both fence: neither can tell which one is right (docs/design.md).
//
// Sans-IO (times and wall readings are passed in), deterministic. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/messages.h"
#include "cluster/node.h"

namespace causeway::cluster::internal {

class ClockMonitor {
 public:
  enum class Verdict { kUnverified, kTrusted, kFenced };

  // fence_fraction in (0, 1]: the part of max_offset_ms beyond which a peer counts as far.
  ClockMonitor(uint64_t max_offset_ms, double fence_fraction);

  // Our wall clock against our monotonic clock, on every input. True when it moved by more than
  // kClockJumpToleranceMs since the last Evaluate (a step: evaluate again before stamping).
  bool Observe(TimeMs now, uint64_t wall_ms);
  // A gossip reply from `peer`: its wall clock `peer_wall_ms`, the echo of our push's monotonic
  // send time `sent_ms`. Replies whose echo lies in the future are ignored (a confused peer).
  void OnSample(NodeId peer, uint64_t peer_wall_ms, TimeMs sent_ms, TimeMs now, uint64_t wall_ms);
  // Recomputes the verdict over `live` (the live peers, ourselves excluded); `awaiting_peers`:
  // no peer has answered yet although a seed other than ourselves was given.
  void Evaluate(const std::vector<NodeId>& live, bool awaiting_peers, TimeMs now);

  Verdict verdict() const { return verdict_; }
  bool trusted() const { return verdict_ == Verdict::kTrusted; }
  // Our wall clock stepped (beyond kClockJumpToleranceMs) since the last peer sample: until one
  // arrives, nothing says where it stands now.
  bool stepped_since_sample() const { return stepped_since_sample_; }
  // Ok while trusted; otherwise the kUnavailable a write gets, saying why and that nothing was
  // written.
  Status Gate() const;
  // Up to `max` of `live` whose sample is missing or older than kClockSampleRefreshMs, oldest
  // first: the gossip round probes them as well.
  std::vector<NodeId> WantSamples(const std::vector<NodeId>& live, TimeMs now, size_t max) const;

  // The verdict and its figures, for `status` (NodeCore::clock_status()).
  NodeCore::ClockStatus Report() const;
  // A human description of the verdict, e.g. "this node's clock is 300012 ms off the cluster".
  std::string Describe() const;

 private:
  struct Sample {
    int64_t offset_ms = 0;
    uint64_t uncertainty_ms = 0;
    TimeMs at = 0;
    int64_t wall_minus_mono_ms = 0;  // ours, when taken
  };

  const uint64_t threshold_ms_;
  std::map<NodeId, Sample> samples_;
  int64_t wall_minus_mono_ms_ = 0;  // at the last Observe
  int64_t evaluated_at_ms_ = 0;     // wall_minus_mono_ms_ at the last Evaluate
  bool observed_ = false;
  bool ever_sampled_ = false;
  bool stepped_since_sample_ = false;
  Verdict verdict_ = Verdict::kUnverified;
  int64_t median_offset_ms_ = 0;
  uint64_t sampled_ = 0, far_ = 0, live_ = 0;
  uint64_t fences_ = 0, jumps_ = 0;
};

std::string_view VerdictName(ClockMonitor::Verdict verdict);

}  // namespace causeway::cluster::internal
