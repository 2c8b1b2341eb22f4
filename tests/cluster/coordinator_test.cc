// Write and read paths through NodeCore: quorums, failures, read repair, session floors,
// explain and deadlines, on in-process clusters wired by the test harness.
#include <gtest/gtest.h>

#include <algorithm>

#include "cluster/session.h"
#include "harness.h"

namespace causeway::cluster::testing {
namespace {

// A converged cluster of n nodes with hashed tokens.
std::unique_ptr<Harness> Cluster(int n, int rf = 3) {
  auto h = std::make_unique<Harness>(n, /*fixed_tokens=*/true, rf);
  h->Run(3000);
  return h;
}

ClientWrite Put(std::string key, std::string value, SessionToken session = {}) {
  ClientWrite w;
  w.key = std::move(key);
  w.value = std::move(value);
  w.session = std::move(session);
  return w;
}

ClientRead Get(std::string key, SessionToken session = {}) {
  ClientRead r;
  r.key = std::move(key);
  r.session = std::move(session);
  return r;
}

// A coordinator that is not a replica of `key`, if there is one.
size_t NonReplica(Harness& h, const std::string& key) {
  auto reps = h.Replicas(0, key);
  for (size_t i = 0; i < h.size(); ++i) {
    if (std::find(reps.begin(), reps.end(), i) == reps.end()) return i;
  }
  return 0;
}

// Goal: a write through one node lands on all rf replicas and is read through any other node.
TEST(Coordinator, WriteThenReadAnywhere) {
  auto h = Cluster(5);
  ClientResult w = h->Write(0, Put("k", "v1"));
  ASSERT_TRUE(w.status.ok()) << w.status.ToString();
  ASSERT_TRUE(w.version.has_value());
  EXPECT_EQ(w.version->writer, h->core(0).id());
  EXPECT_TRUE(w.version->vv.Covers(h->core(0).id(), w.version->timestamp));
  h->Drain();
  for (size_t r : h->Replicas(0, "k")) EXPECT_EQ(h->node(r).store.at("k").value, "v1");
  for (size_t i = 0; i < h->size(); ++i) {
    ClientResult r = h->Read(i, Get("k"));
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    ASSERT_TRUE(r.version.has_value());
    EXPECT_EQ(r.version->value, "v1");
  }
  ClientResult missing = h->Read(1, Get("nope"));
  EXPECT_TRUE(missing.status.ok());
  EXPECT_FALSE(missing.version.has_value());
  EXPECT_EQ(h->core(0).counters().writes, 1u);
}

// Goal: invalid consistency levels and keys are rejected with kInvalidArgument (a session token
// that does not decode is refused where it arrives: rpc/internal/convert.cc, tests/rpc).
TEST(Coordinator, InvalidRequestsRejected) {
  auto h = Cluster(3);
  ClientWrite w = Put("k", "v");
  w.w = Consistency::Number(4);
  EXPECT_EQ(h->Write(0, w).status.code(), ErrorCode::kInvalidArgument);
  ClientRead r = Get("k");
  r.r = Consistency::Number(0);
  EXPECT_EQ(h->Read(0, r).status.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(h->Write(0, Put("", "v")).status.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(h->Write(0, Put("k", std::string(kValueBytesMax + 1, 'x'))).status.code(),
            ErrorCode::kInvalidArgument);
}

// Goal: with one replica crashed, W=2 writes and R=1 reads keep working; with two crashed, W=2
// fails fast with kUnavailable (well before the deadline); W=all fails too.
TEST(Coordinator, QuorumWithFailures) {
  auto h = Cluster(3);
  h->node(2).crashed = true;
  ClientResult w = h->Write(0, Put("k", "v1"));
  ASSERT_TRUE(w.status.ok()) << w.status.ToString();
  ClientResult r = h->Read(1, Get("k"));
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.version->value, "v1");
  ClientWrite all = Put("k", "v2");
  all.w = Consistency::All();
  EXPECT_EQ(h->Write(0, all).status.code(), ErrorCode::kUnavailable);
  h->node(1).crashed = true;
  TimeMs start = h->now();
  EXPECT_EQ(h->Write(0, Put("k", "v3")).status.code(), ErrorCode::kUnavailable);
  EXPECT_LT(h->now() - start, 100u);
}

// Goal: a write that fails short of W says honestly that it may have been applied (it is not
// rolled back), reports no version as written and leaves the session without it; the replicas
// that acknowledged do hold it, so the message is the truth.
TEST(Coordinator, PartialWriteFailureSaysItMayHaveLanded) {
  for (bool crash : {true, false}) {
    SCOPED_TRACE(crash ? "replica crashed" : "replica rejects (clock skew)");
    auto h = Cluster(3);
    if (crash) {
      h->node(2).crashed = true;
    } else {
      h->node(2).physical->now_ms -= 3'600'000;  // node 2 rejects versions from "the future"
    }
    ClientWrite all = Put("k", "v");
    all.w = Consistency::All();
    ClientResult r = h->Write(0, all);
    ASSERT_EQ(r.status.code(), ErrorCode::kUnavailable) << r.status.ToString();
    EXPECT_NE(r.status.message().find("of W=3 replicas acknowledged"), std::string::npos)
        << r.status.ToString();
    EXPECT_NE(r.status.message().find("not rolled back"), std::string::npos) << r.status.ToString();
    EXPECT_NE(r.status.message().find("may"), std::string::npos) << r.status.ToString();
    EXPECT_FALSE(r.version.has_value());
    EXPECT_TRUE(r.session.empty());  // a failed write returns no session: nothing to observe
    h->Drain();
    int holders = 0;
    for (size_t i = 0; i < h->size(); ++i) holders += h->node(i).store.count("k");
    EXPECT_GE(holders, 1);  // applied somewhere although the client was told "unavailable"
  }
}

// Goal: after the failure detector convicts a dead replica, writes skip it and answer at once.
TEST(Coordinator, DeadReplicaRoutedAround) {
  auto h = Cluster(4);
  h->node(3).crashed = true;
  h->Run(15000);  // long enough for phi to convict
  for (int k = 0; k < 20; ++k) {
    ClientResult w = h->Write(0, Put("key" + std::to_string(k), "v"));
    EXPECT_TRUE(w.status.ok()) << w.status.ToString();
  }
}

// Goal: a paused replica (accepts nothing, answers nothing) makes a W=all write time out at its
// deadline with exactly one reply; W=2 still succeeds.
TEST(Coordinator, TimeoutAtDeadlineExactlyOnce) {
  auto h = Cluster(3);
  h->node(2).paused = true;
  ClientWrite all = Put("k", "v");
  all.w = Consistency::All();
  all.timeout_ms = 300;
  TimeMs start = h->now();
  ClientResult r = h->Write(0, all);
  EXPECT_EQ(r.status.code(), ErrorCode::kTimeout);
  EXPECT_GE(h->now() - start, 300u);
  EXPECT_LE(h->now() - start, 400u);
  RequestId id = h->last_request_id();
  h->Run(2000);
  EXPECT_EQ(h->ReplyCount(id), 1);
  EXPECT_EQ(h->core(0).counters().timeouts, 1u);
  EXPECT_EQ(h->core(0).InFlightRequests(), 0u);
  EXPECT_TRUE(h->Write(0, Put("k", "v2")).status.ok());
}

// Goal: a read that sees replicas disagree returns the newest version and repairs the stale ones
// that answered.
TEST(Coordinator, ReadRepairFixesStaleReplicas) {
  auto h = Cluster(3);
  ASSERT_TRUE(h->Write(0, Put("k", "old")).status.ok());
  h->Drain();
  ClientResult nw = h->Write(0, Put("k", "new"));
  ASSERT_TRUE(nw.status.ok());
  h->Drain();
  auto reps = h->Replicas(0, "k");
  Version old_version = h->node(reps[0]).store.at("k");
  old_version.value = "old";
  old_version.timestamp -= 1000;
  h->node(reps[1]).store["k"] = old_version;  // one stale replica
  h->node(reps[2]).store.erase("k");          // one that missed the key entirely
  ClientRead r = Get("k");
  r.r = Consistency::All();
  ClientResult got = h->Read(reps[0], r);
  ASSERT_TRUE(got.status.ok());
  EXPECT_EQ(got.version->value, "new");
  h->Drain();
  EXPECT_EQ(h->core(reps[0]).counters().read_repairs, 2u);
  for (size_t i : reps) EXPECT_EQ(h->node(i).store.at("k").value, "new") << i;
}

// Goal: two concurrent writes to one key through two coordinators, each missing one replica,
// leave the replicas disagreeing; an R=all read sees both versions, counts the concurrent pair
// (concurrent_seen), repairs the loser and answers the LWW winner. Once repaired, another read
// sees one version and the counter stays put.
TEST(Coordinator, ReadsCountConcurrentVersionsTheySee) {
  auto h = Cluster(3);
  h->node(2).crashed = true;  // W=2 still reached: nodes 0 and 1 take v1
  ASSERT_TRUE(h->Write(0, Put("k", "v1")).status.ok());
  h->node(2).crashed = false;
  h->node(1).crashed = true;  // a second client through node 2, with no session: v2 races v1
  ASSERT_TRUE(h->Write(2, Put("k", "v2")).status.ok());
  h->node(1).crashed = false;
  h->Drain();
  ASSERT_NE(h->node(1).store.at("k").value, h->node(2).store.at("k").value);
  ASSERT_EQ(CompareCausality(h->node(1).store.at("k"), h->node(2).store.at("k")),
            Causality::kConcurrent);

  ClientRead all = Get("k");
  all.r = Consistency::All();
  ClientResult r = h->Read(0, all);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  h->Drain();
  const NodeCore::Counters c = h->core(0).counters();
  EXPECT_EQ(c.concurrent_seen, 1u);
  EXPECT_GE(c.read_repairs, 1u);
  for (size_t i = 0; i < h->size(); ++i) EXPECT_TRUE(h->node(i).store.at("k").SameDot(*r.version));

  ASSERT_TRUE(h->Read(0, all).status.ok());
  EXPECT_EQ(h->core(0).counters().concurrent_seen, 1u);
  ClientResult one = h->Read(1, Get("k"));  // R=1: a single answer cannot show a race
  ASSERT_TRUE(one.status.ok());
  EXPECT_EQ(h->core(1).counters().concurrent_seen, 0u);
}

// Goal: concurrent-looking reads never go back: with R=1 through a coordinator whose own replica
// is stale, the session floor escalates to the other replicas and returns the session's write.
TEST(Coordinator, SessionFloorEscalatesPastStaleReplica) {
  auto h = Cluster(3);
  auto reps = h->Replicas(0, "k");
  ClientResult w = h->Write(reps[1], Put("k", "mine"));
  ASSERT_TRUE(w.status.ok());
  h->Drain();
  h->node(reps[0]).store.erase("k");                  // the coordinator's own replica missed it
  ClientResult without = h->Read(reps[0], Get("k"));  // no session: R=1 answers what it has
  EXPECT_FALSE(without.version.has_value());
  h->node(reps[0]).store.erase("k");  // undo the read-repair-free answer (nothing repaired)
  ClientResult with = h->Read(reps[0], Get("k", w.session));
  ASSERT_TRUE(with.status.ok()) << with.status.ToString();
  ASSERT_TRUE(with.version.has_value());
  EXPECT_EQ(with.version->value, "mine");
  EXPECT_EQ(h->core(reps[0]).counters().session_escalations, 1u);
}

// Goal: when no reachable replica holds the session's version, the read retries until the
// deadline and then fails kUnavailable with a message saying why: never a stale answer.
TEST(Coordinator, SessionFloorUnavailableNeverStale) {
  auto h = Cluster(3);
  auto reps = h->Replicas(0, "k");
  ASSERT_TRUE(h->Write(reps[0], Put("k", "v1")).status.ok());
  ClientResult w = h->Write(reps[0], Put("k", "v2"));
  ASSERT_TRUE(w.status.ok());
  h->Drain();
  Version v1 = h->node(reps[0]).store.at("k");
  v1.value = "v1";
  v1.timestamp -= 1;
  for (size_t i : reps) h->node(i).store["k"] = v1;  // every replica lost v2
  ClientRead r = Get("k", w.session);
  r.timeout_ms = 500;
  TimeMs start = h->now();
  ClientResult got = h->Read(reps[0], r);
  EXPECT_EQ(got.status.code(), ErrorCode::kUnavailable);
  EXPECT_NE(got.status.message().find("session has seen a newer version"), std::string::npos);
  EXPECT_FALSE(got.version.has_value());
  EXPECT_GE(h->now() - start, 500u);
  EXPECT_EQ(h->core(reps[0]).counters().session_unavailable, 1u);
  EXPECT_TRUE(got.session.empty());  // a failed read returns no session: the caller keeps its own
  // A replica that gets v2 back during the retries lets the read succeed instead.
  Version v2 = v1;
  v2.value = "v2";
  v2.timestamp += 1;
  ClientRead again = Get("k", w.session);
  again.timeout_ms = 1000;
  RequestId id = 999999;
  h->driver(reps[1]).StartRead(id, again);
  h->Run(200);
  h->node(reps[2]).store["k"] = v2;
  h->Run(500);
  EXPECT_EQ(h->ReplyCount(id), 1);
  const ClientResult* late = h->ReplyFor(id);
  ASSERT_NE(late, nullptr);
  ASSERT_TRUE(late->status.ok()) << late->status.ToString();
  EXPECT_EQ(late->version->value, "v2");
}

// Goal: a key covered only by the session's sketch floor escalates to every replica and returns
// the freshest version available instead of failing.
TEST(Coordinator, SketchFloorReturnsFreshestObtainable) {
  auto h = Cluster(3);
  auto reps = h->Replicas(0, "k");
  ClientResult w = h->Write(reps[0], Put("k", "v"));
  ASSERT_TRUE(w.status.ok());
  h->Drain();
  // Push "k" out of the exact set by touching kSessionKeysMax newer keys.
  SessionToken token = w.session;
  for (size_t i = 0; i < kSessionKeysMax; ++i) {
    token.Observe("other" + std::to_string(i), Dot{w.version->timestamp + 1 + i, 1});
  }
  ASSERT_FALSE(token.FloorFor("k").exact.has_value());
  ASSERT_GE(token.FloorFor("k").bucket_floor, w.version->timestamp);
  h->node(reps[0]).store.erase("k");
  ClientResult got = h->Read(reps[0], Get("k", token));
  ASSERT_TRUE(got.status.ok()) << got.status.ToString();
  ASSERT_TRUE(got.version.has_value());
  EXPECT_EQ(got.version->value, "v");
  EXPECT_EQ(h->core(reps[0]).counters().session_escalations, 1u);
}

// Goal: a write through another coordinator is stamped above everything the session saw
// (monotonic writes / writes-follow-reads), and its version vector carries the session's dot.
TEST(Coordinator, SessionWritesStampedAboveWhatItSaw) {
  auto h = Cluster(3);
  h->node(0).skew_ms = 300;  // node 0's clock runs ahead
  h->Run(10);
  ClientResult a = h->Write(0, Put("k", "a"));
  ASSERT_TRUE(a.status.ok());
  ClientResult b = h->Write(1, Put("k", "b", a.session));
  ASSERT_TRUE(b.status.ok());
  EXPECT_GT(b.version->timestamp, a.version->timestamp);
  EXPECT_TRUE(b.version->vv.Covers(a.version->writer, a.version->timestamp));
  EXPECT_EQ(CompareCausality(*b.version, *a.version), Causality::kAfter);
}

// Goal: a coordinator whose HLC runs more than max_offset ahead of its wall clock (as after a
// restart above the persisted ceiling) refuses writes with kUnavailable and writes nothing,
// Goal: a wall clock that steps back 2 s (beyond the fence threshold) makes its node refuse
// writes (kUnavailable, nothing written) instead of stamping versions that lose to acknowledged
// ones; once the clock is fixed the node writes again within a second, without waiting out the
// step.
TEST(Coordinator, ClockSteppedBackIsFencedUntilFixed) {
  auto h = Cluster(3);
  ASSERT_TRUE(h->Write(0, Put("k", "a")).status.ok());
  h->node(0).skew_ms = -2000;
  h->Run(10);
  ClientResult r = h->Write(0, Put("k", "b"));
  EXPECT_EQ(r.status.code(), ErrorCode::kUnavailable) << r.status.ToString();
  EXPECT_NE(r.status.message().find("nothing was written"), std::string::npos);
  h->Run(1000);  // fresh samples: the node knows it is 2 s off
  r = h->Write(0, Put("k", "b"));
  EXPECT_EQ(r.status.code(), ErrorCode::kUnavailable) << r.status.ToString();
  EXPECT_NE(r.status.message().find("-2000 ms off the cluster"), std::string::npos)
      << r.status.ToString();
  EXPECT_EQ(h->core(0).clock_status().state, "fenced");
  EXPECT_GE(h->core(0).counters().fenced_writes, 2u);
  h->Drain();
  for (size_t replica : h->Replicas(0, "k")) {
    ASSERT_EQ(h->node(replica).store.count("k"), 1u);
    EXPECT_EQ(h->node(replica).store.at("k").value, "a");
  }
  h->node(0).skew_ms = 0;  // NTP fixed it
  h->Run(1000);
  ClientResult c = h->Write(0, Put("k", "c"));
  EXPECT_TRUE(c.status.ok()) << c.status.ToString();
  EXPECT_EQ(h->core(0).clock_status().state, "trusted");
}

// Goal: a session timestamp too far ahead of the coordinator's clock fails the write with
// kClockSkew (counted) rather than dragging the clock forward.
TEST(Coordinator, SkewedSessionRejected) {
  auto h = Cluster(3);
  SessionToken t;
  t.Observe("x", Dot{HlcMake(kEpochMs + 3'600'000, 0), 1});
  ClientResult r = h->Write(0, Put("k", "v", t));
  EXPECT_EQ(r.status.code(), ErrorCode::kClockSkew);
  EXPECT_EQ(h->core(0).counters().clock_skew_rejections, 1u);
}

// Goal: explain reports every replica's version, and a crashed replica's failure.
TEST(Coordinator, ExplainShowsEveryReplica) {
  auto h = Cluster(4);
  ClientResult w = h->Write(0, Put("k", "v"));
  ASSERT_TRUE(w.status.ok());
  h->Drain();
  auto reps = h->Replicas(0, "k");
  h->node(reps[2]).crashed = true;
  size_t coordinator = NonReplica(*h, "k");
  ExplainResult e = h->Explain(coordinator, "k");
  ASSERT_TRUE(e.status.ok());
  EXPECT_EQ(e.token, TokenOf("k"));
  ASSERT_EQ(e.replicas.size(), 3u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(e.replicas[i].node, h->core(reps[i]).id());
    EXPECT_TRUE(e.replicas[i].status.ok());
    ASSERT_TRUE(e.replicas[i].version.has_value());
    EXPECT_TRUE(e.replicas[i].version->SameDot(*w.version));
  }
  EXPECT_EQ(e.replicas[2].status.code(), ErrorCode::kUnavailable);
}

// Goal: a delete writes a tombstone that reads return (the driver maps it to "not found").
TEST(Coordinator, DeleteIsTombstone) {
  auto h = Cluster(3);
  ASSERT_TRUE(h->Write(0, Put("k", "v")).status.ok());
  ClientWrite del = Put("k", "");
  del.tombstone = true;
  ClientResult d = h->Write(1, del);
  ASSERT_TRUE(d.status.ok());
  ClientResult r = h->Read(2, Get("k", d.session));
  ASSERT_TRUE(r.status.ok());
  ASSERT_TRUE(r.version.has_value());
  EXPECT_TRUE(r.version->tombstone);
}

// Goal: a replica rejects a version stamped too far in the future (kClockSkew), counted.
TEST(Coordinator, ReplicaRejectsSkewedVersion) {
  auto h = Cluster(3);
  Version v;
  v.timestamp = HlcMake(kEpochMs + 3'600'000, 0);
  v.writer = h->core(1).id();
  v.vv.Advance(v.writer, v.timestamp);
  Actions out = h->core(0).OnPeerMessage(h->core(1).id(), ReplicateRequest{7, "k", v}, h->now());
  ASSERT_EQ(out.size(), 1u);
  auto* send = std::get_if<SendAction>(&out[0]);
  ASSERT_NE(send, nullptr);
  auto* resp = std::get_if<ReplicateResponse>(&send->message);
  ASSERT_NE(resp, nullptr);
  EXPECT_EQ(resp->status.code(), ErrorCode::kClockSkew);
  EXPECT_EQ(h->core(0).counters().clock_skew_rejections, 1u);
}

// Goal: forged metadata -- a replica refuses a version whose writer is neither the sending member
// nor any member it knows (docs/design.md, "Threat model"), and stores nothing.
TEST(Coordinator, ReplicaRejectsVersionOfANonMemberWriter) {
  auto h = Cluster(3);
  Version v;
  v.timestamp = HlcMake(kEpochMs + 10, 0);  // within the max offset
  v.writer = 42;                            // no node of this cluster
  v.value = "forged";
  v.vv.Advance(42, v.timestamp);
  Actions out = h->core(0).OnPeerMessage(h->core(1).id(), ReplicateRequest{8, "k", v}, h->now());
  ASSERT_EQ(out.size(), 1u);
  auto* send = std::get_if<SendAction>(&out[0]);
  ASSERT_NE(send, nullptr);
  auto* resp = std::get_if<ReplicateResponse>(&send->message);
  ASSERT_NE(resp, nullptr);
  EXPECT_EQ(resp->status.code(), ErrorCode::kInvalidArgument) << resp->status.ToString();
}

}  // namespace
}  // namespace causeway::cluster::testing
