// Key layouts of the engine's column families (docs/formats.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/token.h"
#include "base/version.h"
#include "engine/internal/coding.h"

namespace causeway::internal {

inline constexpr size_t kTokenBytes = 8;
inline constexpr size_t kTargetBytes = 8;  // the target prefix of a hint key

// data: token(8, big-endian) + key, so that RocksDB's byte order is token order.
inline std::string DataKey(std::string_view key) {
  std::string out;
  out.reserve(kTokenBytes + key.size());
  PutFixed64Be(&out, TokenOf(key));
  out.append(key);
  return out;
}

inline std::string TokenPrefix(Token token) {
  std::string out;
  PutFixed64Be(&out, token);
  return out;
}

// hints: target(8, big-endian) + data key: per target in key order, one hint per key.
inline std::string HintKey(NodeId target, std::string_view key) {
  std::string out;
  out.reserve(kTargetBytes + key.size());
  PutFixed64Be(&out, target);
  out.append(key);
  return out;
}

}  // namespace causeway::internal
