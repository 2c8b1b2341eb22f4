// ProcCluster: the fixture of the three-node tests in this folder. Nodes a, b, c are real
// `causeway serve` processes, rf=3, seeded by a, each with its own data dir and log in a fresh
// TempDir. Every wait is bounded (kFormMs). TearDown continues and kills every node still
// running (a paused node must not outlive the test) and, if the test failed, prints the tail of
// each node's log. Not thread-safe: the test's thread owns it.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/tools/harness.h"

namespace causeway::cluster_proc {

inline constexpr size_t kNodes = 3;
// How long a cluster may take to form (join settle, token allocation, gossip), or a restarted
// node to answer.
inline constexpr uint64_t kFormMs = 30000;
inline constexpr size_t kLogTailLines = 40;

// The last `lines` lines of `text`.
std::string Tail(const std::string& text, size_t lines);

struct Node {
  std::string name;
  std::string address;
  std::vector<std::string> flags;  // the exact `serve` arguments, reused on restart
  std::string log;
  tools::testing::ServeProcess process;
};

class ProcCluster : public ::testing::Test {
 protected:
  // Starts a, b, c on 127.0.0.<hosts[i]> (a free port each; hosts may repeat), `extra_flags`
  // added to each node's `serve` arguments, and waits until every node sees all three up with
  // tokens.
  void StartCluster(const std::vector<int>& hosts,
                    const std::vector<std::string>& extra_flags = {});
  // Restarts a stopped node with its recorded flags and waits until it answers.
  void Restart(Node& node);
  void TearDown() override;

  Node& A() { return *nodes_[0]; }
  Node& B() { return *nodes_[1]; }
  Node& C() { return *nodes_[2]; }

  tools::testing::TempDir dir_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

}  // namespace causeway::cluster_proc
