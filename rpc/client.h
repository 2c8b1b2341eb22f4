// causeway::Client: the C++ client library.
//
// Talks Cap'n Proto RPC to one of several endpoints. Fail-over happens within a call: each call
// has a deadline (timeout_ms) and is made of attempts, one per endpoint, each with a shorter
// deadline of its own (attempt_timeout_ms, also sent to the node; the call's last chance gets
// whatever is left). An attempt that fails in a way another node may not (refused, reset, timed
// out, kUnavailable, kOverloaded, kClockSkew, kIoError, kNoSpace; see MovesOn in client.cc) is
// repeated on the next endpoint, until one answers, every endpoint was tried once in this call,
// or the call's deadline passes; the call then reports the last attempt's failure. Later calls
// start at the endpoint that last answered. An endpoint that just timed out goes after the
// others for kClientSkipWindowMs, in this call and later ones (but is still tried when nothing
// else is left). Retrying a write is safe: it is written again with a newer timestamp.
// Pipelines: Start*() calls return at once and many may be outstanding on one connection; Wait()
// runs the client's event loop until all of them have finished.
//
// Sessions: the client carries a session token; every call sends the part of it the call's key
// depends on, and each reply's version is folded into it. So one Client (or several sharing a token
// through session()/set_session(), as the CLI's --session FILE does) reads its own writes and never
// reads backwards.
//
// Not thread-safe: a Client belongs to the thread that created it (it owns a KJ event loop).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/limits.h"
#include "base/status.h"
#include "base/version.h"
#include "cluster/messages.h"
#include "cluster/node.h"

