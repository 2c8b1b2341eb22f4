// The token of a key: the 64-bit hash that places it on the ring. The engine stores keys in
// token order so that repair and streaming can scan one token range without reading the rest.
#pragma once

#include <cstdint>
#include <string_view>

namespace causeway {

using Token = uint64_t;

// xxHash64 (seed 0) of the key bytes. Part of the on-disk format: never change it.
Token TokenOf(std::string_view key);

}  // namespace causeway
