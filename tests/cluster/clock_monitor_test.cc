// Table tests of the clock-offset monitor's verdict (cluster/internal/clock_monitor.h): samples
// are fed by hand, with exact wall and monotonic readings.
#include "cluster/internal/clock_monitor.h"

#include <gtest/gtest.h>

#include "base/limits.h"

namespace causeway::cluster::internal {
namespace {

constexpr uint64_t kWall = 1'700'000'000'000;  // our wall clock at monotonic time 0
constexpr uint64_t kRtt = 2;

using Verdict = ClockMonitor::Verdict;

// A monitor with max offset 500 ms (threshold 400 ms) and samples taken at monotonic `now`, our
// wall clock reading kWall + now + `our_step_ms`.
struct Monitor {
  ClockMonitor m{kMaxClockOffsetMsDefault, kClockFenceFractionDefault};
  int64_t our_step_ms = 0;

  uint64_t Wall(TimeMs now) const {
    return static_cast<uint64_t>(static_cast<int64_t>(kWall + now) + our_step_ms);
  }
  // A reply from `peer`, whose clock is `peer_offset_ms` from the true time (ours is our_step_ms).
  void Sample(NodeId peer, int64_t peer_offset_ms, TimeMs now) {
    m.Observe(now, Wall(now));
    const uint64_t peer_wall =
        static_cast<uint64_t>(static_cast<int64_t>(kWall + now - kRtt / 2) + peer_offset_ms);
    m.OnSample(peer, peer_wall, now - kRtt, now, Wall(now));
  }
  Verdict Judge(const std::vector<NodeId>& live, TimeMs now, bool awaiting = false) {
    m.Observe(now, Wall(now));
    m.Evaluate(live, awaiting, now);
    return m.verdict();
  }
};

// Goal: a lone node (nobody to disagree, no foreign seed) is trusted; one awaiting its seed, or
// with live peers not sampled yet, is not.
TEST(ClockMonitor, LoneTrustedAwaitingAndUnsampledUnverified) {
  Monitor a;
  EXPECT_EQ(a.Judge({}, 10), Verdict::kTrusted);
  Monitor b;
  EXPECT_EQ(b.Judge({}, 10, /*awaiting=*/true), Verdict::kUnverified);
  Monitor c;
  EXPECT_EQ(c.Judge({2, 3}, 10), Verdict::kUnverified);
  EXPECT_FALSE(c.m.Gate().ok());
  EXPECT_NE(c.m.Gate().message().find("nothing was written"), std::string::npos);
}

// Goal: counting ourselves, one agreeing peer of two is a majority (a restarted member of a
// 3-node cluster serves after one answer); a 300 s-off node is fenced once half the cluster
// answered; the good nodes of 5 with two bad ones stay trusted.
TEST(ClockMonitor, MajorityCountsOurselves) {
  Monitor restarted;
  restarted.Sample(2, 50, 100);
  EXPECT_EQ(restarted.Judge({2, 3}, 100), Verdict::kTrusted);

  Monitor bad;  // our clock is 300 s ahead: every peer looks 300 s behind
  bad.our_step_ms = 300000;
  bad.Sample(1, 0, 100);
  EXPECT_EQ(bad.Judge({1, 2, 3, 4}, 100), Verdict::kUnverified);  // 1 far of 5 nodes
  bad.Sample(2, 0, 110);
  bad.Sample(3, 0, 120);
  EXPECT_EQ(bad.Judge({1, 2, 3, 4}, 120), Verdict::kFenced);
  EXPECT_NE(bad.m.Describe().find("300000 ms off the cluster"), std::string::npos)
      << bad.m.Describe();
  EXPECT_EQ(bad.m.Report().fences, 1u);

  Monitor good;  // two of four peers are 300 s off, two agree
  good.Sample(2, 0, 100);
  good.Sample(3, 20, 100);
  good.Sample(4, 300000, 100);
  good.Sample(5, -300000, 100);
  EXPECT_EQ(good.Judge({2, 3, 4, 5}, 100), Verdict::kTrusted);

  Monitor pair;  // two nodes that disagree: both fence
  pair.Sample(2, 2000, 100);
  EXPECT_EQ(pair.Judge({2}, 100), Verdict::kFenced);
}

// Goal: a step of our own wall clock is judged at once against the samples taken before it
// (corrected by the step), and so is its repair, without new samples.
TEST(ClockMonitor, OwnStepJudgedAtOnceAndRepaired) {
  Monitor m;
  m.Sample(2, 0, 100);
  m.Sample(3, 0, 100);
  EXPECT_EQ(m.Judge({2, 3}, 100), Verdict::kTrusted);
  m.our_step_ms = -2000;
  EXPECT_TRUE(m.m.Observe(150, m.Wall(150)));  // a step: evaluate before stamping
  EXPECT_EQ(m.Judge({2, 3}, 150), Verdict::kFenced);
  EXPECT_EQ(m.m.Report().median_offset_ms, 2000);  // the peers now look 2 s ahead
  m.our_step_ms = 0;
  EXPECT_EQ(m.Judge({2, 3}, 200), Verdict::kTrusted);
  EXPECT_EQ(m.m.Report().jumps, 2u);
  EXPECT_FALSE(m.m.Observe(250, m.Wall(250)));  // no step
}

// Goal: offsets within the threshold, or beyond it only by less than the round trip's
// uncertainty, are not far; samples go stale after kClockSampleTtlMs; an echo from the future
// is ignored.
TEST(ClockMonitor, ThresholdUncertaintyStalenessAndHostileEcho) {
  Monitor m;
  m.Sample(2, 399, 100);
  EXPECT_EQ(m.Judge({2}, 100), Verdict::kTrusted);
  Monitor slow;  // a 400 ms round trip: a 500 ms offset is within 400 + 200
  slow.m.Observe(1000, slow.Wall(1000));
  slow.m.OnSample(2, kWall + 1000 - 200 + 500, 600, 1000, slow.Wall(1000));
  EXPECT_EQ(slow.Judge({2}, 1000), Verdict::kTrusted);
  EXPECT_EQ(m.Judge({2}, 100 + kClockSampleTtlMs), Verdict::kUnverified);  // stale
  Monitor hostile;
  hostile.m.Observe(100, hostile.Wall(100));
  hostile.m.OnSample(2, kWall, /*sent_ms=*/500, /*now=*/100, hostile.Wall(100));
  EXPECT_EQ(hostile.Judge({2}, 100), Verdict::kUnverified);
}

// Goal: with no live peer, the kept samples are judged (a node cut off still knows its clock is
// off); once every sample is gone it is unverified, not trusted.
TEST(ClockMonitor, NoLivePeerJudgesKeptSamples) {
  Monitor m;
  m.Sample(2, 0, 100);
  m.Sample(3, 0, 100);
  m.our_step_ms = 60000;
  EXPECT_EQ(m.Judge({}, 200), Verdict::kFenced);
  m.our_step_ms = 0;
  EXPECT_EQ(m.Judge({}, 300), Verdict::kTrusted);
  EXPECT_EQ(m.Judge({}, 100 + kClockSampleKeepMs), Verdict::kUnverified);
}

}  // namespace
}  // namespace causeway::cluster::internal