namespace causeway {

struct ClientOptions {
  std::vector<std::string> endpoints;              // "host:port"
  uint64_t timeout_ms = kRequestTimeoutMsDefault;  // per call, also sent to the node
  uint64_t connect_timeout_ms = 2000;
  // A new connection must answer a ping within this long, else the next endpoint is tried: a
  // paused node accepts connections but never answers. The last endpoint left for a call gets
  // the call's remaining time instead (a slow node is better than none).
  uint64_t probe_timeout_ms = kClientProbeTimeoutMsDefault;
  // Connections opened to the current endpoint, all on this Client's one event loop; Start*()
  // calls take them in turn. More than one lets a single thread drive several connections
  // (`causeway bench`); they fail over together.
  size_t connections = 1;
  // Deadline of one attempt of a call on one endpoint (connect, probe and request), unless no
  // other endpoint is left to try; the node is told it, and the client waits
  // kClientDeadlineGraceMs longer. Raise it for calls that legitimately take longer (it is also
  // the node's timeout then).
  uint64_t attempt_timeout_ms = kClientAttemptTimeoutMsDefault;
  // Credentials for a node with users (docs/operations.md, "Security"): every connection logs in
  // once (Bootstrap.login); empty user: no login. A wrong password fails the call with
  // kInvalidArgument (not retried elsewhere). The probe of a new connection waits for the login,
  // which costs the node a password hash check: it gets kClientLoginProbeExtraMs more.
  std::string user = {};
  std::string password = {};
  // TLS (docs/operations.md, "TLS"): with a CA file, every connection is TLS, and the node's
  // certificate must come from that CA and carry `tls_server_name` (every node certificate made
  // by `causeway cert node` carries "causeway"). A client certificate is presented when asked
  // (client_tls = mutual). Unreadable files fail every call with kInvalidArgument.
  std::string tls_ca_file = {};
  std::string tls_cert_file = {};
  std::string tls_key_file = {};
  std::string tls_server_name = "causeway";
};

struct CallOptions {
  cluster::Consistency consistency;  // R for reads, W for writes; default: the node's
  uint64_t timeout_ms = 0;           // 0: ClientOptions::timeout_ms
  // Writes: whether hints kept for replicas that are down count toward W (cluster::ClientWrite).
  bool hinted_counts = true;
};

// A reply that does not decode is an error Status, never a ReadReply.
struct ReadReply {
  bool found = false;              // false: absent or deleted; true implies `version`
  std::optional<Version> version;  // the winning version (a tombstone when deleted)
};

struct MemberInfo {
  cluster::MemberView view;
};

struct NodeStatusReply {
  NodeId id = 0;
  std::string name;
  std::string address;
  uint64_t keys = 0;
  uint64_t bytes = 0;
  std::string sync_mode;
  uint64_t applied = 0, shadowed = 0, concurrent = 0, in_flight = 0, clock_skew_rejections = 0;
  // The coordinator's counters (cluster::NodeCore::Counters); 0 from a node that predates them.
  uint64_t read_repairs = 0, session_escalations = 0, concurrent_seen_by_reads = 0;
  std::vector<cluster::MemberView> members;
  bool catching_up = false;  // back from being away, reading other replicas first
  // The clock-offset monitor (docs/operations.md, "When a clock goes bad"); state is empty from
  // a node that predates it.
  struct Clock {
    std::string state;  // "trusted", "unverified", "fenced"
    int64_t median_offset_ms = 0;
    uint64_t sampled_peers = 0, far_peers = 0, threshold_ms = 0, fences = 0, jumps = 0;
    uint64_t fenced_writes = 0;
    std::string description;
  } clock;
  // The data dir's disk and the engine's fail-stop (docs/operations.md, "When a disk fills up or
  // fails"); known is false from a node that predates them.
  struct Disk {
    bool known = false;
    uint64_t free_bytes = 0, total_bytes = 0, pending_flush_bytes = 0, reserve_bytes = 0;
    bool below_reserve = false;
    uint64_t refused_writes = 0;
    causeway::Status fail_stop;  // Ok: writes are not fail-stopped
    uint64_t fail_stops = 0, resumes = 0, log_lines_dropped = 0;
  } disk;
  // Hinted handoff's and anti-entropy's counters (cluster::NodeCore::Counters), monotonic since
  // the node started; known is false from a node that predates them.
  struct Hints {
    bool known = false;
    uint64_t hinted_writes = 0, stored = 0, over_budget = 0, replayed = 0, replay_failures = 0;
    uint64_t dropped = 0;
  } hints;
  struct AntiEntropy {
    bool known = false;
    uint64_t exchanges = 0, exchange_failures = 0, keys_differed = 0, keys_pushed = 0;
    uint64_t keys_pulled = 0, bytes = 0, protocol_bytes = 0;
  } anti_entropy;
  // The node's own streaming (docs/operations.md, "Membership changes"); absent from a node that
  // predates it.
  std::optional<cluster::NodeCore::StreamStatus> stream;
};

// What a cleanup removed (docs/operations.md, "Cleanup").
struct CleanupReply {
  uint64_t keys_removed = 0;
  uint64_t bytes_removed = 0;
};

// An on-demand repair, as started: its id names it on `node` only.
struct RepairStarted {
  uint64_t id = 0;
  NodeId node = 0;
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Blocking calls. Put and Delete return the written version without its value (the node does
  // not echo what the caller sent). A session token that does not decode is kInvalidArgument.
  Result<ReadReply> Get(std::string_view key, const CallOptions& options = {});
  Result<Version> Put(std::string_view key, std::string_view value,
                      const CallOptions& options = {});
  Result<Version> Delete(std::string_view key, const CallOptions& options = {});
  Result<NodeStatusReply> Status();  // of the first endpoint that answers
  Result<cluster::ExplainResult> Explain(std::string_view key);
  // Starts an on-demand anti-entropy repair (docs/operations.md, "Running a repair") of the
  // answering node's ranges that intersect `spans` (empty: all of them; at most
  // kAaeSpansPerRequestMax, each first <= last) and returns at once. The id means something to
  // that node only: poll RepairProgress through a Client whose one endpoint is that node (with
  // several endpoints, a later call may fail over to another node, which answers `known` false
  // or, worse, about a repair of its own with the same id).
  Result<RepairStarted> Repair(const std::vector<TokenSpan>& spans);
  Result<cluster::NodeCore::RepairStatus> RepairProgress(uint64_t id);
  // Membership changes (docs/operations.md). These act on the node that answers, so give the
  // Client exactly that node's endpoint (with several, a failed attempt moves on to another node,
  // which would then be the one decommissioned or cleaned up).
  // Starts the node's decommission: Ok once accepted, else the node's refusal (its code and
  // reason) or the call's failure.
  causeway::Status Decommission();
  Result<cluster::NodeCore::StreamStatus> StreamProgress();
  // Removes the node's data outside the ranges it replicates and answers once done; bounded by
  // the ClientOptions' timeout (give it minutes for a large node). The node's refusal or failure
  // is an error Status.
  Result<CleanupReply> Cleanup();
  // A RocksDB checkpoint of the answering node's data dir into `dir` (a path on its machine that
  // must not exist); bounded by the ClientOptions' timeout. Returns the path written.
  Result<std::string> Snapshot(const std::string& dir);
  // What the answering node's /readyz says: "" when ready, else why not; and its release.
  struct HealthReply {
    bool ready = false;
    std::string reason, version;
  };
  Result<HealthReply> Health();
  // Bulk ingestion (docs/formats.md, "Ingestion chunks"): sends one chunk (at most
  // kIngestChunkBytesMax bytes) of the file staged as `session` on the answering node; with `last`
  // the node ingests it and answers the entries ingested. Give the Client exactly that node's
  // endpoint, and a timeout long enough for an ingestion. The node's refusal is an error Status.
  Result<uint64_t> IngestChunk(uint64_t session, uint64_t offset, std::string_view data, bool last);
  causeway::Status AbortIngest(uint64_t session);
  // A null call the node answers without its store: liveness, and RPC's own cost (bench --ping).
  causeway::Status Ping();

  // Pipelined calls: `done` runs on this thread, inside Wait().
  void StartGet(const std::string& key, CallOptions options,
                std::function<void(Result<ReadReply>)> done);
  void StartPut(std::string key, const std::string& value, CallOptions options,
                std::function<void(Result<Version>)> done);
  void StartPing(std::function<void(causeway::Status)> done);
  void Wait();
  // Runs the event loop (calls' `done` run inside) until `timeout_us` passed, whether or not
  // calls are outstanding: the open-loop benchmark's wait for its next send time.
  void WaitFor(uint64_t timeout_us);

  // The session token, encoded (exactly as given when set_session() got one that does not decode).
  std::string session() const;
  void set_session(std::string token);
  // The endpoint the next call starts at: the one that last answered, or the next after one
  // that just failed.
  const std::string& endpoint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace causeway
