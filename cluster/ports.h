// The narrow interfaces the node driver (cluster/driver.h) carries the core's actions through.
// cluster/ declares them; each host implements them: the server (rpc/: Cap'n Proto peer links,
// the engine on libuv's pool, the call table), the simulator (tests/sim: a seeded in-memory
// network, real engines on a fault-injecting file system) and the table-test harness
// (tests/cluster: a FIFO queue and maps). Nothing here does I/O itself.
//
// Re-entrancy: an implementation may call back into the driver from inside one of these calls
// (the server runs storage inline on the loop thread); the driver queues such inputs and handles
// them after the current ones, so no call ever re-enters the core.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "cluster/messages.h"

namespace causeway::cluster {

// Messages to other nodes.
class Transport {
 public:
  virtual ~Transport() = default;
  // Delivers `message` to node `to` at `address` (`to` is 0 when only the address is known: a
  // seed not heard from yet). Never called with the node's own id: the driver loops those back.
  // Delivery may fail or be late. Report the peer's answers through NodeDriver::OnPeerMessage
  // and a message that could not be delivered or answered in time through
  // NodeDriver::OnSendFailed. A response to a request the peer made to us (ReplicateResponse,
  // ReadResponse) is that request's answer: a transport with request/response calls completes
  // the peer's call with it (ResponseId tells which).
  virtual void Send(NodeId to, const std::string& address, PeerMessage message) = 0;
};

// Work on the node's local engine.
class StorageRunner {
 public:
  virtual ~StorageRunner() = default;
  // Runs the engine operation, then reports NodeDriver::OnStorageDone(action.op_id, result),
  // possibly from inside this call, possibly from another event later (never from another
  // thread: the host marshals completions onto the driver's thread).
  virtual void Run(StorageAction action) = 0;
  // Stores the named record synced (Engine::StoreMeta), then reports
  // NodeDriver::OnMetaStored(name, status). The driver issues at most one at a time.
  virtual void StoreMeta(std::string name, std::string value) = 0;
  // Tombstones below each span's watermark may be purged by compaction from now on (keys in no
  // span: never). Replaces the previous marks. Cheap; no completion.
  virtual void SetTombstoneWatermarks(std::vector<SpanWatermark> marks) = 0;
  // Stores the clock's ceiling synced (Engine::StoreHlcCeilingMs), then reports
  // NodeDriver::OnCeilingStored(ceiling_ms, status). At most one at a time (cluster/ceiling.h).
  virtual void StoreHlcCeiling(uint64_t ceiling_ms) = 0;
};

// Answers to client requests (the host matches them to its waiting calls by id).
class ReplySink {
 public:
  virtual ~ReplySink() = default;
  virtual void Reply(RequestId id, ClientResult result) = 0;
  virtual void ExplainReply(RequestId id, ExplainResult result) = 0;
};

// The driver's monotonic time (timeouts, gossip, failure detection); never the wall clock.
class MonotonicClock {
 public:
  virtual ~MonotonicClock() = default;
  virtual TimeMs NowMs() = 0;
};

// The node's named records (the engine's `clock` column family), read and written synchronously
// at start-up only (cluster/startup.h). Later stores go through StorageRunner::StoreMeta.
class MetaStore {
 public:
  virtual ~MetaStore() = default;
  virtual Result<std::optional<std::string>> Load(std::string_view name) = 0;
  virtual Status Store(std::string_view name, std::string_view value) = 0;  // synced
};

// The id of the peer request `message` answers (ReplicateResponse, ReadResponse), or nullopt.
std::optional<RequestId> ResponseId(const PeerMessage& message);

}  // namespace causeway::cluster
