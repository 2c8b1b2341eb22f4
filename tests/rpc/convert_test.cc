// Table tests of the admin replies' wire conversions (rpc/internal/convert.h) that carry
// repairs and the hint and anti-entropy counters: no sockets, one capnp message per case.
#include "rpc/internal/convert.h"

#include <capnp/message.h>
#include <gtest/gtest.h>

#include <limits>

#include "schema/causeway.capnp.h"

namespace causeway {
namespace {

using RepairStatus = cluster::NodeCore::RepairStatus;

RepairStatus RoundTrip(const RepairStatus& in) {
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<wire::RepairStatus>();
  rpc::RepairStatusToWire(in, out);
  return rpc::RepairStatusFromWire(out.asReader());
}

// Goal: a node's streaming progress survives the wire (a failed stream keeps its error's code and
// message, every member status its value), and a fraction outside 0..1 is clamped.
TEST(StreamWire, StatusRoundTrips) {
  using StreamStatus = cluster::NodeCore::StreamStatus;
  auto round_trip = [](const StreamStatus& in) {
    capnp::MallocMessageBuilder message;
    auto out = message.initRoot<wire::StreamStatus>();
    rpc::StreamStatusToWire(in, out);
    return rpc::StreamStatusFromWire(out.asReader());
  };
  StreamStatus in;
  in.phase = "decommission";
  in.done = true;
  in.status = Status::Unavailable("a gainer went away");
  in.member_status = cluster::MemberStatus::kLeaving;
  in.keys = 12345;
  in.bytes = 1ull << 33;
  in.fraction = 0.625;
  in.elapsed_ms = 4321;
  StreamStatus back = round_trip(in);
  EXPECT_EQ(back.phase, in.phase);
  EXPECT_TRUE(back.done);
  EXPECT_EQ(back.status.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(back.status.message(), "a gainer went away");
  EXPECT_EQ(back.member_status, cluster::MemberStatus::kLeaving);
  EXPECT_EQ(back.keys, in.keys);
  EXPECT_EQ(back.bytes, in.bytes);
  EXPECT_EQ(back.fraction, in.fraction);
  EXPECT_EQ(back.elapsed_ms, in.elapsed_ms);
  for (auto status : {cluster::MemberStatus::kUp, cluster::MemberStatus::kJoining,
                      cluster::MemberStatus::kLeft}) {
    StreamStatus s;
    s.member_status = status;
    s.fraction = 7;
    StreamStatus b = round_trip(s);
    EXPECT_EQ(b.member_status, status);
    EXPECT_TRUE(b.status.ok());
    EXPECT_EQ(b.fraction, 1.0);
  }
}

// Goal: every field of a repair's progress survives the wire, a failed repair's error keeps its
// code and message, and a running one carries no error.
TEST(RepairWire, StatusRoundTrips) {
  RepairStatus in;
  in.known = true;
  in.done = true;
  in.status = Status::Unavailable("1 of 6 exchanges did not complete");
  in.exchanges_total = 6;
  in.exchanges_done = 5;
  in.exchanges_failed = 1;
  in.fraction = 1.0;
  in.keys_compared = 1000;
  in.keys_differed = 17;
  in.keys_written = 19;
  in.bytes = 20480;
  in.elapsed_ms = 1234;
  RepairStatus back = RoundTrip(in);
  EXPECT_TRUE(back.known);
  EXPECT_TRUE(back.done);
  EXPECT_EQ(back.status.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(back.status.message(), in.status.message());
  EXPECT_EQ(back.exchanges_total, 6u);
  EXPECT_EQ(back.exchanges_done, 5u);
  EXPECT_EQ(back.exchanges_failed, 1u);
  EXPECT_EQ(back.fraction, 1.0);
  EXPECT_EQ(back.keys_compared, 1000u);
  EXPECT_EQ(back.keys_differed, 17u);
  EXPECT_EQ(back.keys_written, 19u);
  EXPECT_EQ(back.bytes, 20480u);
  EXPECT_EQ(back.elapsed_ms, 1234u);

  RepairStatus running;
  running.known = true;
  running.fraction = 0.25;
  back = RoundTrip(running);
  EXPECT_FALSE(back.done);
  EXPECT_TRUE(back.status.ok());
  EXPECT_EQ(back.fraction, 0.25);
  EXPECT_FALSE(RoundTrip(RepairStatus{}).known);  // an id the node does not have
}

// Goal: a fraction outside 0..1 from a confused or hostile node reads as the nearest bound (NaN
// as 0), so a progress bar never runs backwards or past 100%.
TEST(RepairWire, FractionIsClamped) {
  const double cases[][2] = {{-0.5, 0.0},
                             {1.5, 1.0},
                             {std::numeric_limits<double>::infinity(), 1.0},
                             {std::numeric_limits<double>::quiet_NaN(), 0.0}};
  for (const auto& [sent, read] : cases) {
    RepairStatus in;
    in.known = true;
    in.fraction = sent;
    EXPECT_EQ(RoundTrip(in).fraction, read) << sent;
  }
}

// Goal: the hint and anti-entropy counters reach NodeStatusReply field by field, and a node that
// predates them (no such structs) reads as not known.
TEST(RepairWire, CountersReachTheStatusReply) {
  cluster::NodeCore::Counters c;
  c.hinted_writes = 1, c.hints_stored = 2, c.hints_over_budget = 3, c.hints_replayed = 4;
  c.hint_replay_failures = 5, c.hints_dropped = 6;
  c.aae_exchanges = 7, c.aae_exchange_failures = 8, c.aae_keys_differed = 9;
  c.aae_keys_pushed = 10, c.aae_keys_pulled = 11, c.aae_bytes = 12, c.aae_protocol_bytes = 13;
  capnp::MallocMessageBuilder message;
  auto status = message.initRoot<wire::NodeStatus>();
  NodeStatusReply old = rpc::NodeStatusFromWire(status.asReader());
  EXPECT_FALSE(old.hints.known);
  EXPECT_FALSE(old.anti_entropy.known);
  rpc::CountersToWire(c, status);
  NodeStatusReply r = rpc::NodeStatusFromWire(status.asReader());
  ASSERT_TRUE(r.hints.known && r.anti_entropy.known);
  const auto& h = r.hints;
  EXPECT_EQ(std::vector<uint64_t>({h.hinted_writes, h.stored, h.over_budget, h.replayed,
                                   h.replay_failures, h.dropped}),
            std::vector<uint64_t>({1, 2, 3, 4, 5, 6}));
  const auto& a = r.anti_entropy;
  EXPECT_EQ(std::vector<uint64_t>({a.exchanges, a.exchange_failures, a.keys_differed, a.keys_pushed,
                                   a.keys_pulled, a.bytes, a.protocol_bytes}),
            std::vector<uint64_t>({7, 8, 9, 10, 11, 12, 13}));
}

}  // namespace
}  // namespace causeway
