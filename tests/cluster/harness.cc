#include "harness.h"

#include <algorithm>
#include <cassert>

#include "cluster/persist.h"
#include "cluster/ring.h"
#include "engine/limits.h"

namespace causeway::cluster::testing {
namespace {

uint64_t Mix(uint64_t h, uint64_t v) { return (h ^ v) * 1099511628211ull; }

}  // namespace

uint64_t GossipPayloadBytes(const GossipMessage& m) {
  uint64_t bytes = 1;  // reply_wanted
  for (const MemberState& s : m.members) {
    bytes += 8 * 3 + 1 + s.name.size() + s.address.size() + 8 * s.tokens.size();
  }
  return bytes + 32 * m.digests.size() + 8 * m.wanted.size();
}

Harness::Envelope Harness::MakeEnvelope(Envelope::Kind kind, size_t to, NodeId from,
                                        PeerMessage message) {
  Envelope e;
  e.kind = kind;
  e.to = to;
  e.from = from;
  e.message = std::move(message);
  return e;
}

size_t Harness::AddNode(bool fixed_tokens, int rf) {
  size_t i = nodes_.size();
  Node n;
  n.physical = std::make_unique<TestClock>();
  n.physical->now_ms = kEpochMs + now_;
  auto hlc = HybridClock::Open(n.physical.get(), nullptr);
  assert(hlc.ok());
  n.hlc = std::move(hlc).value();
  NodeConfig config;
  config.name = "n" + std::to_string(i + 1);
  config.address = "127.0.0.1:" + std::to_string(7000 + i + 1);
  config.seeds = {"127.0.0.1:7001"};
  if (fixed_tokens) config.tokens = Ring::HashTokens(config.name, kTokensPerNodeDefault);
  config.rf = rf;
  config.request_timeout_ms = 1000;
  n.core = std::make_unique<NodeCore>(config, n.hlc.get());
  nodes_.push_back(std::move(n));
  return i;
}

void Harness::Restart(size_t i, bool restore_view) {
  Node& n = nodes_[i];
  NodeConfig config = n.core->config();
  config.generation++;
  config.tokens = n.core->tokens();
  if (auto it = n.meta.find(std::string(kMetaTokens)); it != n.meta.end()) {
    auto tokens = DecodeTokens(it->second);
    assert(tokens.ok());
    config.tokens = std::move(tokens).value();
  }
  config.known_members.clear();
  if (auto it = n.meta.find(std::string(kMetaMembers)); restore_view && it != n.meta.end()) {
    auto members = DecodeMembers(it->second);
    assert(members.ok());
    config.known_members = std::move(members).value();
  }
  n.core.reset();  // the old process is gone: nothing addressed to it may reach the new one
  n.core = std::make_unique<NodeCore>(config, n.hlc.get());
  n.crashed = false;
  n.paused = false;
}

size_t Harness::IndexOf(NodeId id) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].core->id() == id) return i;
  }
  return nodes_.size();
}

std::vector<size_t> Harness::Replicas(size_t i, const std::string& key) {
  std::vector<size_t> out;
  for (NodeId id : nodes_[i].core->PreferenceList(key)) out.push_back(IndexOf(id));
  return out;
}

void Harness::Dispatch(size_t i, Actions actions) {
  for (Action& a : actions) {
    trace_hash_ = Mix(trace_hash_, a.index());
    if (auto* send = std::get_if<SendAction>(&a)) {
      trace_hash_ = Mix(Mix(trace_hash_, send->to), send->message.index());
      if (const auto* g = std::get_if<GossipMessage>(&send->message)) {
        gossip_messages_++;
        gossip_bytes_ += GossipPayloadBytes(*g);
      }
      size_t to = nodes_.size();
      if (send->to != 0) {
        to = IndexOf(send->to);
      } else {
        for (size_t j = 0; j < nodes_.size(); ++j) {
          if (nodes_[j].core->config().address == send->address) to = j;
        }
      }
      if (to == nodes_.size() || nodes_[to].crashed) {
        queue_.push_back(
            MakeEnvelope(Envelope::kSendFailed, i, send->to, std::move(send->message)));
      } else if (!nodes_[to].paused) {
        queue_.push_back(
            MakeEnvelope(Envelope::kPeer, to, nodes_[i].core->id(), std::move(send->message)));
      }
    } else if (auto* reply = std::get_if<ReplyAction>(&a)) {
      trace_hash_ = Mix(Mix(trace_hash_, reply->id), static_cast<int>(reply->result.status.code()));
      reply_counts_[reply->id]++;
      replies_[reply->id] = std::move(reply->result);
    } else if (auto* explain = std::get_if<ExplainReplyAction>(&a)) {
      reply_counts_[explain->id]++;
      explains_[explain->id] = std::move(explain->result);
    } else if (auto* storage = std::get_if<StorageAction>(&a)) {
      Storage(i, *storage);
    } else if (auto* persist = std::get_if<PersistMetaAction>(&a)) {
      nodes_[i].meta[persist->name] = persist->value;
      nodes_[i].persists++;
    }
  }
}

