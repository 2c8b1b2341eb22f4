#include "tests/tools/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tools/internal/process.h"

extern char** environ;

namespace causeway::tools::testing {
namespace {

std::vector<std::string> MergedEnv(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    // Our own CAUSEWAY_* settings must not leak into the process under test.
    if (name.rfind("CAUSEWAY_", 0) == 0 || extra.count(name)) continue;
    env.push_back(entry);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

pid_t Spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            const std::string& in, const std::string& out, const std::string& err, bool append) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  int flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC);
  posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), flags, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), flags, 0644);
  std::vector<std::string> full = {CAUSEWAY_BIN};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = MergedEnv(env);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, CAUSEWAY_BIN, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("posix_spawn failed");
  return pid;
}

// Waits for `pid` up to `timeout_ms`; SIGKILLs it after that. Returns the exit code, 128+signal,
// or -1 on timeout.
int WaitExit(pid_t pid, uint64_t timeout_ms) {
  uint64_t deadline = MonotonicMs() + timeout_ms;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (MonotonicMs() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

RunResult RunCli(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env, const std::string& stdin_bytes,
                 uint64_t timeout_ms) {
  TempDir io;
  std::string in = io.path() + "/in", out = io.path() + "/out", err = io.path() + "/err";
  WriteFile(in, stdin_bytes);
  pid_t pid = Spawn(args, env, in, out, err, /*append=*/false);
  RunResult result;
  result.exit_code = WaitExit(pid, timeout_ms);
  result.out = ReadFile(out);
  result.err = ReadFile(err);
  return result;
}

RunResult RunCliOnTerminal(const std::vector<std::string>& args, uint64_t timeout_ms) {
  RunResult result;
  int master = -1, slave = -1;
  if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) {
    result.err = "openpty failed";
    return result;
  }
  termios raw{};
  ::tcgetattr(slave, &raw);
  ::cfmakeraw(&raw);
  ::tcsetattr(slave, TCSANOW, &raw);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, slave, STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclose(&actions, master);
  std::vector<std::string> full = {CAUSEWAY_BIN};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = MergedEnv({});
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, CAUSEWAY_BIN, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(slave);
  if (rc != 0) {
    ::close(master);
    result.err = "posix_spawn failed";
    return result;
  }
  // Read while it runs (a full terminal buffer would block it), until it exits and the terminal
  // has nothing more, or the deadline: then it is killed.
  const uint64_t deadline = MonotonicMs() + timeout_ms;
  char buf[4096];
  bool exited = false;
  while (true) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      ssize_t n = ::read(master, buf, sizeof(buf));
      if (n > 0) {
        result.out.append(buf, static_cast<size_t>(n));
        continue;
      }
    }
    if (exited) break;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    } else if (MonotonicMs() >= deadline) {
      result.exit_code = WaitExit(pid, 0);  // kills it
      break;
    }
  }
  ::close(master);
  return result;
}

ServeProcess::~ServeProcess() {
  if (pid_ > 0) Signal(SIGKILL, 10000);
}

void ServeProcess::Start(const std::vector<std::string>& args, const std::string& log_path,
                         const std::map<std::string, std::string>& env) {
  std::vector<std::string> full = {"serve"};
  full.insert(full.end(), args.begin(), args.end());
  pid_ = Spawn(full, env, "/dev/null", log_path, log_path, /*append=*/true);
}

int ServeProcess::Signal(int sig, uint64_t timeout_ms) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  int code = WaitExit(pid_, timeout_ms);
  pid_ = -1;
  return code;
}

int ServeProcess::AwaitExit(uint64_t timeout_ms) {
  if (pid_ <= 0) return -1;
  int code = WaitExit(pid_, timeout_ms);
  pid_ = -1;
  return code;
}

ServeCluster::ServeCluster(const std::vector<int>& hosts, std::vector<std::string> flags)
    : flags_(std::move(flags)) {
  for (int host : hosts) addresses_.push_back(FreeAddress(host));
}

bool ServeCluster::Start() {
  for (size_t i = 0; i < addresses_.size(); ++i) {
    const std::string name = "n" + std::to_string(i + 1);
    std::vector<std::string> args = {"--node-id",  name,           "--listen", addresses_[i],
                                     "--data-dir", dir_.Sub(name), "--seeds",  addresses_[0]};
    args.insert(args.end(), flags_.begin(), flags_.end());
    nodes_.push_back(std::make_unique<ServeProcess>());
    nodes_.back()->Start(args, dir_.Sub(name + ".log"));
  }
  for (const std::string& address : addresses_) {
    if (!WaitServing(address) || !WaitMembersUp(address, addresses_.size())) return false;
  }
  return true;
}

std::string ServeCluster::endpoints() const {
  std::string out;
  for (const std::string& a : addresses_) out += (out.empty() ? "" : ",") + a;
  return out;
}

std::string ServeCluster::Logs() const {
  std::string out;
  for (size_t i = 0; i < addresses_.size(); ++i) {
    const std::string name = "n" + std::to_string(i + 1);
    out += "---- " + name + "\n" + ReadFile(dir_.Sub(name + ".log"));
  }
  return out;
}

std::string FreeAddress(int host) {
  std::string ip = "127.0.0." + std::to_string(host);
  auto port = FreePort(ip);
  if (!port.ok()) throw std::runtime_error("no free port on " + ip);
  return ip + ":" + std::to_string(*port);
}

bool WaitServing(const std::string& endpoint, uint64_t timeout_ms) {
  return WaitUntil(
      [&] {
        return RunCli({"status", "--endpoints", endpoint, "--timeout-ms", "1000"}).exit_code == 0;
      },
      timeout_ms, 100);
}

bool WaitMembersUp(const std::string& endpoint, size_t count, uint64_t timeout_ms) {
  return WaitUntil(
      [&] {
        RunResult r = RunCli({"status", "--endpoints", endpoint, "--json", "--timeout-ms", "1000"});
        if (r.exit_code != 0) return false;
        nlohmann::json status = nlohmann::json::parse(r.out);
        size_t up = 0;
        for (const auto& n : status["nodes"]) {
          // Up, or up and catching up (a restarted node reads its peers first for a while).
          const bool up_state = n["state"] == "up" || n["state"] == "catching up";
          up += up_state && n.value("tokens", 0) > 0 ? 1 : 0;
        }
        return up >= count;
      },
      timeout_ms, 200);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

}  // namespace causeway::tools::testing
