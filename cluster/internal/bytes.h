// Little-endian fixed-width integers for the cluster's own byte formats (the session token).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace causeway::cluster::internal {

inline void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
inline void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

// Reads from the front of a view; every Get fails (false) rather than reading past the end.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  bool GetU8(uint8_t* v) {
    if (in_.empty()) return false;
    *v = static_cast<uint8_t>(in_.front());
    in_.remove_prefix(1);
    return true;
  }
  bool GetU32(uint32_t* v) { return GetFixed(v, 4); }
  bool GetU64(uint64_t* v) { return GetFixed(v, 8); }
  bool GetBytes(size_t n, std::string_view* v) {
    if (in_.size() < n) return false;
    *v = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  size_t remaining() const { return in_.size(); }

 private:
  template <typename T>
  bool GetFixed(T* v, int bytes) {
    if (in_.size() < static_cast<size_t>(bytes)) return false;
    T r = 0;
    for (int i = bytes - 1; i >= 0; --i) r = (r << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(bytes);
    *v = r;
    return true;
  }
  std::string_view in_;
};

// SplitMix64: the core's only source of randomness, seeded so that runs replay (STYLE.md 2).
class Prng {
 public:
  explicit Prng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t state_;
};

}  // namespace causeway::cluster::internal
