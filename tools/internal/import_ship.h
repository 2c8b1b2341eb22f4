// The coordinator-free fast path of `causeway import` and `causeway offline hints import`
// (docs/design.md, "Bulk import and LWW"): rows are routed by the ring to their replicas, one SST
// of merge operands is built per target replica (engine/ingest_file.h), shipped in chunks of
// kIngestChunkBytesMax (Client::IngestChunk) and ingested there. Each replica is served by a
// thread of its own with a Client of its own (a Client owns its thread's event loop).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/ring.h"
#include "engine/engine.h"

namespace causeway::tools {

struct ImportNode {
  NodeId id = 0;
  std::string name, address;
  bool alive = true;  // in the view of the endpoint that answered
};
struct ImportCluster {
  std::map<NodeId, ImportNode> nodes;
  cluster::Ring ring;
};
// The ring as the first endpoint that answers sees it (members that left are not on it).
Result<ImportCluster> FetchImportCluster(const std::vector<std::string>& endpoints,
                                         uint64_t timeout_ms);

struct ShipNodeResult {
  uint64_t rows = 0;     // rows routed to this replica
  uint64_t entries = 0;  // merge operands it ingested
  uint64_t bytes = 0;    // SST bytes shipped
  bool failed = false;   // not ingested: left to hints or repair
  std::string error;
};
// Routes rows to PreferenceList(token, rf) and ingests each replica's share. Replicas in `down`
// (and those not alive) are skipped; their shares are counted (failed, "down"). `work_dir` holds
// the SSTs while they are shipped. Returns per replica what happened.
std::map<NodeId, ShipNodeResult> ShipRows(const ImportCluster& cluster, int rf,
                                          const std::vector<IngestRow>& rows,
                                          const std::string& work_dir, uint64_t batch,
                                          const std::set<NodeId>& down);
// For a hint salvage: route each row to its replicas but `exclude` (the dead node).
std::map<NodeId, ShipNodeResult> ShipRowsExcluding(const ImportCluster& cluster, int rf,
                                                   const std::vector<IngestRow>& rows,
                                                   const std::string& work_dir, uint64_t batch,
                                                   const std::set<NodeId>& exclude);

}  // namespace causeway::tools
