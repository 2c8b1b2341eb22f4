#include "history.h"

#include <map>
#include <sstream>

#include "base/hlc.h"

namespace causeway::sim {

bool DotAfter(const std::optional<SimDot>& a, const std::optional<SimDot>& b) {
  if (!a) return false;
  if (!b) return true;
  if (a->timestamp != b->timestamp) return a->timestamp > b->timestamp;
  return a->writer > b->writer;
}

std::string DotString(const std::optional<SimDot>& d) {
  if (!d) return "none";
  std::ostringstream out;
  out << "(" << HlcPhysicalMs(d->timestamp) << "." << HlcLogical(d->timestamp) << "," << std::hex
      << d->writer << ")";
  return out.str();
}

std::string Op::ToString() const {
  static const char* kKinds[] = {"read", "write", "delete"};
  static const char* kOutcomes[] = {"pending", "ok", "failed", "indeterminate"};
  std::ostringstream out;
  out << "s" << session << "#" << seq << " " << kKinds[static_cast<int>(kind)] << "(" << key;
  if (kind == OpKind::kWrite) out << "=" << value;
  out << ") via n" << coordinator << " n=" << replicas << " [" << invoke_ms << ".." << response_ms
      << "ms] " << kOutcomes[static_cast<int>(outcome)];
  if (outcome == OpOutcome::kFailed) out << " " << ErrorCodeName(code);
  if (outcome == OpOutcome::kOk) {
    out << " dot=" << DotString(dot) << (tombstone ? " tombstone" : "");
    if (kind == OpKind::kRead && dot && !tombstone) out << " value=" << value;
  }
  return out.str();
}

namespace {

// What one session has observed so far, for the session checkers.
struct SessionState {
  std::map<std::string, const Op*> last_write;  // key -> newest ok write of it
  std::map<std::string, const Op*> last_read;   // key -> highest ok read of it
  const Op* max_write = nullptr;                // the ok write with the largest timestamp
  const Op* max_read = nullptr;                 // the ok read with the largest timestamp read
};

std::string Violation(const char* rule, const Op& later, const Op& earlier) {
  return std::string(rule) + ": " + later.ToString() + "  after  " + earlier.ToString();
}

void CheckRead(const Op& op, SessionState& st, std::vector<std::string>& out) {
  if (auto it = st.last_write.find(op.key); it != st.last_write.end()) {
    if (DotAfter(it->second->dot, op.dot)) {
      out.push_back(Violation("read-your-writes", op, *it->second));
    }
  }
  auto [it, fresh] = st.last_read.try_emplace(op.key, &op);
  if (!fresh) {
    if (DotAfter(it->second->dot, op.dot)) {
      out.push_back(Violation("monotonic-reads", op, *it->second));
    } else {
      it->second = &op;
    }
  }
  if (op.dot && (!st.max_read || op.dot->timestamp > st.max_read->dot->timestamp)) {
    st.max_read = &op;
  }
}

void CheckWrite(const Op& op, SessionState& st, std::vector<std::string>& out) {
  if (!op.dot) {
    out.push_back("write acknowledged without a version: " + op.ToString());
    return;
  }
  if (st.max_write && op.dot->timestamp <= st.max_write->dot->timestamp) {
    out.push_back(Violation("monotonic-writes", op, *st.max_write));
  }
  if (st.max_read && op.dot->timestamp <= st.max_read->dot->timestamp) {
    out.push_back(Violation("writes-follow-reads", op, *st.max_read));
  }
  if (!st.max_write || op.dot->timestamp > st.max_write->dot->timestamp) st.max_write = &op;
  st.last_write[op.key] = &op;
}

}  // namespace

std::vector<std::string> CheckSessionGuarantees(const std::vector<Op>& history) {
  std::map<int, SessionState> sessions;
  std::vector<std::string> out;
  for (const Op& op : history) {
    if (!op.ok()) continue;
    SessionState& st = sessions[op.session];
    if (op.is_write()) {
      CheckWrite(op, st, out);
    } else {
      CheckRead(op, st, out);
    }
  }
  return out;
}

std::vector<std::string> CheckReadIntegrity(const std::vector<Op>& history) {
  std::map<std::pair<std::string, std::string>, const Op*> writes;  // (key, value) -> write
  for (const Op& op : history) {
    if (op.kind == OpKind::kWrite) writes[{op.key, op.value}] = &op;
  }
  std::vector<std::string> out;
  std::map<std::pair<Hlc, NodeId>, const Op*> dots;  // a dot names exactly one write
  for (const Op& op : history) {
    if (!op.ok() || !op.is_write() || !op.dot) continue;
    auto [it, fresh] = dots.try_emplace({op.dot->timestamp, op.dot->writer}, &op);
    if (!fresh)
      out.push_back("two writes with one dot: " + op.ToString() + "  and  " +
                    it->second->ToString());
  }
  for (const Op& op : history) {
    if (!op.ok() || op.kind != OpKind::kRead || !op.dot || op.tombstone) continue;
    auto it = writes.find({op.key, op.value});
    if (it == writes.end()) {
      out.push_back("read of a value never written: " + op.ToString());
    } else if (it->second->ok() && !(*it->second->dot == *op.dot)) {
      out.push_back("read value with another write's dot: " + op.ToString() + "  vs  " +
                    it->second->ToString());
    }
  }
  return out;
}

std::vector<std::string> CheckRealTimeOrder(const std::vector<Op>& history, uint64_t slack_ms) {
  std::map<std::string, std::vector<const Op*>> by_key;  // acknowledged writes, by answer time
  for (const Op& op : history) {
    if (op.ok() && op.is_write() && op.dot) by_key[op.key].push_back(&op);
  }
  std::vector<std::string> out;
  for (auto& [key, writes] : by_key) {
    for (const Op* later : writes) {
      for (const Op* earlier : writes) {
        if (later->invoke_ms > earlier->response_ms + slack_ms &&
            !DotAfter(later->dot, earlier->dot)) {
          out.push_back(
              "acknowledged write stamped below an earlier acknowledged one (lost to "
              "it under LWW): " +
              later->ToString() + "  after  " + earlier->ToString());
        }
      }
    }
  }
  return out;
}

std::vector<std::string> CheckStampsNearTrueTime(const std::vector<Op>& history, uint64_t epoch_ms,
                                                 uint64_t slack_ms) {
  std::vector<std::string> out;
  for (const Op& op : history) {
    if (!op.ok() || !op.is_write() || !op.dot) continue;
    const uint64_t stamped = HlcPhysicalMs(op.dot->timestamp);
    if (stamped + slack_ms < epoch_ms + op.invoke_ms ||
        stamped > epoch_ms + op.response_ms + slack_ms) {
      out.push_back("acknowledged write stamped " +
                    std::to_string(static_cast<int64_t>(stamped - epoch_ms) -
                                   static_cast<int64_t>(op.invoke_ms)) +
                    " ms from the true time of its invocation: " + op.ToString());
    }
  }
  return out;
}

std::vector<KeyFloor> NewestAcknowledgedWrites(const std::vector<Op>& history,
                                               bool exempt_single_replica) {
  std::map<std::string, KeyFloor> floors;
  for (const Op& op : history) {
    if (!op.ok() || !op.is_write() || !op.dot) continue;
    if (exempt_single_replica && op.replicas < 2) continue;
    auto [it, fresh] = floors.try_emplace(op.key, KeyFloor{op.key, *op.dot, &op});
    if (!fresh && DotAfter(op.dot, it->second.dot)) it->second = KeyFloor{op.key, *op.dot, &op};
  }
  std::vector<KeyFloor> out;
  for (auto& [key, floor] : floors) out.push_back(floor);
  return out;
}

std::vector<DurableTombstone> ProtectedDeletes(const std::vector<Op>& history,
                                               bool exempt_single_replica) {
  std::vector<DurableTombstone> out;
  for (const Op& op : history) {
    if (!op.ok() || op.kind != OpKind::kDelete || !op.dot) continue;
    if (exempt_single_replica && op.replicas < 2) continue;
    out.push_back(DurableTombstone{op.key, *op.dot, op.response_ms, -1, op.ToString()});
  }
  return out;
}

std::optional<DurableTombstone> ResurrectedPast(const std::vector<DurableTombstone>& tombstones,
                                                const SimDot& held, const Op* write) {
  std::optional<DurableTombstone> found;
  for (const DurableTombstone& t : tombstones) {
    if (!DotAfter(t.dot, held)) continue;
    if (write != nullptr && write->invoke_ms >= t.at_ms) continue;
    if (!found || DotAfter(t.dot, found->dot)) found = t;
  }
  return found;
}

}  // namespace causeway::sim
