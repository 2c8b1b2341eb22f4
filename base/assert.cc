#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace causeway::internal {

void AssertFailed(const char* condition, const char* message, const char* file, int line) {
  std::fprintf(stderr, "causeway: invariant violated at %s:%d: %s (%s)\n", file, line, message,
               condition);
  std::fflush(stderr);
  std::abort();
}

}  // namespace causeway::internal
