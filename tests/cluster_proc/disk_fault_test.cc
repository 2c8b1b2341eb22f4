// Disk faults as users meet them (issue 8, docs/design.md "Disk faults"): three real
// `causeway serve` processes, rf=3, `--sync always`; one node's disk goes bad:
//   - FullTmpfs: its data dir is on a 96 MiB tmpfs that a ballast file fills (256 KiB left). W=2
//     puts listing it first all succeed, it does not die, refuses writes to its own replica with
//     a clear NoSpace, serves reads, and takes writes again by itself once the ballast is gone.
//     Needs root (mount); skips with a message otherwise.
//   - Strace: strace attached to it fails every write to its RocksDB files (WAL, SST, blob,
//     MANIFEST, LOG) with ENOSPC, then with EIO (and its fdatasyncs). It never crashes (its exit
//     status is checked), answers with clear errors, resumes by itself after ENOSPC, needs a
//     restart after EIO, and not one acknowledged write is lost (all read back at R=all).
//     Skips with a message where strace is missing or cannot attach.
// Every wait is bounded; TearDown kills what it started, detaches strace and unmounts.
//
// Addresses: 127.0.0.180..185 (three a test), ports free at the time.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/limits.h"
#include "base/strings.h"
#include "tests/tools/harness.h"
#include "tools/internal/process.h"

extern char** environ;

namespace causeway::cluster_proc {
namespace {

using tools::MonotonicMs;
using tools::WaitUntil;
using tools::testing::ReadFile;
using tools::testing::RunCli;
using tools::testing::RunResult;
using tools::testing::ServeProcess;
using tools::testing::TempDir;

constexpr int kExitOk = 0;
constexpr int kExitError = 4;  // what a node exits with after a SIGTERM when its disk failed
constexpr size_t kNodes = 3;
constexpr uint64_t kFormMs = 30000;
constexpr uint64_t kCliTimeoutMs = 20000;
constexpr uint64_t kResumeWithinMs = 10000;  // the acceptance check's bound
constexpr uint64_t kTmpfsBytes = 96ull << 20;
constexpr uint64_t kBallastLeavesBytes = 256 << 10;
constexpr size_t kValueBytes = 64 << 10;
constexpr int kPutsPerPhase = 20;
// strace -P names the files whose writes fail: RocksDB's numbered files up to this number.
constexpr int kRocksDbFileNumbersMax = 300;
constexpr uint64_t kStraceAttachMs = 10000;
constexpr size_t kLogTailBytes = 3000;

bool Contains(std::string haystack, std::string needle) {
  auto lower = [](std::string& s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  };
  lower(haystack);
  lower(needle);
  return haystack.find(needle) != std::string::npos;
}

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  size_t begin = 0;
  while (begin <= dirs.size()) {
    size_t end = dirs.find(':', begin);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(begin, end - begin) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    begin = end + 1;
  }
  return "";
}

// strace attached to a running node, failing the node's writes to its RocksDB files. Stop()
// (SIGINT) detaches it and the node runs on untraced.
class StraceFault {
 public:
  StraceFault() = default;
  StraceFault(const StraceFault&) = delete;
  StraceFault& operator=(const StraceFault&) = delete;
  ~StraceFault() { Stop(); }

  // `syscalls`: e.g. "write" or "write,fdatasync"; `error`: "ENOSPC" or "EIO". Returns false
  // (with `why`) if strace did not attach within kStraceAttachMs.
  bool Start(const std::string& strace, pid_t node, const std::string& data_dir,
             const std::string& syscalls, const std::string& error, const std::string& log,
             std::string* why) {
    const std::string dir = std::filesystem::canonical(data_dir).string();
    std::vector<std::string> args = {strace,
                                     "-f",
                                     "-qq",
                                     "-o",
                                     "/dev/null",
                                     "-e",
                                     "trace=" + syscalls,
                                     "-e",
                                     StrCat("inject=", syscalls, ":error=", error, ":when=1+"),
                                     "-p",
                                     std::to_string(node)};
    for (const char* name : {"/LOG", "/LOG.old"}) args.insert(args.end(), {"-P", dir + name});
    for (int i = 1; i <= kRocksDbFileNumbersMax; ++i) {
      char number[16];
      std::snprintf(number, sizeof(number), "%06d", i);
      for (const char* suffix : {".log", ".sst", ".blob"}) {
        args.insert(args.end(), {"-P", StrCat(dir, "/", number, suffix)});
      }
      args.insert(args.end(), {"-P", StrCat(dir, "/MANIFEST-", number)});
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, strace.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      *why = "posix_spawn strace failed";
      return false;
    }
    // strace is attached once the node's threads show it as their tracer.
    const bool attached =
        WaitUntil([&] { return TracerOf(node) == pid_ || Exited(); }, kStraceAttachMs, 20);
    if (attached && TracerOf(node) == pid_) return true;
    *why = "strace did not attach: " + ReadFile(log);
    Stop();
    return false;
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGINT);
    int status = 0;
    if (!WaitUntil([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 10000, 10)) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }

