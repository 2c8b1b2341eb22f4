// SessionToken: what a client session has seen, carried by the client as opaque bytes
// (docs/design.md, "Session token"; docs/formats.md, "Session token").
//
// For each key the session touched it holds the newest version (timestamp, writer) it has read or
// written, keyed by a 64-bit fingerprint of the key, plus the largest timestamp it has seen at all.
// At most kSessionKeysMax keys are remembered exactly. Beyond that, the entries with the oldest
// timestamps fold into kSessionSketchBuckets per-bucket floors (bucket = fingerprint % buckets,
// floor = the largest timestamp folded into it). A bucket floor is conservative: it may claim a
// key was seen newer than it really was, which can only make a coordinator ask more replicas.
//
// Decode checks everything: bytes from a client are hostile until proven otherwise. A plain value;
// not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/limits.h"
#include "base/status.h"
#include "base/version.h"

namespace causeway::cluster {

// A version's identity, ordered like LastWriteWins.
struct Dot {
  Hlc timestamp = 0;
  NodeId writer = 0;
  bool operator==(const Dot&) const = default;
  // True if this dot wins over `o` in the LWW order.
  bool Beats(const Dot& o) const {
    return timestamp != o.timestamp ? timestamp > o.timestamp : writer > o.writer;
  }
};

class SessionToken {
 public:
  static constexpr uint8_t kFormatVersion = 1;

  // Empty bytes decode to an empty session, and an empty session encodes to no bytes. Garbage
  // yields kInvalidArgument.
  static Result<SessionToken> Decode(std::string_view bytes);
  std::string Encode() const;

  static uint64_t Fingerprint(std::string_view key);

  // Records that the session saw or wrote version `dot` of `key` (keeps the newest).
  void Observe(std::string_view key, Dot dot);
  void ObserveFingerprint(uint64_t fingerprint, Dot dot);

  // What the session requires of a read of `key`: the exact newest version it saw, or, when the
  // key is not remembered exactly, a timestamp floor from its sketch bucket (0: no floor).
  struct Floor {
    std::optional<Dot> exact;
    Hlc bucket_floor = 0;
  };
  Floor FloorFor(std::string_view key) const;
  Hlc max_timestamp() const { return max_timestamp_; }
  // Nothing observed yet: what an empty token decodes to.
  bool empty() const { return exact_.empty() && max_timestamp_ == 0; }

  // The part of this session that requests for `keys` depend on: each key's exact entry (or, for
  // a key not remembered exactly, its bucket's floor) and max_timestamp(). For every k in `keys`
  // the scoped token's FloorFor(k) and max_timestamp() equal this one's, which is all a
  // coordinator reads, so a client may send the scoped token instead of the whole one (up to
  // ~25 KB) and fold the reply's versions into its own (docs/design.md, "Session token").
  SessionToken ScopedTo(std::span<const std::string_view> keys) const;
  size_t exact_entries() const { return exact_.size(); }
  Hlc bucket(size_t i) const { return buckets_[i]; }

 private:
  // An exact entry in LWW order, oldest first (ties by fingerprint): what EvictOldest folds.
  struct Aged {
    Hlc timestamp = 0;
    NodeId writer = 0;
    uint64_t fingerprint = 0;
    auto operator<=>(const Aged&) const = default;
  };
  void Insert(uint64_t fingerprint, Dot dot);
  void EvictOldest();

  std::map<uint64_t, Dot> exact_;  // fingerprint -> newest dot seen
  std::set<Aged> by_age_;          // the same entries, oldest first
  std::array<Hlc, kSessionSketchBuckets> buckets_{};
  Hlc max_timestamp_ = 0;
};

// A key and the version of it a session observed.
struct KeyDot {
  std::string_view key;
  Dot dot;
};

// `token` (a session token as a client sent it; empty: a new session) having observed every
// entry of `seen`, encoded. kInvalidArgument if `token` does not decode: a broken session is
// refused, never silently replaced by an empty one. Batches (the server) and clients with
// several calls in flight (the client library) merge through this one function.
Result<std::string> ObserveAll(std::string_view token, const std::vector<KeyDot>& seen);

}  // namespace causeway::cluster
