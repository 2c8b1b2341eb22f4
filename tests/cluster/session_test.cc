#include "cluster/session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <string_view>
#include <vector>

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

// Goal: eviction through the age index folds exactly the entry the LWW order calls oldest (ties
// on the dot: the smallest fingerprint), as a brute-force model of the token does, including
// when entries are overwritten by newer dots and when dots tie.
TEST(SessionToken, EvictionMatchesABruteForceModel) {
  SessionToken t;
  std::map<uint64_t, Dot> model;
  std::array<Hlc, kSessionSketchBuckets> buckets{};
  internal::Prng rng(11);
  for (int i = 0; i < 6000; ++i) {
    std::string key = StrCat("k", rng.Below(3000));
    Dot dot{1 + rng.Below(2000), 1 + rng.Below(3)};
    t.Observe(key, dot);
    uint64_t fp = SessionToken::Fingerprint(key);
    auto it = model.find(fp);
    if (it != model.end()) {
      if (dot.Beats(it->second)) it->second = dot;
      continue;
    }
    model.emplace(fp, dot);
    while (model.size() > kSessionKeysMax) {
      auto oldest = model.begin();
      for (auto m = model.begin(); m != model.end(); ++m) {
        if (oldest->second.Beats(m->second)) oldest = m;
      }
      Hlc& floor = buckets[oldest->first % kSessionSketchBuckets];
      floor = std::max(floor, oldest->second.timestamp);
      model.erase(oldest);
    }
  }
  ASSERT_EQ(t.exact_entries(), model.size());
  for (size_t b = 0; b < kSessionSketchBuckets; ++b) EXPECT_EQ(t.bucket(b), buckets[b]) << b;
  for (int k = 0; k < 3000; ++k) {
    std::string key = StrCat("k", k);
    auto it = model.find(SessionToken::Fingerprint(key));
    SessionToken::Floor f = t.FloorFor(key);
    ASSERT_EQ(f.exact.has_value(), it != model.end()) << key;
    if (f.exact) {
      EXPECT_EQ(*f.exact, it->second) << key;
    }
  }
}

// Goal: a token scoped to some keys answers FloorFor and max_timestamp exactly as the whole token
// does for those keys (exactly remembered or only in a bucket), is small, survives encode and
// decode, and, with the reply's version observed into the whole token, leaves the same floors
// as observing into the scope would.
TEST(SessionToken, ScopedToAgreesWithTheWholeToken) {
  SessionToken whole;
  for (int i = 0; i < 3000; ++i) whole.Observe(StrCat("k", i), Dot{Hlc(10 + i), 1 + Hlc(i % 3)});
  ASSERT_EQ(whole.exact_entries(), kSessionKeysMax);
  std::vector<std::string> names = {"k0", "k5", "k2999", "k2000", "never", "k5"};
  std::vector<std::string_view> keys(names.begin(), names.end());
  Result<SessionToken> scoped = SessionToken::Decode(whole.ScopedTo(keys).Encode());
  ASSERT_TRUE(scoped.ok()) << scoped.status().ToString();
  EXPECT_EQ(scoped->max_timestamp(), whole.max_timestamp());
  EXPECT_LE(scoped->exact_entries(), 2u);  // k2999 and k2000 are exact; k0, k5 are bucketed
  for (std::string_view k : keys) {
    SessionToken::Floor a = whole.FloorFor(k), b = scoped->FloorFor(k);
    EXPECT_EQ(a.exact, b.exact) << k;
    EXPECT_EQ(a.bucket_floor, b.bucket_floor) << k;
  }
  std::string_view one[] = {"k2999"};
  EXPECT_LT(whole.ScopedTo(one).Encode().size(), 64u);  // no bucket needed: exact
  EXPECT_GT(whole.Encode().size(), 20000u);             // what a call used to carry
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