 private:
  static pid_t TracerOf(pid_t pid) {
    const std::string status = ReadFile(StrCat("/proc/", pid, "/status"));
    const size_t at = status.find("TracerPid:");
    return at == std::string::npos ? -1 : std::atoi(status.c_str() + at + 10);
  }
  bool Exited() {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
    pid_ = -1;
    return true;
  }

  pid_t pid_ = -1;
};

struct Node {
  std::string name, address, data_dir, log;
  std::vector<std::string> flags;
  ServeProcess process;
};

class DiskFault : public ::testing::Test {
 protected:
  // a, b, c on 127.0.0.<first_host + i>, rf=3, sync always; c's data dir is `c_data_dir`.
  void StartCluster(int first_host, const std::string& c_data_dir) {
    std::string seed;
    for (size_t i = 0; i < kNodes; ++i) {
      auto n = std::make_unique<Node>();
      n->name = std::string(1, static_cast<char>('a' + i));
      n->address = tools::testing::FreeAddress(first_host + static_cast<int>(i));
      if (seed.empty()) seed = n->address;
      n->data_dir = i + 1 == kNodes ? c_data_dir : dir_.Sub(n->name);
      n->log = dir_.Sub(n->name + ".log");
      n->flags = {"--node-id", n->name, "--listen", n->address, "--data-dir", n->data_dir,
                  "--seeds",   seed,    "--rf",     "3",        "--sync",     "always"};
      nodes_.push_back(std::move(n));
    }
    for (auto& n : nodes_) n->process.Start(n->flags, n->log);
    for (auto& n : nodes_) {
      ASSERT_TRUE(tools::testing::WaitServing(n->address, kFormMs)) << n->name;
      ASSERT_TRUE(tools::testing::WaitMembersUp(n->address, kNodes, kFormMs)) << n->name;
    }
  }

  void TearDown() override {
    strace_.Stop();
    for (auto& n : nodes_) {
      if (n->process.running()) n->process.Signal(SIGKILL, 10000);
    }
    if (!mount_point_.empty()) {
      if (::umount(mount_point_.c_str()) != 0) ::umount2(mount_point_.c_str(), MNT_DETACH);
    }
    if (!HasFailure()) return;
    for (auto& n : nodes_) {
      const std::string log = ReadFile(n->log);
      std::cerr << "---- tail of " << n->name << " log ----\n"
                << log.substr(log.size() > kLogTailBytes ? log.size() - kLogTailBytes : 0);
    }
  }

  Node& A() { return *nodes_[0]; }
  Node& B() { return *nodes_[1]; }
  Node& C() { return *nodes_[2]; }
  std::string CFirst() { return StrCat(C().address, ",", A().address, ",", B().address); }

  static RunResult Cli(std::vector<std::string> args, const std::string& endpoints) {
    args.insert(args.end(), {"--endpoints", endpoints});
    return RunCli(args, {}, "", kCliTimeoutMs);
  }

  // W=2 puts of `count` keys "<prefix><i>" (value: the key, repeated to kValueBytes with a
  // value file when `large`), endpoints listing C first. Returns the keys acknowledged.
  std::vector<std::string> PutThroughCFirst(const std::string& prefix, int count, bool large) {
    std::vector<std::string> acked;
    for (int i = 0; i < count; ++i) {
      const std::string key = StrCat(prefix, i);
      RunResult r;
      if (large) {
        const std::string file = dir_.Sub("value");
        tools::testing::WriteFile(file, ValueOf(key, true));
        r = Cli({"put", key, "--value-file", file, "--w", "2"}, CFirst());
      } else {
        r = Cli({"put", key, ValueOf(key, false), "--w", "2"}, CFirst());
      }
      if (r.exit_code == kExitOk) {
        acked.push_back(key);
      } else {
        std::cerr << "put " << key << " not acknowledged: exit " << r.exit_code << " " << r.err;
      }
    }
    return acked;
  }

