// NodeStats: one snapshot of every number a node reports about itself. `causeway status` (the
// Admin status call, client_api.cc) and /metrics (metrics.cc) both read it, so the two cannot
// disagree about what a counter means or where it comes from.
//
// Loop-thread only (it reads the core and the engine's in-memory properties; nothing blocks).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/node.h"
#include "engine/engine.h"
#include "rpc/internal/listener.h"

namespace causeway::rpc {

class NodeHost;

struct NodeStats {
  std::string name, address;
  NodeId id = 0;
  EngineStats engine;
  EngineRocksStats rocks;
  cluster::NodeCore::Counters counters;
  cluster::NodeCore::ClockStatus clock;
  cluster::NodeCore::CatchUpStatus catch_up;
  cluster::NodeCore::StreamStatus stream;
  std::vector<cluster::MemberView> members;
  uint64_t client_in_flight = 0;       // client and admin calls being answered
  uint64_t peer_in_flight = 0;         // peers' calls to us being answered
  uint64_t peer_calls_out = 0;         // our calls to peers awaiting an answer
  uint64_t connections = 0;            // open connections (clients and peers)
  RefusalCounts refusals;              // budgets' closures and handshakes' refusals
  uint64_t clock_skew_rejections = 0;  // HLC max-offset rejections (clock and core)
  uint64_t clock_lead_ms = 0;          // how far the HLC runs ahead of the wall clock
  // /readyz: 200 when ready; otherwise why not ("starting", "joining", "bootstrapping",
  // "catching up", "draining").
  bool ready = false;
  std::string not_ready_reason;
};

NodeStats CollectNodeStats(NodeHost& host);

}  // namespace causeway::rpc
