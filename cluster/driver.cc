#include "cluster/driver.h"

#include <type_traits>
#include <utility>

#include "base/assert.h"

namespace causeway::cluster {

std::optional<RequestId> ResponseId(const PeerMessage& message) {
  if (const auto* r = std::get_if<ReplicateResponse>(&message)) return r->id;
  if (const auto* r = std::get_if<ReadResponse>(&message)) return r->id;
  if (const auto* r = std::get_if<AaeHashResponse>(&message)) return r->id;
  if (const auto* r = std::get_if<AaeDigestResponse>(&message)) return r->id;
  if (const auto* r = std::get_if<StreamResponse>(&message)) return r->id;
  return std::nullopt;
}

NodeDriver::NodeDriver(NodeConfig config, HybridClock* hlc, DriverPorts ports)
    : ports_(ports), core_(std::move(config), hlc) {
  CW_ASSERT(ports_.transport && ports_.storage && ports_.replies && ports_.clock,
            "every driver port but the ceiling store is required");
  CW_ASSERT(ports_.ceiling == nullptr || !ports_.ceiling->started(),
            "the driver starts the ceiling store (after HybridClock::Open)");
  if (ports_.ceiling != nullptr) {
    // A node that trusts its wall clock from the start (no peer to compare with) stores its first
    // ceiling now, synchronously (start-up is not the hot path), so its first write need not wait
    // for a renewal. One that must first compare clocks stores none until it trusts the clock.
    uint64_t first_ms = 0;
    if (core_.ClockTrusted()) {
      ports_.ceiling->KeepAhead(core_.CeilingBaseMs());
      first_ms = ports_.ceiling->Target(core_.CeilingBaseMs());
    }
    // A failure here is not fatal: renewals are retried after every input, and writes are
    // refused (kUnavailable) until one lands.
    if (!ports_.ceiling->Start(first_ms).ok()) ++counters_.ceiling_store_failures;
  }
}

NodeDriver::~NodeDriver() = default;

void NodeDriver::StartWrite(RequestId id, ClientWrite request) {
  Submit(StartWriteInput{id, std::move(request)});
}
void NodeDriver::StartRead(RequestId id, ClientRead request) {
  Submit(StartReadInput{id, std::move(request)});
}
void NodeDriver::StartExplain(RequestId id, std::string key) {
  Submit(StartExplainInput{id, std::move(key)});
}
uint64_t NodeDriver::StartRepair(const std::vector<TokenSpan>& spans) {
  CW_ASSERT(!running_, "StartRepair while the driver carries out actions");
  return core_.StartRepair(spans, ports_.clock->NowMs());
}
Status NodeDriver::StartDecommission() {
  CW_ASSERT(!running_, "StartDecommission while the driver carries out actions");
  return core_.StartDecommission(ports_.clock->NowMs());
}
void NodeDriver::OnPeerMessage(NodeId from, PeerMessage message) {
  Submit(PeerInput{from, std::move(message)});
}
void NodeDriver::OnSendFailed(NodeId to, PeerMessage message) {
  Submit(SendFailedInput{to, std::move(message)});
}
void NodeDriver::OnStorageDone(uint64_t op_id, StorageResult result) {
  CW_ASSERT(storage_in_flight_ > 0, "a storage completion nobody asked for");
  --storage_in_flight_;
  Submit(StorageInput{op_id, std::move(result)});
}
void NodeDriver::Tick() { Submit(TickInput{}); }
void NodeDriver::PrepareStop() { Submit(StopInput{}); }

void NodeDriver::OnMetaStored(const std::string& name, const Status& status) {
  CW_ASSERT(meta_writing_, "a meta store completion nobody asked for");
  meta_writing_ = false;
  ++(status.ok() ? counters_.meta_stores : counters_.meta_store_failures);
  StoreNextMeta();
}

void NodeDriver::OnCeilingStored(uint64_t ceiling_ms, const Status& status) {
  CW_ASSERT(ceiling_storing_ == ceiling_ms, "a ceiling store completion nobody asked for");
  ceiling_storing_ = 0;
  if (status.ok()) {
    ports_.ceiling->OnStored(ceiling_ms);
    ++counters_.ceilings_stored;
  } else {
    ++counters_.ceiling_store_failures;  // retried after the next input
  }
  if (!running_ && status.ok()) MaybeRenewCeiling();
}

void NodeDriver::Submit(Input input) {
  if (running_) {
    queue_.push_back(std::move(input));
    return;
  }
  running_ = true;
  for (bool more = true; more;) {
    Actions actions = Handle(input, ports_.clock->NowMs());
    for (Action& action : actions) Execute(action);
    more = !queue_.empty();
    if (more) {
      input = std::move(queue_.front());
      queue_.pop_front();
    }
  }
  running_ = false;
  MaybeRenewCeiling();
}

// The clock asks for renewals ahead of need (HybridClock, through CeilingStore), and the store
// keeps the ceiling ahead of the core's base (the wall clock while trusted: KeepAhead) so an idle
// node's first write does not find it reached. One store at a time carries the largest ceiling
// asked for so far, clamped to the base plus the lead, so that an untrusted wall clock never
// raises it (NodeCore::CeilingBaseMs).
void NodeDriver::MaybeRenewCeiling() {
  if (ports_.ceiling == nullptr || ceiling_storing_ != 0) return;
  const uint64_t base_ms = core_.CeilingBaseMs();
  if (base_ms != 0) ports_.ceiling->KeepAhead(base_ms);
  const uint64_t target_ms = ports_.ceiling->Target(base_ms);
  if (target_ms == 0) return;
  ceiling_storing_ = target_ms;
  ports_.storage->StoreHlcCeiling(target_ms);
}

Actions NodeDriver::Handle(Input& input, TimeMs now) {
  return std::visit(
      [&](auto& in) -> Actions {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, StartWriteInput>) {
          return core_.StartWrite(in.id, std::move(in.request), now);
        } else if constexpr (std::is_same_v<T, StartReadInput>) {
          return core_.StartRead(in.id, std::move(in.request), now);
        } else if constexpr (std::is_same_v<T, StartExplainInput>) {
          return core_.StartExplain(in.id, std::move(in.key), now);
        } else if constexpr (std::is_same_v<T, PeerInput>) {
          return core_.OnPeerMessage(in.from, std::move(in.message), now);
        } else if constexpr (std::is_same_v<T, SendFailedInput>) {
          return core_.OnSendFailed(in.to, in.message, now);
        } else if constexpr (std::is_same_v<T, StorageInput>) {
          return core_.OnStorageDone(in.op_id, std::move(in.result), now);
        } else if constexpr (std::is_same_v<T, TickInput>) {
          return core_.Tick(now);
        } else {
          static_assert(std::is_same_v<T, StopInput>);
          return core_.PrepareStop(now);
        }
      },
      input);
}

