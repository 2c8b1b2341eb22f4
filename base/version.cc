#include "base/version.h"

#include <xxhash.h>

#include <algorithm>

#include "base/limits.h"

namespace causeway {

NodeId NodeIdFromName(std::string_view name) {
  const NodeId id = XXH64(name.data(), name.size(), 0);
  return id == 0 ? 1 : id;
}

uint64_t VersionVector::Get(NodeId node) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), Entry{node, 0});
  return it != entries_.end() && it->first == node ? it->second : 0;
}

void VersionVector::Advance(NodeId node, uint64_t counter) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), Entry{node, 0});
  if (it != entries_.end() && it->first == node) {
    it->second = std::max(it->second, counter);
  } else {
    entries_.insert(it, Entry{node, counter});
  }
}

void VersionVector::MergeFrom(const VersionVector& other) {
  for (const Entry& e : other.entries_) Advance(e.first, e.second);
}

void VersionVector::Truncate(size_t max_entries, NodeId keep) {
  while (entries_.size() > max_entries) {
    auto victim = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == keep) continue;
      if (victim == entries_.end() || it->second < victim->second) victim = it;
    }
    if (victim == entries_.end()) return;  // only `keep` is left
    entries_.erase(victim);
  }
}

Causality CompareCausality(const Version& a, const Version& b) {
  if (a.SameDot(b)) return Causality::kSame;
  const bool a_covers_b = a.vv.Covers(b.writer, b.timestamp);
  const bool b_covers_a = b.vv.Covers(a.writer, a.timestamp);
  if (a_covers_b && !b_covers_a) return Causality::kAfter;
  if (b_covers_a && !a_covers_b) return Causality::kBefore;
  return Causality::kConcurrent;
}

Status ValidateKey(std::string_view key) {
  if (key.empty()) return Status::InvalidArgument("empty key");
  if (key.size() > kKeyBytesMax) {
    return Status::InvalidArgument("key of " + std::to_string(key.size()) + " bytes exceeds " +
                                   std::to_string(kKeyBytesMax));
  }
  return Status::Ok();
}

Status ValidateVersion(const Version& v) {
  if (v.value.size() > kValueBytesMax) {
    return Status::InvalidArgument("value of " + std::to_string(v.value.size()) +
                                   " bytes exceeds " + std::to_string(kValueBytesMax));
  }
  if (v.tombstone && !v.value.empty()) return Status::InvalidArgument("tombstone with a value");
  if (v.vv.size() > kVersionVectorEntriesMax) {
    return Status::InvalidArgument("version vector has more than " +
                                   std::to_string(kVersionVectorEntriesMax) + " entries");
  }
  if (v.writer == 0) return Status::InvalidArgument("version without a writer");
  if (v.timestamp == 0) return Status::InvalidArgument("version without a timestamp");
  for (const auto& [node, counter] : v.vv.entries()) {
    if (node == 0 || counter == 0) return Status::InvalidArgument("version vector entry of 0");
  }
  return Status::Ok();
}

}  // namespace causeway
