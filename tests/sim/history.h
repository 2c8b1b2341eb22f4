// The history a simulation records (one entry per client operation) and the checkers that judge
// it. Plain values; no simulator types, so the checkers can be tested on hand-written histories.
//
// Versions are compared by their dot (timestamp, writer) in the LWW order of engine/version.h;
// "no version" (a read that found nothing anywhere) is the bottom, below every dot. The exact
// definitions of each guarantee are in docs/design.md, "Checkers", and next to each checker.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/version.h"

namespace causeway::sim {

struct SimDot {
  Hlc timestamp = 0;
  NodeId writer = 0;
  bool operator==(const SimDot&) const = default;
};
// The LWW order on dots: true if a comes strictly after b. nullopt is below every dot.
bool DotAfter(const std::optional<SimDot>& a, const std::optional<SimDot>& b);
std::string DotString(const std::optional<SimDot>& d);

enum class OpKind { kRead, kWrite, kDelete };
enum class OpOutcome {
  kPending,
  kOk,             // the coordinator answered ok
  kFailed,         // the coordinator answered an error (unavailable, timeout, ...)
  kIndeterminate,  // no answer before the client gave up (coordinator crashed): may have happened
};

struct Op {
  int session = 0;
  uint64_t seq = 0;  // position in the session
  OpKind kind = OpKind::kRead;
  std::string key;
  std::string value;  // written value (writes), or value read (reads)
  int coordinator = 0;
  int replicas = 0;  // R or W resolved against rf (0: unresolved/invalid)
  uint64_t invoke_ms = 0;
  uint64_t response_ms = 0;
  OpOutcome outcome = OpOutcome::kPending;
  ErrorCode code = ErrorCode::kOk;
  // Write: the dot written. Read: the winning dot, nullopt when no replica had the key.
  std::optional<SimDot> dot;
  bool tombstone = false;        // the version read or written is a tombstone
  bool nothing_written = false;  // failed, and the coordinator said nothing was written

  bool is_write() const { return kind != OpKind::kRead; }
  bool ok() const { return outcome == OpOutcome::kOk; }
  std::string ToString() const;
};

// Session guarantees, one session at a time (each session is sequential, so its operations in
// history order are its program order). Only operations answered ok take part.
//   read-your-writes:   a read of k after a write of k returns a dot >= the write's dot;
//   monotonic reads:    a read of k returns a dot >= every dot an earlier read of k returned;
//   monotonic writes:   a write's timestamp is > the timestamp of every earlier write (any key);
//   writes-follow-reads: a write's timestamp is > the timestamp of every dot read earlier (any
//                       key).
// Returns one line per violation (empty: none).
std::vector<std::string> CheckSessionGuarantees(const std::vector<Op>& history);

// Integrity: no two acknowledged writes share a dot; every value a read returns was written by
// some write invocation of that key, and if that write was acknowledged the read's dot is the
// write's dot (no invented or mixed versions).
std::vector<std::string> CheckReadIntegrity(const std::vector<Op>& history);

// Clocks (docs/design.md, "Clock offsets and the fence"). Times are the simulation's true time
// (ms since the run's epoch `epoch_ms` of the wall clocks); `slack_ms` bounds the pairwise offset
// of the clocks allowed to stamp (2 x the fence threshold) plus network margin.
//   real-time order: an acknowledged write of k invoked more than slack_ms after another
//     acknowledged write of k was answered has the later dot (else it was acknowledged and then
//     silently lost to the older one: what a clock behind the cluster does under plain LWW);
//   true stamps: every acknowledged write's timestamp lies within slack_ms of the true time
//     between its invocation and its answer (a fenced clock stamps nothing).
std::vector<std::string> CheckRealTimeOrder(const std::vector<Op>& history, uint64_t slack_ms);
std::vector<std::string> CheckStampsNearTrueTime(const std::vector<Op>& history, uint64_t epoch_ms,
                                                 uint64_t slack_ms);

// The newest acknowledged write of each key that the durability rule says must survive
// (docs/design.md, "No acknowledged write lost"). `exempt_single_replica`: writes acknowledged
// by only one replica (W=1) are exempt, because that replica may lose them on power loss.
struct KeyFloor {
  std::string key;
  SimDot dot;
  const Op* write = nullptr;
};
std::vector<KeyFloor> NewestAcknowledgedWrites(const std::vector<Op>& history,
                                               bool exempt_single_replica);

// No deleted key resurrected (docs/design.md, "Checkers"). A tombstone is durable from true time
// at_ms on: an acknowledged delete the durability rule protects from its answer, or (found by the
// simulator in the engines) a tombstone applied on an `always` node or synced on a `periodic` one.
struct DurableTombstone {
  std::string key;
  SimDot dot;
  uint64_t at_ms = 0;
  int node = -1;       // the node it was durable on (-1: an acknowledged delete, on W replicas)
  std::string source;  // what made it durable, for the report
};
// The acknowledged deletes that must survive, by the same rule as NewestAcknowledgedWrites.
std::vector<DurableTombstone> ProtectedDeletes(const std::vector<Op>& history,
                                               bool exempt_single_replica);
// A replica holding the live version `held` of a key resurrects the deleted key when one of the
// key's durable tombstones is newer (LWW) than `held` and the write of `held` was invoked before
// that tombstone was durable (a write begun later that lost to the tombstone's clock is not a
// resurrection; the real-time checker judges it). `write`: the history entry of `held`'s value,
// null if unknown (then it counts as invoked before every tombstone). Returns the newest such
// tombstone, or nullopt.
std::optional<DurableTombstone> ResurrectedPast(const std::vector<DurableTombstone>& tombstones,
                                                const SimDot& held, const Op* write);

}  // namespace causeway::sim
