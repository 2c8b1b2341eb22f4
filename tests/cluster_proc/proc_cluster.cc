#include "tests/cluster_proc/proc_cluster.h"

#include <signal.h>

#include <iostream>

namespace causeway::cluster_proc {

std::string Tail(const std::string& text, size_t lines) {
  size_t pos = text.size();
  for (size_t n = 0; n <= lines && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos + 1);
}

void ProcCluster::StartCluster(const std::vector<int>& hosts,
                               const std::vector<std::string>& extra_flags) {
  ASSERT_EQ(hosts.size(), kNodes);
  std::string seed;
  for (size_t i = 0; i < kNodes; ++i) {
    auto node = std::make_unique<Node>();
    node->name = std::string(1, static_cast<char>('a' + i));
    node->address = tools::testing::FreeAddress(hosts[i]);
    if (seed.empty()) seed = node->address;
    node->log = dir_.path() + "/" + node->name + ".log";
    node->flags = {"--node-id",  node->name,
                   "--listen",   node->address,
                   "--data-dir", dir_.path() + "/" + node->name,
                   "--seeds",    seed,
                   "--rf",       "3"};
    node->flags.insert(node->flags.end(), extra_flags.begin(), extra_flags.end());
    nodes_.push_back(std::move(node));
  }
  for (auto& node : nodes_) node->process.Start(node->flags, node->log);
  for (auto& node : nodes_) {
    ASSERT_TRUE(tools::testing::WaitServing(node->address, kFormMs)) << node->name;
    ASSERT_TRUE(tools::testing::WaitMembersUp(node->address, kNodes, kFormMs)) << node->name;
  }
}

void ProcCluster::Restart(Node& node) {
  ASSERT_FALSE(node.process.running());
  node.process.Start(node.flags, node.log);
  ASSERT_TRUE(tools::testing::WaitServing(node.address, kFormMs)) << node.name;
}

void ProcCluster::TearDown() {
  for (auto& node : nodes_) {
    if (node->process.running()) {
      ::kill(node->process.pid(), SIGCONT);
      node->process.Signal(SIGKILL, 10000);
    }
  }
  if (!HasFailure()) return;
  for (auto& node : nodes_) {
    std::cerr << "---- tail of node " << node->name << " (" << node->address << ") log ----\n"
              << Tail(tools::testing::ReadFile(node->log), kLogTailLines);
  }
}

}  // namespace causeway::cluster_proc
