// capnp <-> causeway values, the status half (rpc/internal/convert.h): node status, counters,
// repair status, explain replies (stream status, with the member statuses it carries, stays in
// convert.cc). Requests, versions and membership are in convert.cc.
#include "rpc/internal/convert.h"
#include "rpc/internal/errors.h"

namespace causeway::rpc {

NodeStatusReply NodeStatusFromWire(wire::NodeStatus::Reader s) {
  NodeStatusReply out;
  out.id = s.getId();
  out.name = s.getName().cStr();
  out.address = s.getAddress().cStr();
  out.keys = s.getKeys();
  out.bytes = s.getBytes();
  out.sync_mode = s.getSyncMode().cStr();
  out.applied = s.getApplied();
  out.shadowed = s.getShadowed();
  out.concurrent = s.getConcurrent();
  out.in_flight = s.getInFlight();
  out.clock_skew_rejections = s.getClockSkewRejections();
  out.read_repairs = s.getReadRepairs();
  out.session_escalations = s.getSessionEscalations();
  out.concurrent_seen_by_reads = s.getConcurrentSeenByReads();
  for (auto member : s.getMembers()) out.members.push_back(rpc::MemberViewFromWire(member));
  if (s.hasClock()) {
    auto c = s.getClock();
    out.clock.state = c.getState().cStr();
    out.clock.median_offset_ms = c.getMedianOffsetMs();
    out.clock.sampled_peers = c.getSampledPeers();
    out.clock.far_peers = c.getFarPeers();
    out.clock.threshold_ms = c.getThresholdMs();
    out.clock.fences = c.getFences();
    out.clock.jumps = c.getJumps();
    out.clock.fenced_writes = c.getFencedWrites();
    out.clock.description = c.getDescription().cStr();
  }
  out.catching_up = s.getCatchingUp();
  if (s.hasDisk()) {
    auto d = s.getDisk();
    out.disk.known = true;
    out.disk.free_bytes = d.getFreeBytes();
    out.disk.total_bytes = d.getTotalBytes();
    out.disk.pending_flush_bytes = d.getPendingFlushBytes();
    out.disk.reserve_bytes = d.getReserveBytes();
    out.disk.below_reserve = d.getBelowReserve();
    out.disk.refused_writes = d.getRefusedWrites();
    if (d.hasFailStop()) out.disk.fail_stop = rpc::ErrorFromWire(d.getFailStop());
    out.disk.fail_stops = d.getFailStops();
    out.disk.resumes = d.getResumes();
    out.disk.log_lines_dropped = d.getLogLinesDropped();
  }
  if (s.hasHints()) {
    auto h = s.getHints();
    out.hints = {true,
                 h.getHintedWrites(),
                 h.getStored(),
                 h.getOverBudget(),
                 h.getReplayed(),
                 h.getReplayFailures(),
                 h.getDropped()};
  }
  if (s.hasStream()) out.stream = StreamStatusFromWire(s.getStream());
  if (s.hasAntiEntropy()) {
    auto a = s.getAntiEntropy();
    out.anti_entropy = {true,
                        a.getExchanges(),
                        a.getExchangeFailures(),
                        a.getKeysDiffered(),
                        a.getKeysPushed(),
                        a.getKeysPulled(),
                        a.getBytes(),
                        a.getProtocolBytes()};
  }
  return out;
}

void CountersToWire(const cluster::NodeCore::Counters& c, wire::NodeStatus::Builder out) {
  auto h = out.initHints();
  h.setHintedWrites(c.hinted_writes);
  h.setStored(c.hints_stored);
  h.setOverBudget(c.hints_over_budget);
  h.setReplayed(c.hints_replayed);
  h.setReplayFailures(c.hint_replay_failures);
  h.setDropped(c.hints_dropped);
  auto a = out.initAntiEntropy();
  a.setExchanges(c.aae_exchanges);
  a.setExchangeFailures(c.aae_exchange_failures);
  a.setKeysDiffered(c.aae_keys_differed);
  a.setKeysPushed(c.aae_keys_pushed);
  a.setKeysPulled(c.aae_keys_pulled);
  a.setBytes(c.aae_bytes);
  a.setProtocolBytes(c.aae_protocol_bytes);
}

void RepairStatusToWire(const cluster::NodeCore::RepairStatus& r, wire::RepairStatus::Builder out) {
  out.setKnown(r.known);
  out.setDone(r.done);
  if (!r.status.ok()) ErrorToWire(r.status, out.initError());
  out.setExchangesTotal(r.exchanges_total);
  out.setExchangesDone(r.exchanges_done);
  out.setExchangesFailed(r.exchanges_failed);
  out.setFraction(r.fraction);
  out.setKeysCompared(r.keys_compared);
  out.setKeysDiffered(r.keys_differed);
  out.setKeysWritten(r.keys_written);
  out.setBytes(r.bytes);
  out.setElapsedMs(r.elapsed_ms);
}

// A node's answer, trusted in shape but not in range: the fraction is clamped to 0..1.
cluster::NodeCore::RepairStatus RepairStatusFromWire(wire::RepairStatus::Reader in) {
  cluster::NodeCore::RepairStatus r;
  r.known = in.getKnown();
  r.done = in.getDone();
  if (in.hasError()) r.status = ErrorFromWire(in.getError());
  r.exchanges_total = in.getExchangesTotal();
  r.exchanges_done = in.getExchangesDone();
  r.exchanges_failed = in.getExchangesFailed();
  const double f = in.getFraction();
  r.fraction = f >= 0 && f <= 1 ? f : (f > 1 ? 1.0 : 0.0);  // NaN reads as 0
  r.keys_compared = in.getKeysCompared();
  r.keys_differed = in.getKeysDiffered();
  r.keys_written = in.getKeysWritten();
  r.bytes = in.getBytes();
  r.elapsed_ms = in.getElapsedMs();
  return r;
}

cluster::ExplainResult ExplainFromWire(capnp::Response<wire::Admin::ExplainResults>& r) {
  cluster::ExplainResult out;
  out.token = r.getToken();
  for (auto n : r.getPreferenceList()) out.preference_list.push_back(n);
  for (auto rv : r.getReplicas()) {
    cluster::ReplicaVersion v;
    v.node = rv.getNode();
    if (rv.isError()) {
      v.status = rpc::ErrorFromWire(rv.getError());
    } else if (rv.isVersion()) {
      auto version = rpc::VersionFromWire(rv.getVersion());
      if (version.ok()) {
        v.version = std::move(version).value();
      } else {
        v.status = version.status();
      }
    }
    out.replicas.push_back(std::move(v));
  }
  return out;
}

}  // namespace causeway::rpc
