#include "rpc/internal/call_table.h"

#include <string>

#include "rpc/internal/errors.h"

namespace causeway::rpc {

void CallTable::Remove(cluster::RequestId id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  --counts_[static_cast<int>(it->second.kind)];
  calls_.erase(it);
}

void CallTable::Sweep(cluster::TimeMs now) {
  for (auto& [id, call] : calls_) {
    if (now < call.deadline_ms) continue;
    const Status timeout =
        call.kind == Kind::kPeer
            ? Status::Timeout("the replica did not answer in time")
            : Status::Timeout("no answer within " + std::to_string(call.timeout_ms) + " ms");
    // Rejecting runs no continuation now (KJ defers them), so the entry stays until its
    // promise is destroyed on a later turn.
    std::visit(
        [&](auto& f) {
          if (f->isWaiting()) f->reject(ToException(timeout));
        },
        call.fulfiller);
  }
}

}  // namespace causeway::rpc
