// Test harness for the `causeway` CLI: runs the real binary (CAUSEWAY_BIN) with posix_spawn,
// captures its output, bounds every wait in time, and cleans up processes and folders.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace causeway::tools::testing {

struct RunResult {
  int exit_code = -1;  // -1: killed after the timeout or by a signal
  std::string out;
  std::string err;
};

// Runs `causeway args...` to completion (killed after `timeout_ms`), with `env` added to ours
// and `stdin_bytes` on its stdin.
RunResult RunCli(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env = {},
                 const std::string& stdin_bytes = "", uint64_t timeout_ms = 60000);

// A `causeway serve` child process. The destructor kills it (SIGKILL) if still running.
class ServeProcess {
 public:
  ServeProcess() = default;
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;
  ~ServeProcess();

  // Starts `causeway serve args...`, output appended to `log_path`.
  void Start(const std::vector<std::string>& args, const std::string& log_path,
             const std::map<std::string, std::string>& env = {});
  // Sends `sig` and waits (bounded) for the exit; returns the exit code, or 128+signal when
  // killed by a signal, or -1 if it did not exit within `timeout_ms` (then it is SIGKILLed).
  int Signal(int sig, uint64_t timeout_ms = 20000);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// A fresh folder under $TMPDIR, removed with everything in it by the destructor.
using TempDir = ::causeway::testing::TempDir;

// "127.0.0.<host>:<free port>".
std::string FreeAddress(int host);
// True once a node at `endpoint` answers `causeway status` (bounded by `timeout_ms`).
bool WaitServing(const std::string& endpoint, uint64_t timeout_ms = 20000);
// True once the node at `endpoint` reports at least `count` members up (bounded by `timeout_ms`).
bool WaitMembersUp(const std::string& endpoint, size_t count, uint64_t timeout_ms = 20000);
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& bytes);

}  // namespace causeway::tools::testing
