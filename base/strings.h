// StrCat: one string from parts (text or integers), built by appending.
//
// Prefer it to `"literal" + std::to_string(n)`: GCC 12 at -O3 (the Release build) reports a false
// -Wrestrict inside the insert-at-front overload that expression uses, and warnings are errors in
// this tree. Appending never takes that path.
#pragma once

#include <concepts>
#include <string>
#include <string_view>

namespace causeway {

namespace internal {
inline void AppendPart(std::string* out, std::string_view text) { out->append(text); }
inline void AppendPart(std::string* out, char c) { out->push_back(c); }
template <std::integral T>
requires(!std::same_as<T, char> && !std::same_as<T, bool>) void AppendPart(std::string* out, T n) {
  out->append(std::to_string(n));
}
}  // namespace internal

template <typename... Parts>
std::string StrCat(const Parts&... parts) {
  std::string out;
  (internal::AppendPart(&out, parts), ...);
  return out;
}

}  // namespace causeway
