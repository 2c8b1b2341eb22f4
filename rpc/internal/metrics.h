// Metrics: the node's Prometheus metrics (docs/operations.md, "Metrics").
//
// Two kinds of numbers, one exposition:
//  * recorded here as requests complete (NodeHost calls ObserveRequest): request counts and
//    latency histograms by side (client, peer), operation and outcome, kept in a
//    prometheus::Registry that this object owns (one per Server: no process-wide registry);
//  * read at scrape time from a NodeStats snapshot (rpc/internal/node_stats.h, the same numbers
//    `causeway status` shows): the core's counters, ring members by state, engine and RocksDB
//    gauges. The sans-IO core knows nothing of Prometheus; it only counts.
// Names follow Prometheus conventions: the causeway_ prefix, base units (seconds, bytes) and
// _total on counters.
//
// Loop-thread only.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace causeway::rpc {

struct NodeStats;

class Metrics {
 public:
  enum class Side { kClient, kPeer };

  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One answered request: `op` names it ("get", "put", "delete", "explain"; a peer's
  // "replicate", "read", "aae_hash", "aae_digest", "stream"), `outcome` its status code, and
  // `seconds` the time from admission to the answer.
  void ObserveRequest(Side side, std::string_view op, ErrorCode outcome, double seconds);

  // The whole exposition in Prometheus text format 0.0.4: the recorded families, then `stats`.
  std::string Render(const NodeStats& stats);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The lower-case outcome label of a status code: "ok", "unavailable", "timeout", ...
std::string OutcomeLabel(ErrorCode code);

}  // namespace causeway::rpc
