#include "cluster/session.h"

#include "base/assert.h"
#include "base/token.h"
#include "cluster/internal/bytes.h"

namespace causeway::cluster {
namespace {

// Layout (docs/design.md, "Session token format"), little-endian:
//   'C' 'S' version:u8 flags:u8 max_ts:u64 count:u32 {fingerprint:u64 ts:u64 writer:u64}*count
//   [buckets: u64 * kSessionSketchBuckets, present when flags bit 0 is set]
// Entries are sorted by fingerprint, strictly ascending.
constexpr char kMagic0 = 'C';
constexpr char kMagic1 = 'S';
constexpr uint8_t kFlagBuckets = 1;

}  // namespace

uint64_t SessionToken::Fingerprint(std::string_view key) { return TokenOf(key); }

std::string SessionToken::Encode() const {
  std::string out;
  if (empty()) return out;  // a new session is no bytes (Decode("") is the empty session)
  bool any_bucket = false;
  for (Hlc b : buckets_) any_bucket |= b != 0;
  out.push_back(kMagic0);
  out.push_back(kMagic1);
  out.push_back(static_cast<char>(kFormatVersion));
  out.push_back(static_cast<char>(any_bucket ? kFlagBuckets : 0));
  internal::PutU64(&out, max_timestamp_);
  internal::PutU32(&out, static_cast<uint32_t>(exact_.size()));
  for (const auto& [fp, dot] : exact_) {
    internal::PutU64(&out, fp);
    internal::PutU64(&out, dot.timestamp);
    internal::PutU64(&out, dot.writer);
  }
  if (any_bucket) {
    for (Hlc b : buckets_) internal::PutU64(&out, b);
  }
  return out;
}

Result<SessionToken> SessionToken::Decode(std::string_view bytes) {
  SessionToken token;
  if (bytes.empty()) return token;
  auto bad = [](const char* why) {
    return Status::InvalidArgument(std::string("bad session token: ") + why);
  };
  if (bytes.size() > kSessionTokenBytesMax) return bad("too long");
  internal::ByteReader in(bytes);
  uint8_t m0 = 0, m1 = 0, version = 0, flags = 0;
  uint32_t count = 0;
  if (!in.GetU8(&m0) || !in.GetU8(&m1) || m0 != kMagic0 || m1 != kMagic1) return bad("magic");
  if (!in.GetU8(&version) || version != kFormatVersion) return bad("unknown format version");
  if (!in.GetU8(&flags) || (flags & ~kFlagBuckets) != 0) return bad("flags");
  if (!in.GetU64(&token.max_timestamp_) || !in.GetU32(&count)) return bad("truncated");
  if (count > kSessionKeysMax) return bad("too many keys");
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t fp = 0;
    Dot dot;
    if (!in.GetU64(&fp) || !in.GetU64(&dot.timestamp) || !in.GetU64(&dot.writer)) {
      return bad("truncated entry");
    }
    if (!token.exact_.empty() && fp <= token.exact_.rbegin()->first) return bad("entry order");
    token.exact_.emplace_hint(token.exact_.end(), fp, dot);
    token.by_age_.insert(Aged{dot.timestamp, dot.writer, fp});
    if (dot.timestamp > token.max_timestamp_) token.max_timestamp_ = dot.timestamp;
  }
  if (flags & kFlagBuckets) {
    for (Hlc& b : token.buckets_) {
      if (!in.GetU64(&b)) return bad("truncated buckets");
      if (b > token.max_timestamp_) token.max_timestamp_ = b;
    }
  }
  if (in.remaining() != 0) return bad("trailing bytes");
  return token;
}

void SessionToken::Observe(std::string_view key, Dot dot) {
  ObserveFingerprint(Fingerprint(key), dot);
}

void SessionToken::ObserveFingerprint(uint64_t fingerprint, Dot dot) {
  if (dot.timestamp > max_timestamp_) max_timestamp_ = dot.timestamp;
  auto it = exact_.find(fingerprint);
  if (it != exact_.end()) {
    if (dot.Beats(it->second)) {
      by_age_.erase(Aged{it->second.timestamp, it->second.writer, fingerprint});
      by_age_.insert(Aged{dot.timestamp, dot.writer, fingerprint});
      it->second = dot;
    }
    return;
  }
  // A key below its bucket floor stays covered by the floor; remembering it exactly is still
  // useful because the exact dot is the stronger (per-key) requirement.
  Insert(fingerprint, dot);
  while (exact_.size() > kSessionKeysMax) EvictOldest();
}

void SessionToken::Insert(uint64_t fingerprint, Dot dot) {
  exact_.emplace(fingerprint, dot);
  by_age_.insert(Aged{dot.timestamp, dot.writer, fingerprint});
}

// Folds the entry with the oldest dot (LWW order; ties: the smallest fingerprint) into its
// bucket. O(log entries), through the age index.
void SessionToken::EvictOldest() {
  CW_ASSERT(!by_age_.empty() && by_age_.size() == exact_.size(), "session age index out of step");
  Aged oldest = *by_age_.begin();
  Hlc& floor = buckets_[oldest.fingerprint % kSessionSketchBuckets];
  if (oldest.timestamp > floor) floor = oldest.timestamp;
  by_age_.erase(by_age_.begin());
  exact_.erase(oldest.fingerprint);
}

SessionToken SessionToken::ScopedTo(std::span<const std::string_view> keys) const {
  SessionToken scoped;
  scoped.max_timestamp_ = max_timestamp_;
  for (std::string_view key : keys) {
    uint64_t fp = Fingerprint(key);
    auto it = exact_.find(fp);
    if (it != exact_.end()) {
      if (scoped.exact_.find(fp) == scoped.exact_.end()) scoped.Insert(fp, it->second);
    } else {
      size_t b = fp % kSessionSketchBuckets;
      scoped.buckets_[b] = buckets_[b];
    }
  }
  return scoped;
}

SessionToken::Floor SessionToken::FloorFor(std::string_view key) const {
  Floor floor;
  uint64_t fp = Fingerprint(key);
  auto it = exact_.find(fp);
  if (it != exact_.end()) {
    floor.exact = it->second;
  } else {
    floor.bucket_floor = buckets_[fp % kSessionSketchBuckets];
  }
  return floor;
}

Result<std::string> ObserveAll(std::string_view token, const std::vector<KeyDot>& seen) {
  Result<SessionToken> decoded = SessionToken::Decode(token);
  if (!decoded.ok()) return decoded.status();
  for (const KeyDot& s : seen) decoded->Observe(s.key, s.dot);
  return decoded->Encode();
}

}  // namespace causeway::cluster
