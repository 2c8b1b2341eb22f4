// CallTable: every call the node is working on -- client reads and writes, admin explains, and
// calls peers made to us -- with one deadline mechanism for all of them.
//
// Each entry is a KJ fulfiller plus a deadline field. Sweep(now), called from the node's tick,
// fails the overdue ones with kTimeout: no timer per call (a KJ timer node, its exclusiveJoin and
// their teardown were ~5% of the node's instructions per call). The core answers every request
// by its own deadline, so for client calls this is a safety net; for a peer's call it bounds how
// long we hold it. A call's promise removes its entry when it is destroyed (answered, timed out,
// or cancelled by the caller hanging up), and counts it on its connection meanwhile.
//
// Loop-thread only.
#pragma once

#include <kj/async.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <variant>

#include "cluster/messages.h"
#include "rpc/internal/listener.h"

namespace causeway::rpc {

class CallTable {
 public:
  enum class Kind { kClient, kAdmin, kPeer };

  // A fresh id, never 0 and never reused by this table.
  cluster::RequestId NextId() { return ++next_id_; }

  // Registers call `id` of `kind`, due `timeout_ms` from `now` (plus `grace_ms`), counted on
  // `conn` (may be null) until its promise is destroyed. T is the answer's type:
  // cluster::ClientResult, cluster::ExplainResult or cluster::PeerMessage.
  template <typename T>
  kj::Promise<T> Add(Kind kind, cluster::RequestId id, uint64_t timeout_ms, uint64_t grace_ms,
                     cluster::TimeMs now, std::shared_ptr<ConnStats> conn);

  // Answers call `id` if it is still waiting (and of type T); false if it is gone.
  template <typename T>
  bool Complete(cluster::RequestId id, T answer);

  // Fails every call whose deadline passed with kTimeout.
  void Sweep(cluster::TimeMs now);
  // Calls of `kind` in the table.
  size_t count(Kind kind) const { return counts_[static_cast<int>(kind)]; }
  size_t size() const { return calls_.size(); }
  // Drops every call (teardown): their callers see a disconnect.
  void Clear() { calls_.clear(); }

 private:
  template <typename T>
  using Fulfiller = kj::Own<kj::PromiseFulfiller<T>>;
  struct Call {
    Kind kind = Kind::kClient;
    cluster::TimeMs deadline_ms = 0;
    uint64_t timeout_ms = 0;
    std::variant<Fulfiller<cluster::ClientResult>, Fulfiller<cluster::ExplainResult>,
                 Fulfiller<cluster::PeerMessage>>
        fulfiller;
  };
  void Remove(cluster::RequestId id);

  std::unordered_map<cluster::RequestId, Call> calls_;
  size_t counts_[3] = {0, 0, 0};
  cluster::RequestId next_id_ = 0;
};

template <typename T>
kj::Promise<T> CallTable::Add(Kind kind, cluster::RequestId id, uint64_t timeout_ms,
                              uint64_t grace_ms, cluster::TimeMs now,
                              std::shared_ptr<ConnStats> conn) {
  auto paf = kj::newPromiseAndFulfiller<T>();
  calls_.emplace(id, Call{kind, now + timeout_ms + grace_ms, timeout_ms, kj::mv(paf.fulfiller)});
  ++counts_[static_cast<int>(kind)];
  if (conn) {
    ++conn->in_flight;
    conn->last_activity_ms = now;
  }
  return paf.promise.attach(kj::defer([this, id, conn = std::move(conn)]() {
    Remove(id);
    if (conn) {
      --conn->in_flight;
      conn->last_activity_ms = MonotonicMs();
    }
  }));
}

template <typename T>
bool CallTable::Complete(cluster::RequestId id, T answer) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return false;
  auto* f = std::get_if<Fulfiller<T>>(&it->second.fulfiller);
  if (f == nullptr || !(*f)->isWaiting()) return false;
  (*f)->fulfill(kj::mv(answer));
  return true;
}

}  // namespace causeway::rpc
