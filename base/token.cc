#include "base/token.h"

#include <xxhash.h>

namespace causeway {

Token TokenOf(std::string_view key) { return XXH64(key.data(), key.size(), 0); }

}  // namespace causeway