  static std::string ValueOf(const std::string& key, bool large) {
    std::string value = "value of " + key;
    if (!large) return value;
    std::string out;
    while (out.size() < kValueBytes) out += value;
    out.resize(kValueBytes);
    return out;
  }

  // Every acknowledged key reads back at R=all with its value.
  void ExpectAllReadBack(const std::vector<std::string>& keys, bool large) {
    const std::string all = StrCat(A().address, ",", B().address, ",", C().address);
    int lost = 0;
    for (const std::string& key : keys) {
      RunResult r = Cli({"get", key, "--r", "all"}, all);
      if (r.exit_code != kExitOk || r.out != ValueOf(key, large)) {
        ++lost;
        ADD_FAILURE() << key << ": exit " << r.exit_code << " " << r.err;
      }
    }
    EXPECT_EQ(lost, 0) << "acknowledged writes lost";
  }

  // The node answers status, and its process has not exited.
  static bool Alive(Node& n) {
    if (!tools::ProcessAlive(n.process.pid())) return false;
    return RunCli({"status", "--timeout-ms", "1000", "--endpoints", n.address}).exit_code == 0;
  }

  TempDir dir_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::string mount_point_;  // unmounted by TearDown
  StraceFault strace_;
};

// Goal: one node's data dir on a full 96 MiB tmpfs: W=2 puts through it (listed first) all
// succeed, it stays up, refuses writes to its own replica with a NoSpace naming the reserve,
// serves reads, takes writes again within 10 s of the ballast being removed, exits 0 on SIGTERM;
// every acknowledged write reads back at R=all.
TEST_F(DiskFault, FullTmpfsRefusesWithNoSpaceAndResumesOnceFreed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  const std::string mnt = dir_.Sub("c-disk");
  std::filesystem::create_directories(mnt);
  const std::string options = StrCat("size=", kTmpfsBytes);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, options.c_str()) != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs on " << mnt << ": " << std::strerror(errno);
  }
  mount_point_ = mnt;
  ASSERT_NO_FATAL_FAILURE(StartCluster(180, mnt + "/data"));
  std::vector<std::string> acked = PutThroughCFirst("before-", 5, /*large=*/false);
  ASSERT_EQ(acked.size(), 5u);

  // Fill the disk, leaving 256 KiB (as ../shared/acceptance/faults does).
  const std::string ballast = mnt + "/ballast";
  const int fd = ::open(ballast.c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  struct statvfs st = {};
  ASSERT_EQ(::statvfs(mnt.c_str(), &st), 0);
  const uint64_t free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  ASSERT_GT(free_bytes, kBallastLeavesBytes);
  ASSERT_EQ(::fallocate(fd, 0, 0, static_cast<off_t>(free_bytes - kBallastLeavesBytes)), 0);
  ::close(fd);

  std::vector<std::string> full = PutThroughCFirst("full-", kPutsPerPhase, /*large=*/true);
  EXPECT_EQ(full.size(), static_cast<size_t>(kPutsPerPhase)) << "W=2 puts with C's disk full";
  EXPECT_TRUE(Alive(C())) << "the node with the full disk died";
  // Its own replica refuses, clearly (W=all needs it).
  RunResult own = Cli({"put", "needs-c", "x", "--w", "all"}, C().address);
  EXPECT_NE(own.exit_code, kExitOk);
  EXPECT_TRUE(Contains(own.err, "NoSpace") && Contains(own.err, "below the reserve")) << own.err;
  std::cerr << "W=all through the node with the full disk: " << own.err;
  RunResult read = Cli({"get", "before-0", "--r", "1"}, C().address);
  EXPECT_EQ(read.exit_code, kExitOk) << read.err;
  EXPECT_EQ(read.out, ValueOf("before-0", false));

  std::filesystem::remove(ballast);
  const uint64_t freed_at = MonotonicMs();
  EXPECT_TRUE(WaitUntil(
      [&] {
        return Cli({"put", "after-space", "x", "--w", "all"}, C().address).exit_code == 0;
      },
      kResumeWithinMs, 200))
      << "no W=all write through the node within 10 s of space being freed";
  std::cerr << "writes through it resumed " << MonotonicMs() - freed_at << " ms after the ballast "
            << "was removed\n";
  acked.insert(acked.end(), full.begin(), full.end());
  ExpectAllReadBack({acked.begin(), acked.begin() + 5}, /*large=*/false);
  ExpectAllReadBack(full, /*large=*/true);
  EXPECT_EQ(C().process.Signal(SIGTERM), kExitOk);
}