// The harness's engine: a map with the engine's LWW rule and vector absorption
// (docs/design.md), answering through the queue.
void Harness::Storage(size_t i, const StorageAction& a) {
  Envelope e = MakeEnvelope(Envelope::kStorage, i, 0, PeerMessage{});
  e.op_id = a.op_id;
  auto& store = nodes_[i].store;
  if (a.kind == StorageAction::Kind::kApply) {
    auto it = store.find(a.key);
    if (it == store.end()) {
      store[a.key] = a.version;
    } else if (!it->second.SameDot(a.version)) {  // the survivor absorbs the loser's vector
      Version survivor = LastWriteWins(a.version, it->second) ? a.version : it->second;
      survivor.vv.MergeFrom(a.version.vv);
      survivor.vv.MergeFrom(it->second.vv);
      survivor.vv.Truncate(kVersionVectorEntriesMax, survivor.writer);
      it->second = std::move(survivor);
    }
  } else {
    auto it = store.find(a.key);
    if (it != store.end()) e.storage.version = it->second;
  }
  queue_.push_back(std::move(e));
}

void Harness::Deliver(Envelope e) {
  Node& n = nodes_[e.to];
  if (n.crashed) return;
  switch (e.kind) {
    case Envelope::kPeer:
      if (n.paused) return;
      Dispatch(e.to, n.core->OnPeerMessage(e.from, std::move(e.message), now_));
      break;
    case Envelope::kSendFailed:
      Dispatch(e.to, n.core->OnSendFailed(e.from, e.message, now_));
      break;
    case Envelope::kStorage:
      Dispatch(e.to, n.core->OnStorageDone(e.op_id, std::move(e.storage), now_));
      break;
  }
}

void Harness::Drain() {
  for (int i = 0; i < 1'000'000 && !queue_.empty(); ++i) {
    Envelope e = std::move(queue_.front());
    queue_.pop_front();
    Deliver(std::move(e));
  }
}

void Harness::Run(uint64_t ms) {
  for (uint64_t t = 0; t < ms; t += 10) {
    now_ += 10;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      n.physical->now_ms = static_cast<uint64_t>(static_cast<int64_t>(kEpochMs + now_) + n.skew_ms);
      if (!n.crashed && !n.paused) Dispatch(i, n.core->Tick(now_));
    }
    Drain();
  }
}

template <typename T>
void Harness::WaitFor(const std::map<RequestId, T>& results, RequestId id, uint64_t max_ms) {
  Drain();
  for (uint64_t t = 0; t < max_ms && !results.count(id); t += 10) Run(10);
}

ClientResult Harness::Write(size_t i, ClientWrite w, uint64_t max_ms) {
  RequestId id = next_request_++;
  Dispatch(i, nodes_[i].core->StartWrite(id, std::move(w), now_));
  WaitFor(replies_, id, max_ms);
  auto it = replies_.find(id);
  return it == replies_.end() ? ClientResult{Status::Internal("no reply"), {}, {}} : it->second;
}

ClientResult Harness::Read(size_t i, ClientRead r, uint64_t max_ms) {
  RequestId id = next_request_++;
  Dispatch(i, nodes_[i].core->StartRead(id, std::move(r), now_));
  WaitFor(replies_, id, max_ms);
  auto it = replies_.find(id);
  return it == replies_.end() ? ClientResult{Status::Internal("no reply"), {}, {}} : it->second;
}

ExplainResult Harness::Explain(size_t i, std::string key, uint64_t max_ms) {
  RequestId id = next_request_++;
  Dispatch(i, nodes_[i].core->StartExplain(id, std::move(key), now_));
  WaitFor(explains_, id, max_ms);
  auto it = explains_.find(id);
  return it == explains_.end() ? ExplainResult{Status::Internal("no reply"), 0, {}, {}}
                               : it->second;
}

int Harness::ReplyCount(RequestId id) const {
  auto it = reply_counts_.find(id);
  return it == reply_counts_.end() ? 0 : it->second;
}

}  // namespace causeway::cluster::testing
