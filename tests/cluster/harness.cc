#include "harness.h"

#include <algorithm>

#include "base/assert.h"
#include "base/limits.h"
#include "base/strings.h"
#include "cluster/persist.h"
#include "cluster/ring.h"
#include "cluster/startup.h"

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
  CW_ASSERT(hlc.ok(), "harness clock");
  n.hlc = std::move(hlc).value();
  NodeConfig& config = n.base_config;
  config.name = StrCat("n", i + 1);
  config.address = "127.0.0.1:" + std::to_string(7000 + i + 1);
  config.seeds = {"127.0.0.1:7001"};
  if (fixed_tokens) config.tokens = Ring::HashTokens(config.name, kTokensPerNodeDefault);
  config.rf = rf;
  config.request_timeout_ms = 1000;
  nodes_.push_back(std::move(n));
  StartNode(i, true);
  return i;
}

// Starts node i's process the way serve does (cluster::RestoreIdentity over its meta map).
void Harness::StartNode(size_t i, bool restore_view) {
  Node& n = nodes_[i];
  // A data dir written before member views were persisted: the record is hidden from start-up.
  std::optional<std::string> hidden_view;
  if (auto it = n.meta.find(std::string(kMetaMembers)); !restore_view && it != n.meta.end()) {
    hidden_view = std::move(it->second);
    n.meta.erase(it);
  }
  n.ports = std::make_unique<Ports>(this, i);
  StartupNotes notes;
  auto config = RestoreIdentity(*n.ports, n.base_config, &notes);
  CW_ASSERT(config.ok(), "harness start-up");
  if (hidden_view) n.meta[std::string(kMetaMembers)] = std::move(*hidden_view);
  n.driver = std::make_unique<NodeDriver>(
      std::move(config).value(), n.hlc.get(),
      DriverPorts{n.ports.get(), n.ports.get(), n.ports.get(), n.ports.get()});
}

void Harness::Restart(size_t i, bool restore_view) {
  Node& n = nodes_[i];
  // Tokens a node chose but has not persisted yet survive in the harness (serve would rejoin).
  if (!n.meta.count(std::string(kMetaTokens))) n.base_config.tokens = n.driver->core().tokens();
  n.driver.reset();  // the old process is gone: nothing addressed to it may reach the new one
  n.ports.reset();
  StartNode(i, restore_view);
  n.crashed = false;
  n.paused = false;
}

void Harness::Replace(size_t i) {
  Node& n = nodes_[i];
  n.driver.reset();
  n.ports.reset();
  n.store.clear();
  n.hints.clear();
  n.meta.clear();
  n.base_config.tokens.clear();
  n.base_config.replace = true;
  StartNode(i, true);
  n.crashed = false;
  n.paused = false;
}

// ---- ports ------------------------------------------------------------------------------------

void Harness::Ports::StoreMeta(std::string name, std::string value) {
  Node& n = h_->nodes_[i_];
  n.meta[name] = std::move(value);
  n.persists++;
  Envelope e = MakeEnvelope(Envelope::kMetaStored, i_, 0, PeerMessage{});
  e.meta_name = std::move(name);
  h_->queue_.push_back(std::move(e));
}

void Harness::Ports::SetTombstoneWatermarks(std::vector<SpanWatermark> marks) {
  h_->nodes_[i_].watermarks = std::move(marks);
}

void Harness::Ports::Reply(RequestId id, ClientResult result) {
  h_->trace_hash_ = Mix(Mix(h_->trace_hash_, id), static_cast<int>(result.status.code()));
  h_->reply_counts_[id]++;
  h_->replies_[id] = std::move(result);
}

void Harness::Ports::ExplainReply(RequestId id, ExplainResult result) {
  h_->reply_counts_[id]++;
  h_->explains_[id] = std::move(result);
}

Result<std::optional<std::string>> Harness::Ports::Load(std::string_view name) {
  const auto& meta = h_->nodes_[i_].meta;
  auto it = meta.find(std::string(name));
  if (it == meta.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status Harness::Ports::Store(std::string_view name, std::string_view value) {
  h_->nodes_[i_].meta[std::string(name)] = std::string(value);
  return Status::Ok();
}

size_t Harness::IndexOf(NodeId id) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].driver->core().id() == id) return i;
  }
  return nodes_.size();
}

