// The token of a key: the 64-bit hash that places it on the ring. The engine stores keys in
// token order so that repair and streaming can scan one token range without reading the rest.
#pragma once

#include <cstdint>
#include <string_view>

namespace causeway {

using Token = uint64_t;

// xxHash64 (seed 0) of the key bytes. Part of the on-disk format: never change it.
Token TokenOf(std::string_view key);

// The tokens [first, last], both included; never wraps (a range across the top of the ring is two
// spans), so [0, ~0] is the whole ring and a span is never empty.
struct TokenSpan {
  Token first = 0;
  Token last = 0;
  bool Contains(Token t) const { return first <= t && t <= last; }
  bool operator==(const TokenSpan& o) const { return first == o.first && last == o.last; }
};

// Tombstones of keys in `span` older than `watermark` (an Hlc) may be purged (docs/design.md,
// "Tombstone GC").
struct SpanWatermark {
  TokenSpan span;
  uint64_t watermark = 0;
};

}  // namespace causeway
