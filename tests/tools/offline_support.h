// Shared by tests/tools/offline_test.cc and import_test.cc: real `causeway serve` nodes on
// 127.0.4.x (this suite's address range, 127.0.4.1..60), and reading keys back with a real Client.
#pragma once

#include <signal.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/strings.h"
#include "rpc/client.h"
#include "tests/tools/harness.h"

namespace causeway::tools::testing {

// The last non-empty line of `out`, parsed as JSON (null when it is not).
inline nlohmann::json LastJsonLine(const std::string& out) {
  std::string line, last;
  std::istringstream in(out);
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return nlohmann::json::parse(last, nullptr, false);
}

// Nodes o<host> on 127.0.4.<host>:7600+host, seeded by the first, each with a dir under `dir`.
class Nodes {
 public:
  Nodes(const TempDir& dir, std::vector<int> hosts, std::vector<std::string> flags)
      : dir_(dir), hosts_(std::move(hosts)), flags_(std::move(flags)) {
    for (size_t i = 0; i < hosts_.size(); ++i) procs_.push_back(std::make_unique<ServeProcess>());
  }
  std::string address(size_t i) const {
    return StrCat("127.0.4.", hosts_[i], ":", 7600 + hosts_[i]);
  }
  std::string name(size_t i) const { return StrCat("o", hosts_[i]); }
  std::string data_dir(size_t i) const { return dir_.path() + "/" + name(i) + "/data"; }
  std::string endpoints() const {
    std::string out;
    for (size_t i = 0; i < hosts_.size(); ++i) out += (i ? "," : "") + address(i);
    return out;
  }
  void Start(size_t i) {
    std::vector<std::string> args = {"--node-id",  name(i),     "--listen", address(i),
                                     "--data-dir", data_dir(i), "--seeds",  address(0)};
    args.insert(args.end(), flags_.begin(), flags_.end());
    procs_[i]->Start(args, dir_.path() + "/" + name(i) + ".log");
  }
  [[nodiscard]] bool StartAll() {
    for (size_t i = 0; i < hosts_.size(); ++i) Start(i);
    for (size_t i = 0; i < hosts_.size(); ++i) {
      if (!WaitMembersUp(address(i), hosts_.size())) return false;
    }
    return true;
  }
  ServeProcess& proc(size_t i) { return *procs_[i]; }
  std::string Logs() const {
    std::string out;
    for (size_t i = 0; i < hosts_.size(); ++i) {
      out += "---- " + name(i) + "\n" + ReadFile(dir_.path() + "/" + name(i) + ".log");
    }
    return out;
  }

 private:
  const TempDir& dir_;
  std::vector<int> hosts_;
  std::vector<std::string> flags_;
  std::vector<std::unique_ptr<ServeProcess>> procs_;
};

// Reads keys 0, stride, 2*stride... below n through `endpoint` at R=1 (pipelined, on a thread of
// its own: one Client per thread); returns how many did not read back as `expect(i)`, and the
// first such key in *first.
template <typename KeyFn, typename ValueFn>
uint64_t CountMismatches(const std::string& endpoint, uint64_t n, KeyFn key, ValueFn expect,
                         std::string* first, uint64_t stride = 1) {
  uint64_t bad = 0;
  std::thread([&] {
    ClientOptions o;
    o.endpoints = {endpoint};
    o.timeout_ms = 20000;
    Client client(o);
    CallOptions co;
    co.consistency = cluster::Consistency::Number(1);
    constexpr uint64_t kWindow = 2000;
    for (uint64_t base = 0; base < n; base += kWindow) {
      for (uint64_t i = base; i < std::min(n, base + kWindow); ++i) {
        if (i % stride != 0) continue;
        client.StartGet(key(i), co, [&, i](Result<ReadReply> r) {
          const bool ok = r.ok() && r->found && r->version && r->version->value == expect(i);
          if (!ok) {
            if (bad == 0) *first = key(i) + (r.ok() ? "" : " " + r.status().ToString());
            ++bad;
          }
        });
      }
      client.Wait();
    }
  }).join();
  return bad;
}

}  // namespace causeway::tools::testing