void NodeDriver::Execute(Action& action) {
  std::visit(
      [&](auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, SendAction>) {
          Send(a);
        } else if constexpr (std::is_same_v<T, ReplyAction>) {
          ports_.replies->Reply(a.id, std::move(a.result));
        } else if constexpr (std::is_same_v<T, ExplainReplyAction>) {
          ports_.replies->ExplainReply(a.id, std::move(a.result));
        } else if constexpr (std::is_same_v<T, StorageAction>) {
          ++storage_in_flight_;
          ports_.storage->Run(std::move(a));
        } else if constexpr (std::is_same_v<T, PersistMetaAction>) {
          Persist(a);
        } else {
          static_assert(std::is_same_v<T, SetTombstoneWatermarkAction>);
          ++counters_.watermarks_set;
          ports_.storage->SetTombstoneWatermarks(std::move(a.spans));
        }
      },
      action);
}

// A message to our own id is our own replica's work: it joins the input queue (handled after the
// actions that produced it), never the transport.
void NodeDriver::Send(SendAction& send) {
  if (send.to == core_.id()) {
    queue_.push_back(PeerInput{send.to, std::move(send.message)});
    return;
  }
  ports_.transport->Send(send.to, send.address, std::move(send.message));
}

void NodeDriver::Persist(PersistMetaAction& persist) {
  meta_pending_[persist.name] = std::move(persist.value);
  if (!meta_writing_) StoreNextMeta();
}

void NodeDriver::StoreNextMeta() {
  if (meta_pending_.empty() || meta_writing_) return;
  auto first = meta_pending_.begin();
  std::string name = first->first;
  std::string value = std::move(first->second);
  meta_pending_.erase(first);
  meta_writing_ = true;
  ports_.storage->StoreMeta(std::move(name), std::move(value));
}

}  // namespace causeway::cluster
