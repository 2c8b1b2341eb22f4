// Test harness for the `causeway` CLI: runs the real binary (CAUSEWAY_BIN) with posix_spawn,
// captures its output, bounds every wait in time, and cleans up processes and folders.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
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

// Runs `causeway args...` with stdout on a pseudo-terminal (raw mode, so bytes are not
// translated) and stderr to /dev/null, killed after `timeout_ms`; `out` is what it printed there.
RunResult RunCliOnTerminal(const std::vector<std::string>& args, uint64_t timeout_ms = 60000);

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
  // Waits (bounded) for it to exit by itself (a decommissioned node stops once it has left):
  // the exit code, 128+signal, or -1 if it was still running after `timeout_ms` (then it is
  // SIGKILLed).
  int AwaitExit(uint64_t timeout_ms);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// A fresh folder under $TMPDIR, removed with everything in it by the destructor.
using TempDir = ::causeway::testing::TempDir;

// Nodes n1..nN, node i on 127.0.0.<hosts[i]>, seeded by n1, each with its folder and log under
// one TempDir; killed (SIGKILL) and removed by the destructor.
class ServeCluster {
 public:
  // `flags` go to every node after its own (--node-id, --listen, --data-dir, --seeds).
  ServeCluster(const std::vector<int>& hosts, std::vector<std::string> flags);
  // Starts every node and waits (bounded) until each serves and sees all of them up; false on
  // timeout (Logs() says why).
  [[nodiscard]] bool Start();
  ServeProcess& node(size_t i) { return *nodes_[i]; }
  const std::string& address(size_t i) const { return addresses_[i]; }
  std::string endpoints() const;  // every address, comma-separated
  std::string Logs() const;       // every node's log, each under its name
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;  // destroyed last, after the nodes
  std::vector<std::string> flags_;
  std::vector<std::string> addresses_;
  std::vector<std::unique_ptr<ServeProcess>> nodes_;
};

// "127.0.0.<host>:<free port>".
std::string FreeAddress(int host);
// True once a node at `endpoint` answers `causeway status` (bounded by `timeout_ms`).
bool WaitServing(const std::string& endpoint, uint64_t timeout_ms = 20000);
// True once the node at `endpoint` reports at least `count` members up (bounded by `timeout_ms`).
bool WaitMembersUp(const std::string& endpoint, size_t count, uint64_t timeout_ms = 20000);
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& bytes);

}  // namespace causeway::tools::testing
