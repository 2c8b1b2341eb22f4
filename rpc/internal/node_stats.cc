#include "rpc/internal/node_stats.h"

#include "rpc/internal/node_host.h"

namespace causeway::rpc {

NodeStats CollectNodeStats(NodeHost& host) {
  NodeStats st;
  const cluster::NodeCore& core = host.core();
  st.name = host.config().name;
  st.address = host.config().address;
  st.id = core.id();
  st.engine = host.engine().GetStats();
  st.rocks = host.engine().GetRocksStats();
  st.counters = core.counters();
  st.clock = core.clock_status();
  st.catch_up = core.catch_up_status();
  st.stream = host.stream_status();
  st.members = core.Members(host.NowMs());
  st.client_in_flight = host.client_calls();
  st.peer_in_flight = host.peer_calls();
  st.peer_calls_out = host.peer_calls_out();
  st.connections = host.connections();
  st.refusals = host.refusals();
  st.clock_skew_rejections = host.hlc().rejected_updates() + st.counters.clock_skew_rejections;
  st.clock_lead_ms = host.hlc().LeadOverPhysicalMs();
  const bool streaming_in =
      !st.stream.done && (st.stream.phase == "bootstrap" || st.stream.phase == "rebuild");
  if (host.stopping()) {
    st.not_ready_reason = "draining";
  } else if (!core.Coordinating()) {
    st.not_ready_reason = "joining";
  } else if (st.stream.member_status == cluster::MemberStatus::kJoining || streaming_in) {
    st.not_ready_reason = "bootstrapping";
  } else if (st.catch_up.catching_up) {
    st.not_ready_reason = "catching up";
  } else if (st.stream.member_status == cluster::MemberStatus::kLeft) {
    st.not_ready_reason = "left";
  }
  st.ready = st.not_ready_reason.empty();
  return st;
}

}  // namespace causeway::rpc
