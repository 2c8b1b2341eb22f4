// Node start-up: restoring a node's identity from its meta records, the one function the server
// (tools/serve.cc), the simulator and the table-test harness all call.
//
// In order: claim the data dir for the node's name (kMetaNodeName; a dir that belongs to another
// name is refused), restore the ring tokens (kMetaTokens) and the last member view
// (kMetaMembers, cluster/persist.h), then bump the generation and store it (kMetaGeneration,
// synced) before the node says anything to anyone. docs/design.md, "Restart and join safety".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cluster/node.h"
#include "cluster/ports.h"

namespace causeway::cluster {

inline constexpr std::string_view kMetaNodeName = "node_name";
inline constexpr std::string_view kMetaGeneration = "generation";

// What RestoreIdentity did, for the host's log.
struct StartupNotes {
  bool tokens_restored = false;
  size_t members_restored = 0;
  std::vector<std::string> warnings;  // records that were ignored, and why
};

// Returns `config` with tokens, known_members, bootstrap_state and generation filled from `meta`.
// Errors: kInvalidArgument for a data dir of another node, kCorruption for unreadable tokens or
// generation, the store's own errors. An unreadable member view is ignored with a warning (the
// join guard keeps a node without one safe).
Result<NodeConfig> RestoreIdentity(MetaStore& meta, NodeConfig config, StartupNotes* notes);

}  // namespace causeway::cluster
