// A tiny in-process cluster for tests: NodeDrivers (the real executor of the core's actions)
// wired through one FIFO message queue, a map per node as its storage, and manual time. Nodes can
// be crashed (messages to them fail at once, as a refused connection) or paused (messages to them
// vanish, as a stopped process: only deadlines notice). Deterministic: no threads, no wall clock.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/hlc.h"
#include "cluster/driver.h"
#include "cluster/node.h"
#include "cluster/ports.h"

namespace causeway::cluster::testing {

inline constexpr uint64_t kEpochMs = 1'700'000'000'000;  // the nodes' wall clock at time 0

class TestClock final : public PhysicalClock {
 public:
  uint64_t NowMs() override { return now_ms; }
  uint64_t now_ms = kEpochMs;
};

// The payload of a gossip message in bytes, counted the way the wire carries it (fixed-width
// integers, the bytes of names and addresses; Cap'n Proto adds pointers and padding, about 1.3x).
uint64_t GossipPayloadBytes(const GossipMessage& m);

class Harness {
 public:
  // Node i's side of the driver's ports: the queue, the map store, the reply maps, the harness
  // clock, and the node's meta map for start-up.
  class Ports final : public Transport,
                      public StorageRunner,
                      public ReplySink,
                      public MonotonicClock,
                      public MetaStore {
   public:
    Ports(Harness* h, size_t i) : h_(h), i_(i) {}
    void Send(NodeId to, const std::string& address, PeerMessage message) override {
      h_->Send(i_, to, address, std::move(message));
    }
    void Run(StorageAction action) override { h_->Storage(i_, action); }
    void StoreMeta(std::string name, std::string value) override;
    void SetTombstoneWatermarks(std::vector<SpanWatermark> marks) override;
    // The harness's clocks persist nothing (no CeilingStore), so the driver never asks.
    void StoreHlcCeiling(uint64_t) override {}
    void Reply(RequestId id, ClientResult result) override;
    void ExplainReply(RequestId id, ExplainResult result) override;
    TimeMs NowMs() override { return h_->now_; }
    Result<std::optional<std::string>> Load(std::string_view name) override;
    Status Store(std::string_view name, std::string_view value) override;

   private:
    Harness* h_;
    size_t i_;
  };

  struct Node {
    std::unique_ptr<TestClock> physical;
    std::unique_ptr<HybridClock> hlc;
    NodeConfig base_config;  // what the node was created with; restarts restore over it
    std::unique_ptr<Ports> ports;
    std::unique_ptr<NodeDriver> driver;
    std::map<std::string, Version> store;
    // Hints kept as a stand-in, by (target, key) (survive restarts, as on disk); at most
    // hint_budget per target (0: no budget).
    std::map<std::pair<NodeId, std::string>, Version> hints;
    size_t hint_budget = 0;
    std::map<std::string, std::string> meta;  // PersistMetaAction records (survive restarts)
    uint64_t persists = 0;                    // PersistMetaAction count
    std::vector<SpanWatermark> watermarks;    // the last tombstone watermarks asked for
    bool crashed = false, paused = false;
    int64_t skew_ms = 0;
  };

  // n nodes "n1".."nN" at "127.0.0.1:<7000+i>", all seeded with n1. With `fixed_tokens` each node
  // starts with hashed tokens; otherwise they join and choose tokens from the view.
  Harness(int n, bool fixed_tokens, int rf = 3) {
    for (int i = 0; i < n; ++i) AddNode(fixed_tokens, rf);
  }

  size_t AddNode(bool fixed_tokens, int rf = 3);
  // Restarts node i as a new process (generation + 1) keeping its store and meta records, the
  // way serve does: tokens from kMetaTokens (else its previous tokens), and the member view from
  // kMetaMembers only if `restore_view` (false: a data dir written before views were persisted).
  void Restart(size_t i, bool restore_view);
  // Node i's data dir is lost: its store, hints and meta records are gone, and it starts again
  // under its name with `serve --replace` (NodeConfig::replace).
  void Replace(size_t i);
  // The core, for table tests that feed it directly and inspect its actions.
  NodeCore& core(size_t i) { return nodes_[i].driver->mutable_core(); }
  NodeDriver& driver(size_t i) { return *nodes_[i].driver; }
  Node& node(size_t i) { return nodes_[i]; }
  size_t size() const { return nodes_.size(); }
  size_t IndexOf(NodeId id) const;
  TimeMs now() const { return now_; }

  // Delivers queued messages until none is left (bounded).
  void Drain();
  // Advances time by `ms` in 10 ms steps, ticking every live node and draining after each.
  void Run(uint64_t ms);

  // Starts a client request at node i and runs until it is answered (or `max_ms` passes).
  ClientResult Write(size_t i, ClientWrite w, uint64_t max_ms = 5000);
  ClientResult Read(size_t i, ClientRead r, uint64_t max_ms = 5000);
  ExplainResult Explain(size_t i, std::string key, uint64_t max_ms = 5000);
  // How many replies request `id` got (exactly-once checks).
  int ReplyCount(RequestId id) const;
  RequestId last_request_id() const { return next_request_ - 1; }
  // The reply to request `id`, or null.
  const ClientResult* ReplyFor(RequestId id) const {
    auto it = replies_.find(id);
    return it == replies_.end() ? nullptr : &it->second;
  }

  uint64_t trace_hash() const { return trace_hash_; }
  // Gossip traffic sent so far (every GossipMessage a node emitted, delivered or not).
  uint64_t gossip_messages() const { return gossip_messages_; }
  uint64_t gossip_bytes() const { return gossip_bytes_; }
  // Every replica of `key` as node indices, in preference order (by node i's view).
  std::vector<size_t> Replicas(size_t i, const std::string& key);

 private:
  struct Envelope {
    enum Kind { kPeer, kSendFailed, kStorage, kMetaStored } kind = kPeer;
    size_t to = 0;  // node index that handles it
    NodeId from = 0;
    PeerMessage message;
    uint64_t op_id = 0;
    StorageResult storage;
    std::string meta_name;
  };
  static Envelope MakeEnvelope(Envelope::Kind kind, size_t to, NodeId from, PeerMessage message);
  void StartNode(size_t i, bool restore_view);
  void Deliver(Envelope e);
  // The ports of node i (Harness::Ports forwards here).
  void Send(size_t i, NodeId to_id, const std::string& address, PeerMessage message);
  void Storage(size_t i, const StorageAction& a);
  template <typename T>
  void WaitFor(const std::map<RequestId, T>& results, RequestId id, uint64_t max_ms);

  std::vector<Node> nodes_;
  std::deque<Envelope> queue_;
  TimeMs now_ = 0;
  RequestId next_request_ = 1;
  std::map<RequestId, ClientResult> replies_;
  std::map<RequestId, ExplainResult> explains_;
  std::map<RequestId, int> reply_counts_;
  uint64_t trace_hash_ = 1469598103934665603ull;
  uint64_t gossip_messages_ = 0, gossip_bytes_ = 0;
};

}  // namespace causeway::cluster::testing
