// CW_ASSERT: an always-on check of an invariant on state we own (STYLE.md 8).
//
// Unlike <cassert>'s assert, it stays in release builds (like KJ_ASSERT and TigerBeetle's
// assertions): a broken invariant in the core or the driver means the node's state can no longer
// be trusted, so the process stops with the condition and its place rather than serve wrong
// answers. Never use it on input from outside (clients, peers, the disk): those get a Status.
#pragma once

namespace causeway::internal {
[[noreturn]] void AssertFailed(const char* condition, const char* message, const char* file,
                               int line);
}  // namespace causeway::internal

#define CW_ASSERT(condition, message)                                                \
  do {                                                                               \
    if (!(condition)) [[unlikely]] {                                                 \
      ::causeway::internal::AssertFailed(#condition, (message), __FILE__, __LINE__); \
    }                                                                                \
  } while (false)