// Goal: strace fails every write of one node's RocksDB files with ENOSPC, then (after it has
// resumed by itself) with EIO: it never crashes, W=2 puts listing it first keep being
// acknowledged through the others, writes through it alone fail with a clear error; after EIO it
// stays fail-stopped (reads still served) until restarted; its exit status after SIGTERM is a
// clean error exit, not a signal; every acknowledged write reads back at R=all.
TEST_F(DiskFault, StraceNoSpaceAndIoErrorNeverCrashAndLoseNothing) {
  const std::string strace = FindInPath("strace");
  if (strace.empty()) GTEST_SKIP() << "strace is missing (tools/setup-deps.sh installs it)";
  ASSERT_NO_FATAL_FAILURE(StartCluster(183, dir_.Sub("c")));
  std::vector<std::string> acked = PutThroughCFirst("before-", 10, /*large=*/false);
  ASSERT_EQ(acked.size(), 10u);

  std::string why;
  if (!strace_.Start(strace, C().process.pid(), C().data_dir, "write", "ENOSPC",
                     dir_.Sub("strace-enospc.log"), &why)) {
    GTEST_SKIP() << "cannot inject with strace on this machine: " << why;
  }
  std::vector<std::string> nospace = PutThroughCFirst("nospace-", kPutsPerPhase, false);
  EXPECT_EQ(nospace.size(), static_cast<size_t>(kPutsPerPhase));
  RunResult own = Cli({"put", "needs-c", "x", "--w", "all"}, C().address);
  EXPECT_NE(own.exit_code, kExitOk);
  EXPECT_TRUE(Contains(own.err, "NoSpace") || Contains(own.err, "no space") ||
              Contains(own.err, "ceiling"))
      << own.err;
  std::cerr << "W=all through the node under ENOSPC: " << own.err;
  EXPECT_TRUE(Alive(C())) << "the node died under ENOSPC";
  strace_.Stop();
  // ENOSPC ends by itself once the disk takes writes (and has room above the reserve).
  EXPECT_TRUE(WaitUntil(
      [&] {
        return Cli({"put", "resumed", "x", "--w", "all"}, C().address).exit_code == 0;
      },
      kResumeWithinMs, 200))
      << "no W=all write through the node within 10 s of the ENOSPC injection ending";

  ASSERT_TRUE(strace_.Start(strace, C().process.pid(), C().data_dir, "write,fdatasync", "EIO",
                            dir_.Sub("strace-eio.log"), &why))
      << why;
  std::vector<std::string> eio = PutThroughCFirst("eio-", kPutsPerPhase, false);
  EXPECT_EQ(eio.size(), static_cast<size_t>(kPutsPerPhase));
  EXPECT_TRUE(Alive(C())) << "the node died under EIO";
  strace_.Stop();
  // EIO is not resumed: an operator restarts the node (docs/operations.md).
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * kDiskSampleIntervalMs));
  RunResult after = Cli({"put", "after-eio", "x", "--w", "all"}, C().address);
  EXPECT_NE(after.exit_code, kExitOk) << "EIO must fail-stop writes until a restart";
  EXPECT_TRUE(Contains(after.err, "IoError") || Contains(after.err, "ceiling")) << after.err;
  RunResult read = Cli({"get", "before-0", "--r", "1"}, C().address);
  EXPECT_EQ(read.exit_code, kExitOk) << "reads go on after EIO: " << read.err;

  const int code = C().process.Signal(SIGTERM);
  EXPECT_TRUE(code == kExitOk || code == kExitError) << "exit status " << code << " (128+signal?)";
  C().process.Start(C().flags, C().log);
  ASSERT_TRUE(tools::testing::WaitMembersUp(C().address, kNodes, kFormMs));
  EXPECT_TRUE(WaitUntil(
      [&] {
        return Cli({"put", "restarted", "x", "--w", "all"}, C().address).exit_code == 0;
      },
      kResumeWithinMs, 200));
  for (auto* list : {&nospace, &eio}) acked.insert(acked.end(), list->begin(), list->end());
  ExpectAllReadBack(acked, /*large=*/false);
  EXPECT_EQ(C().process.Signal(SIGTERM), kExitOk);
}

}  // namespace
}  // namespace causeway::cluster_proc