std::vector<size_t> Harness::Replicas(size_t i, const std::string& key) {
  std::vector<size_t> out;
  for (NodeId id : nodes_[i].driver->core().PreferenceList(key)) out.push_back(IndexOf(id));
  return out;
}

void Harness::Send(size_t i, NodeId to_id, const std::string& address, PeerMessage message) {
  trace_hash_ = Mix(Mix(trace_hash_, to_id), message.index());
  if (const auto* g = std::get_if<GossipMessage>(&message)) {
    gossip_messages_++;
    gossip_bytes_ += GossipPayloadBytes(*g);
  }
  size_t to = nodes_.size();
  if (to_id != 0) {
    to = IndexOf(to_id);
  } else {
    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (nodes_[j].driver->core().config().address == address) to = j;
    }
  }
  if (to == nodes_.size() || nodes_[to].crashed) {
    queue_.push_back(MakeEnvelope(Envelope::kSendFailed, i, to_id, std::move(message)));
  } else if (!nodes_[to].paused) {
    queue_.push_back(
        MakeEnvelope(Envelope::kPeer, to, nodes_[i].driver->core().id(), std::move(message)));
  }
}

namespace {

// The anti-entropy queries over the harness's map (the engine's are in engine/engine_aae.cc): any
// hash of (key, dot, tombstone) XORed per span serves, as long as every harness node uses it.
void AntiEntropyScan(const std::map<std::string, Version>& store, const StorageAction& a,
                     StorageResult* out) {
  using Entry = std::pair<Token, std::string_view>;
  std::vector<std::pair<Entry, const Version*>> tokens;
  tokens.reserve(store.size());
  for (const auto& [key, v] : store) tokens.push_back({{TokenOf(key), key}, &v});
  if (a.kind == StorageAction::Kind::kAaeHashes) {
    // Spans are disjoint: find each key's span by binary search over them in token order.
    std::vector<size_t> order(a.spans.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t x, size_t y) { return a.spans[x].first < a.spans[y].first; });
    out->hashes.assign(a.spans.size(), 0);
    for (const auto& [entry, v] : tokens) {
      auto it = std::upper_bound(order.begin(), order.end(), entry.first,
                                 [&](Token t, size_t i) { return t < a.spans[i].first; });
      if (it == order.begin() || !a.spans[*(it - 1)].Contains(entry.first)) continue;
      out->hashes[*(it - 1)] ^=
          TokenOf(StrCat(entry.second, "/", v->timestamp, "/", v->writer, "/", v->tombstone));
    }
    return;
  }
  const Entry after{a.key.empty() ? 0 : TokenOf(a.key), a.key};
  std::vector<std::pair<Entry, const Version*>> listed;  // in the spans, after the cursor
  for (const auto& t : tokens) {
    bool in = false;
    for (const TokenSpan& span : a.spans) in = in || span.Contains(t.first.first);
    if (in && (a.key.empty() || after < t.first)) listed.push_back(t);
  }
  std::sort(listed.begin(), listed.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  for (const auto& [entry, v] : listed) {
    if (out->digests.size() == a.limit) {
      out->more = true;
      break;
    }
    out->digests.push_back({std::string(entry.second), v->timestamp, v->writer, v->tombstone});
  }
}

// A stream page over the harness's map, in (token, key) order after the cursor, up to about
// limit_bytes of keys and values (at least one key).
void StreamScan(const std::map<std::string, Version>& store, const StorageAction& a,
                StorageResult* out) {
  using Entry = std::pair<Token, std::string_view>;
  const Entry after{a.key.empty() ? 0 : TokenOf(a.key), a.key};
  std::vector<std::pair<Entry, const Version*>> listed;
  for (const auto& [key, v] : store) {
    const Entry e{TokenOf(key), key};
    bool in = false;
    for (const TokenSpan& span : a.spans) in = in || span.Contains(e.first);
    if (in && (a.key.empty() || after < e)) listed.push_back({e, &v});
  }
  std::sort(listed.begin(), listed.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  uint64_t bytes = 0;
  for (const auto& [entry, v] : listed) {
    if (bytes >= a.limit_bytes) {
      out->more = true;
      break;
    }
    bytes += entry.second.size() + v->value.size();
    out->hints.push_back({std::string(entry.second), *v});
  }
}

}  // namespace

// The harness's engine: a map with the engine's LWW rule and vector absorption
// (docs/design.md), answering through the queue.
void Harness::Storage(size_t i, const StorageAction& a) {
  Envelope e = MakeEnvelope(Envelope::kStorage, i, 0, PeerMessage{});
  e.op_id = a.op_id;
  auto& store = nodes_[i].store;
  auto& hints = nodes_[i].hints;
  using Kind = StorageAction::Kind;
  if (a.kind == Kind::kPutHint) {
    const std::pair<NodeId, std::string> hk{a.target, a.key};
    size_t held = 0;
    for (const auto& [k, v] : hints) held += k.first == a.target ? 1 : 0;
    auto it = hints.find(hk);
    if (it == hints.end() && nodes_[i].hint_budget != 0 && held >= nodes_[i].hint_budget) {
      e.storage.over_budget = true;
    } else if (it == hints.end() || LastWriteWins(a.version, it->second)) {
      hints[hk] = a.version;
    }
    queue_.push_back(std::move(e));
    return;
  }
  if (a.kind == Kind::kScanHints) {
    for (auto it = hints.upper_bound({a.target, a.key}); it != hints.end(); ++it) {
      if (it->first.first != a.target) break;
      e.storage.hints.push_back({it->first.second, it->second});
    }
    queue_.push_back(std::move(e));
    return;
  }
  if (a.kind == Kind::kDeleteHint) {
    auto it = hints.find({a.target, a.key});
    if (it != hints.end() && it->second.SameDot(a.version)) hints.erase(it);
    queue_.push_back(std::move(e));
    return;
  }
  if (a.kind == Kind::kHintTargets) {
    for (const auto& [k, v] : hints) {
      if (e.storage.targets.empty() || e.storage.targets.back() != k.first) {
        e.storage.targets.push_back(k.first);
      }
    }
    queue_.push_back(std::move(e));
    return;
  }
  if (a.kind == Kind::kAaeHashes || a.kind == Kind::kAaeDigests) {
    AntiEntropyScan(store, a, &e.storage);
    queue_.push_back(std::move(e));
    return;
  }
  auto apply = [&store](const std::string& key, const Version& version) {
    auto it = store.find(key);
    if (it == store.end()) {
      store[key] = version;
    } else if (!it->second.SameDot(version)) {  // the survivor absorbs the loser's vector
      Version survivor = LastWriteWins(version, it->second) ? version : it->second;
      survivor.vv.MergeFrom(version.vv);
      survivor.vv.MergeFrom(it->second.vv);
      survivor.vv.Truncate(kVersionVectorEntriesMax, survivor.writer);
      it->second = std::move(survivor);
    }
  };
  if (a.kind == Kind::kStreamScan) {
    StreamScan(store, a, &e.storage);
  } else if (a.kind == Kind::kApplyBatch) {
    for (const KeyVersion& kv : a.batch) apply(kv.key, kv.version);
  } else if (a.kind == Kind::kApply) {
    apply(a.key, a.version);
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
      n.driver->OnPeerMessage(e.from, std::move(e.message));
      break;
    case Envelope::kSendFailed:
      n.driver->OnSendFailed(e.from, std::move(e.message));
      break;
    case Envelope::kStorage:
      n.driver->OnStorageDone(e.op_id, std::move(e.storage));
      break;
    case Envelope::kMetaStored:
      n.driver->OnMetaStored(e.meta_name, Status::Ok());
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
      if (!n.crashed && !n.paused) n.driver->Tick();
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
  nodes_[i].driver->StartWrite(id, std::move(w));
  WaitFor(replies_, id, max_ms);
  auto it = replies_.find(id);
  return it == replies_.end() ? ClientResult{Status::Internal("no reply"), {}, {}} : it->second;
}

ClientResult Harness::Read(size_t i, ClientRead r, uint64_t max_ms) {
  RequestId id = next_request_++;
  nodes_[i].driver->StartRead(id, std::move(r));
  WaitFor(replies_, id, max_ms);
  auto it = replies_.find(id);
  return it == replies_.end() ? ClientResult{Status::Internal("no reply"), {}, {}} : it->second;
}

ExplainResult Harness::Explain(size_t i, std::string key, uint64_t max_ms) {
  RequestId id = next_request_++;
  nodes_[i].driver->StartExplain(id, std::move(key));
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
