// Process and socket helpers for `causeway local` and `causeway bench`: start a detached child,
// tell whether a pid is (still) ours and alive, find free ports, wait with a bound.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"

namespace causeway::tools {

// The path of the running binary (/proc/self/exe), so `local` starts the same `causeway`.
std::string SelfExe();

// Starts `exe args...` in a new session (setsid: it survives our exit and our terminal's
// signals), stdin from /dev/null, stdout and stderr appended to `log_path`.
Result<pid_t> SpawnDetached(const std::string& exe, const std::vector<std::string>& args,
                            const std::string& log_path);

// True if `pid` exists and is not a zombie.
bool ProcessAlive(pid_t pid);
// True if `pid` is alive and its command line contains `needle` (guards against pid reuse:
// we only signal a process that is still the node we started).
bool ProcessIsOurs(pid_t pid, const std::string& needle);

// A TCP port on `host` that nothing listens on right now (bind to port 0, read it back).
Result<int> FreePort(const std::string& host);

// Polls `done` every `poll_ms` until it returns true (-> true) or `timeout_ms` passes (-> false).
bool WaitUntil(const std::function<bool()>& done, uint64_t timeout_ms, uint64_t poll_ms = 50);

uint64_t MonotonicMs();

}  // namespace causeway::tools
