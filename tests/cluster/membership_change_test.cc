// Membership changes on small clusters wired by the test harness: a join streams its ranges
// before it is read from, a decommission hands its ranges over before it leaves, a replaced node
// rebuilds before it is read from (cluster/node_changes.cc, cluster/internal/streamer.h).
#include <gtest/gtest.h>

#include <algorithm>

#include "base/strings.h"
#include "cluster/internal/streamer.h"
#include "harness.h"

namespace causeway::cluster::testing {
namespace {

constexpr int kKeys = 300;

ClientWrite Put(const std::string& key, const std::string& value, Consistency w) {
  ClientWrite c;
  c.key = key;
  c.value = value;
  c.w = w;
  return c;
}

// Values are "v<k>", padded to `pad` bytes after a '/' (MissingOn and BadReads compare the
// part before it).
std::string ValueOf(int k, size_t pad = 0) {
  std::string v = StrCat("v", k);
  if (pad > 0) v += "/" + std::string(pad, 'p');
  return v;
}
std::string Head(const std::string& v) { return v.substr(0, v.find('/')); }

void Load(Harness& h, int keys, const std::string& prefix = "k", size_t pad = 0) {
  for (int k = 0; k < keys; ++k) {
    auto r = h.Write(static_cast<size_t>(k) % h.size(),
                     Put(StrCat(prefix, k), ValueOf(k, pad), Consistency::All()));
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  }
}

MemberStatus StatusOf(Harness& h, size_t viewer, size_t node) {
  for (const auto& m : h.core(viewer).Members(h.now())) {
    if (m.state.id == h.core(node).id()) return m.state.status;
  }
  return MemberStatus::kLeft;
}

// Every key `node` replicates (by its own preference lists) is in its store with its value.
int MissingOn(Harness& h, size_t node, int keys, const std::string& prefix = "k") {
  int missing = 0;
  for (int k = 0; k < keys; ++k) {
    const std::string key = StrCat(prefix, k);
    auto r = h.Replicas(node, key);
    if (std::find(r.begin(), r.end(), node) == r.end()) continue;
    auto it = h.node(node).store.find(key);
    missing += it == h.node(node).store.end() || Head(it->second.value) != StrCat("v", k) ? 1 : 0;
  }
  return missing;
}

// Fresh-client reads at R=1 through `node` that do not return the key's value.
int BadReads(Harness& h, size_t node, int keys, const std::string& prefix = "k") {
  int bad = 0;
  for (int k = 0; k < keys; ++k) {
    ClientRead r;
    r.key = StrCat(prefix, k);
    r.r = Consistency::Number(1);
    auto got = h.Read(node, r);
    const bool wrong =
        !got.status.ok() || !got.version || Head(got.version->value) != StrCat("v", k);
    if (wrong && bad == 0) {
      std::string where;
      for (size_t i = 0; i < h.size(); ++i) {
        where += StrCat(" n", i, ":[");
        for (size_t x : h.Replicas(i, r.key)) where += StrCat(x, ",");
        where += StrCat("] has=", h.node(i).store.count(r.key));
      }
      ADD_FAILURE() << "first bad read through node " << node << " of " << r.key << ": "
                    << got.status.ToString() << " " << (got.version ? got.version->value : "none")
                    << where;
    }
    bad += wrong ? 1 : 0;
  }
  return bad;
}

bool RunUntil(Harness& h, const std::function<bool()>& done, uint64_t max_ms) {
  for (uint64_t t = 0; t < max_ms; t += 10) {
    if (done()) return true;
    h.Run(10);
  }
  return done();
}

// Goal: a node joining a loaded cluster is kJoining (a pending replica, not read from) until it
// has streamed its ranges; then every key it replicates is in its store, and R=1 reads through
// every node, the joiner included, find every key. Writes made during the join reach it too.
TEST(MembershipChange, JoinerStreamsItsRangesBeforeItIsRead) {
  Harness h(3, /*fixed_tokens=*/true);
  h.Run(2000);
  Load(h, kKeys);
  const size_t j = h.AddNode(/*fixed_tokens=*/false);
  ASSERT_TRUE(RunUntil(
      h, [&] { return StatusOf(h, 0, j) == MemberStatus::kJoining; }, 5000));
  EXPECT_TRUE(h.core(j).stream_status(h.now()).phase.empty() ||
              !h.core(j).stream_status(h.now()).done);
  // Writes while it joins: the joiner gets those of its ranges as a pending replica.
  for (int k = 0; k < 30; ++k) {
    ASSERT_TRUE(
        h.Write(0, Put(StrCat("during", k), StrCat("v", k), Consistency::Number(2))).status.ok());
  }
  ASSERT_TRUE(RunUntil(
      h, [&] { return StatusOf(h, 0, j) == MemberStatus::kUp; }, 20000));
  const auto st = h.core(j).stream_status(h.now());
  EXPECT_EQ(st.phase, "bootstrap");
  EXPECT_TRUE(st.done);
  EXPECT_TRUE(st.status.ok()) << st.status.ToString();
  EXPECT_GT(st.keys, 0u);
  EXPECT_EQ(MissingOn(h, j, kKeys), 0);
  EXPECT_EQ(MissingOn(h, j, 30, "during"), 0);
  EXPECT_GT(h.core(0).counters().pending_writes + h.core(1).counters().pending_writes +
                h.core(2).counters().pending_writes,
            0u);
  for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(BadReads(h, i, kKeys), 0) << "node " << i;
}

// Goal: a joiner that restarts mid-stream resumes from its persisted cursors and still ends with
// every key of its ranges.
TEST(MembershipChange, JoinerRestartedMidStreamResumes) {
  Harness h(3, /*fixed_tokens=*/true);
  h.Run(2000);
  Load(h, kKeys, "k", /*pad=*/64 << 10);  // ~19 MiB: pages over many ticks
  const size_t j = h.AddNode(/*fixed_tokens=*/false);
  ASSERT_TRUE(RunUntil(
      h,
      [&] {
        auto st = h.core(j).stream_status(h.now());
        return st.phase == "bootstrap" && st.keys > 0 && !st.done;
      },
      10000));
  const uint64_t before = h.core(j).stream_status(h.now()).keys;
  h.Restart(j, true);
  EXPECT_EQ(h.core(j).stream_status(h.now()).member_status, MemberStatus::kJoining);
  ASSERT_TRUE(RunUntil(
      h, [&] { return StatusOf(h, 0, j) == MemberStatus::kUp; }, 30000));
  EXPECT_EQ(MissingOn(h, j, kKeys), 0);
  // Resumed from a checkpoint: fewer keys streamed than the whole, unless it had none yet.
  const auto st = h.core(j).stream_status(h.now());
  std::printf("streamed %llu keys before the restart, %llu after\n",
              static_cast<unsigned long long>(before), static_cast<unsigned long long>(st.keys));
}

// Goal: decommission is refused while it would leave fewer than rf nodes; on 4 nodes it hands
// the leaver's ranges to their gainers, then the leaver is kLeft on every view, and R=1 reads
// through every remaining node find every key.
TEST(MembershipChange, DecommissionHandsOverThenLeaves) {
  Harness three(3, /*fixed_tokens=*/true);
  three.Run(2000);
  Status refused = three.core(1).StartDecommission(three.now());
  EXPECT_EQ(refused.code(), ErrorCode::kInvalidArgument) << refused.ToString();
  EXPECT_NE(refused.message().find("replication factor"), std::string::npos);

  Harness h(4, /*fixed_tokens=*/true);
  h.Run(2000);
  Load(h, kKeys);
  ASSERT_TRUE(h.core(1).StartDecommission(h.now()).ok());
  ASSERT_TRUE(RunUntil(
      h, [&] { return StatusOf(h, 0, 1) == MemberStatus::kLeaving; }, 2000));
  ASSERT_TRUE(RunUntil(
      h, [&] { return StatusOf(h, 0, 1) == MemberStatus::kLeft; }, 30000));
  const auto st = h.core(1).stream_status(h.now());
  EXPECT_EQ(st.phase, "decommission");
  EXPECT_TRUE(st.done);
  EXPECT_TRUE(st.status.ok()) << st.status.ToString();
  h.Run(2000);
  for (size_t i : {0u, 2u, 3u}) {
    EXPECT_EQ(StatusOf(h, i, 1), MemberStatus::kLeft) << "view of node " << i;
    EXPECT_EQ(MissingOn(h, i, kKeys), 0) << "node " << i;
    EXPECT_EQ(BadReads(h, i, kKeys), 0) << "node " << i;
  }
}

// Goal: a node whose data was lost comes back under its name with --replace, takes back its
// tokens, is not read from while it rebuilds, and ends with every key of its ranges.
TEST(MembershipChange, ReplacedNodeRebuildsBeforeItIsRead) {
  Harness h(4, /*fixed_tokens=*/true);
  h.Run(2000);
  Load(h, kKeys);
  const std::vector<Token> tokens = h.core(2).tokens();
  h.node(2).crashed = true;
  h.Run(3000);
  h.Replace(2);
  ASSERT_TRUE(RunUntil(
      h, [&] { return !h.core(2).tokens().empty(); }, 10000));
  EXPECT_EQ(h.core(2).tokens(), tokens);
  // While it rebuilds, R=1 reads through it are served by the other replicas.
  EXPECT_EQ(BadReads(h, 2, 50), 0);
  ASSERT_TRUE(RunUntil(
      h,
      [&] {
        auto st = h.core(2).stream_status(h.now());
        return st.phase == "rebuild" && st.done;
      },
      20000));
  EXPECT_EQ(MissingOn(h, 2, kKeys), 0);
  for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(BadReads(h, i, kKeys), 0) << "node " << i;
}

// Goal: the persisted stream state round-trips, cursors with any bytes included, and a damaged
// one is kCorruption.
TEST(MembershipChange, StreamStateEncoding) {
  internal::Streamer s(1 << 20, {[](NodeId) { return std::string("x"); },
                                 [](const Version&) { return Status::Ok(); }});
  internal::StreamTask a;
  a.spans = {{0, 10}, {20, UINT64_MAX}};
  a.sources = {7, 9};
  a.after_key = std::string("k\0\xff ", 4);
  internal::StreamTask b;
  b.spans = {{11, 19}};
  b.done = true;
  s.Start("bootstrap", {a, b}, true, 0);
  std::string phase;
  auto back = internal::Streamer::Decode(s.Encode(), &phase);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(phase, "bootstrap");
  ASSERT_EQ(back->size(), 2u);
  EXPECT_TRUE((*back)[0] == a);
  EXPECT_EQ((*back)[0].after_key, a.after_key);
  EXPECT_TRUE((*back)[1].done);
  EXPECT_TRUE((*back)[1].sources.empty());
  EXPECT_EQ(internal::Streamer::Decode("phase x\ntask 2 - 1-2 -\n", &phase).status().code(),
            ErrorCode::kCorruption);
  EXPECT_EQ(internal::Streamer::Decode("phase x\ntask 0 - 5-2 -\n", &phase).status().code(),
            ErrorCode::kCorruption);
  EXPECT_TRUE(internal::Streamer::Decode("done", &phase)->empty());
  EXPECT_TRUE(internal::SpansCover({{0, 5}, {6, 9}}, {{2, 8}}));
  EXPECT_FALSE(internal::SpansCover({{0, 5}, {7, 9}}, {{2, 8}}));
}

}  // namespace
}  // namespace causeway::cluster::testing
