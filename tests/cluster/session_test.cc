#include "cluster/session.h"

#include <gtest/gtest.h>

#include "base/limits.h"
#include "base/strings.h"
#include "cluster/internal/bytes.h"
#include "cluster/messages.h"

namespace causeway::cluster {
namespace {

// Goal: ResolveConsistency maps every form to a replica count and rejects counts outside 1..rf.
TEST(Consistency, ResolveTable) {
  struct Case {
    Consistency c;
    int rf, dflt;
    int want;  // 0: kInvalidArgument
  } cases[] = {
      {Consistency{}, 3, 2, 2},          {Consistency::One(), 3, 2, 1},
      {Consistency::Quorum(), 3, 2, 2},  {Consistency::Quorum(), 5, 2, 3},
      {Consistency::Quorum(), 1, 1, 1},  {Consistency::All(), 3, 2, 3},
      {Consistency::Number(3), 3, 2, 3}, {Consistency::Number(4), 3, 2, 0},
      {Consistency::Number(0), 3, 2, 0}, {Consistency::Number(-1), 3, 2, 0},
      {Consistency{}, 3, 4, 0},
  };
  for (const auto& c : cases) {
    Result<int> r = ResolveConsistency(c.c, c.rf, c.dflt);
    if (c.want == 0) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    } else {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(*r, c.want);
    }
  }
}

// Goal: a token survives encode/decode with its entries, buckets and max timestamp.
TEST(SessionToken, RoundTrip) {
  SessionToken t;
  t.Observe("a", Dot{100, 7});
  t.Observe("b", Dot{300, 8});
  t.Observe("a", Dot{50, 9});   // older: ignored
  t.Observe("a", Dot{100, 9});  // same timestamp, larger writer: wins
  Result<SessionToken> d = SessionToken::Decode(t.Encode());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->Encode(), t.Encode());
  EXPECT_EQ(d->max_timestamp(), 300u);
  EXPECT_EQ(d->FloorFor("a").exact, (Dot{100, 9}));
  EXPECT_EQ(d->FloorFor("b").exact, (Dot{300, 8}));
  EXPECT_FALSE(d->FloorFor("c").exact.has_value());
  EXPECT_EQ(d->FloorFor("c").bucket_floor, 0u);
  Result<SessionToken> empty = SessionToken::Decode("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->exact_entries(), 0u);
}

// Goal: the token stays within kSessionKeysMax exact entries and kSessionTokenBytesMax bytes;
// the oldest entries fold into bucket floors that still cover their keys.
TEST(SessionToken, BoundAndEvictionToSketch) {
  SessionToken t;
  const int keys = static_cast<int>(kSessionKeysMax) + 500;
  for (int i = 0; i < keys; ++i) t.Observe("key" + std::to_string(i), Dot{1000 + Hlc(i), 1});
  EXPECT_EQ(t.exact_entries(), kSessionKeysMax);
  std::string bytes = t.Encode();
  EXPECT_LE(bytes.size(), kSessionTokenBytesMax);
  Result<SessionToken> d = SessionToken::Decode(bytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  for (int i = 0; i < keys; ++i) {
    SessionToken::Floor f = d->FloorFor("key" + std::to_string(i));
    if (i < 500) {  // the 500 oldest were evicted; their bucket floor is at least their dot
      EXPECT_FALSE(f.exact.has_value()) << i;
      EXPECT_GE(f.bucket_floor, 1000u + Hlc(i)) << i;
      EXPECT_LT(f.bucket_floor, 1500u) << i;
    } else {
      ASSERT_TRUE(f.exact.has_value()) << i;
      EXPECT_EQ(f.exact->timestamp, 1000u + Hlc(i));
    }
  }
  EXPECT_EQ(d->max_timestamp(), 1000u + Hlc(keys - 1));
}

// Goal: garbage, truncated, oversized and reordered tokens are rejected with kInvalidArgument,
// never a crash.
TEST(SessionToken, GarbageIsInvalidArgument) {
  SessionToken t;
  for (int i = 0; i < 40; ++i) t.Observe(StrCat("k", i), Dot{Hlc(i + 1), 2});
  for (int i = 0; i < 1200; ++i) t.Observe(StrCat("z", i), Dot{Hlc(i + 100), 2});
  const std::string good = t.Encode();
  std::vector<std::string> bad = {"x", "CS", std::string("CS\x02\x00", 4), "garbage bytes here",
                                  std::string(kSessionTokenBytesMax + 1, 'C')};
  for (size_t len = 1; len < good.size(); len += 97) bad.push_back(good.substr(0, len));
  bad.push_back(good + "x");
  std::string flipped = good;
  flipped[3] = '\x7f';  // unknown flags
  bad.push_back(flipped);
  std::string count = good;
  count[12] = '\xff';  // count beyond the bound
  count[13] = '\xff';
  bad.push_back(count);
  std::string order = good;  // swap the first two entries: fingerprints out of order
  std::swap_ranges(order.begin() + 16, order.begin() + 40, order.begin() + 40);
  bad.push_back(order);
  internal::Prng rng(7);
  for (int i = 0; i < 500; ++i) {
    std::string s = good;
    s[rng.Below(s.size())] ^= static_cast<char>(1 + rng.Below(255));
    Result<SessionToken> r = SessionToken::Decode(s);  // may or may not be valid; never crashes
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    }
  }
  for (const auto& b : bad) {
    Result<SessionToken> r = SessionToken::Decode(b);
    ASSERT_FALSE(r.ok()) << "accepted " << b.size() << " bytes";
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace causeway::cluster
