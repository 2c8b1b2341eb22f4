#include "rpc/internal/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cctype>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include "base/build_info.h"
#include "rpc/internal/node_stats.h"

namespace causeway::rpc {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Latency buckets, seconds: 100 us (a cached local read) to 10 s (beyond every request deadline
// default), roughly 1-2.5-5 per decade.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return kBuckets;
}

// Builds the scrape-time families (numbers read from NodeStats, not recorded here).
class Families {
 public:
  explicit Families(std::vector<MetricFamily>* out) : out_(*out) {}

  void Counter(const char* name, const char* help, double value,
               std::vector<ClientMetric::Label> labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    m.counter.value = value;
    Family(name, help, MetricType::Counter).metric.push_back(std::move(m));
  }
  void Gauge(const char* name, const char* help, double value,
             std::vector<ClientMetric::Label> labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    m.gauge.value = value;
    Family(name, help, MetricType::Gauge).metric.push_back(std::move(m));
  }

 private:
  // The family named `name`, created on first use (a family with several label sets is built by
  // consecutive calls with the same name).
  MetricFamily& Family(const char* name, const char* help, MetricType type) {
    if (!out_.empty() && out_.back().name == name) return out_.back();
    out_.push_back(MetricFamily{name, help, type, {}});
    return out_.back();
  }
  std::vector<MetricFamily>& out_;
};

double D(uint64_t v) { return static_cast<double>(v); }

void AddCoreFamilies(const NodeStats& s, Families& f) {
  const auto& c = s.counters;
  f.Gauge("causeway_build_info", "Always 1; the labels name the release and the node.", 1,
          {{"version", std::string(kCausewayVersion)}, {"node", s.name}});
  f.Gauge("causeway_ready", "1 when /readyz answers 200 (joined and serving), else 0.",
          s.ready ? 1 : 0);
  f.Counter("causeway_coordinated_writes_total", "Client writes this node coordinated.",
            D(c.writes));
  f.Counter("causeway_coordinated_reads_total", "Client reads this node coordinated.", D(c.reads));
  f.Counter("causeway_coordinator_timeouts_total",
            "Coordinated requests that ran out of their deadline before enough replicas answered.",
            D(c.timeouts));
  f.Counter("causeway_read_repairs_total",
            "Replicas a coordinated read found stale and repaired with the winning version.",
            D(c.read_repairs));
  f.Counter("causeway_session_escalations_total",
            "Session reads that had to ask more replicas to see the session's own writes.",
            D(c.session_escalations));
  f.Counter("causeway_session_unavailable_total",
            "Session reads refused because no reachable replica had the session's writes.",
            D(c.session_unavailable));
  f.Counter("causeway_lww_shadowed_writes_total",
            "Versions that arrived after the version that beats them (late LWW losers).",
            D(s.engine.shadowed));
  f.Counter("causeway_lww_overwritten_writes_total",
            "Versions overwritten by a later winner (LWW losers written first).",
            D(s.engine.overwritten));
  f.Counter("causeway_concurrent_writes_total",
            "LWW losers that were causally concurrent with their winner (lost a race).",
            D(s.engine.concurrent));
  f.Counter("causeway_read_concurrent_versions_total",
            "Pairs of causally concurrent versions that successful reads received from replicas.",
            D(c.concurrent_seen));
  f.Counter("causeway_engine_applied_versions_total", "Versions written to the local engine.",
            D(s.engine.applied));
  f.Counter("causeway_tombstones_purged_total", "Tombstones compaction removed.",
            D(s.engine.tombstones_purged));
  // Clock.
  f.Counter("causeway_hlc_max_offset_rejections_total",
            "Timestamps rejected for being more than max_clock_offset_ms ahead of this clock.",
            D(s.clock_skew_rejections));
  f.Gauge("causeway_hlc_lead_seconds", "How far this node's HLC runs ahead of its wall clock.",
          D(s.clock_lead_ms) / 1000.0);
  f.Gauge("causeway_clock_median_peer_offset_seconds",
          "Median offset of the peers' wall clocks from this node's (clock monitor).",
          static_cast<double>(s.clock.median_offset_ms) / 1000.0);
  for (const char* state : {"trusted", "unverified", "fenced"}) {
    f.Gauge("causeway_clock_state", "1 for the clock monitor's current verdict.",
            s.clock.state == state ? 1 : 0, {{"state", state}});
  }
  f.Counter("causeway_clock_fences_total", "Times the clock monitor fenced this node's clock.",
            D(s.clock.fences));
  f.Counter("causeway_clock_fenced_writes_total",
            "Writes refused because the clock monitor did not trust the wall clock.",
            D(c.fenced_writes));
  // Ring.
  std::map<std::string, uint64_t> by_state;
  for (const char* st :
       {"up", "down", "joining", "leaving", "left", "bootstrapping", "catching up"}) {
    by_state[st] = 0;
  }
  for (const cluster::MemberView& m : s.members) {
    by_state[std::string(cluster::MemberStateName(m.state, m.alive))]++;
  }
  for (const auto& [state, n] : by_state) {
    f.Gauge("causeway_ring_members", "Ring members in this node's view, by state.", D(n),
            {{"state", state}});
  }
  // Load.
  f.Gauge("causeway_in_flight_requests", "Requests being answered now.", D(s.client_in_flight),
          {{"side", "client"}});
  f.Gauge("causeway_in_flight_requests", "Requests being answered now.", D(s.peer_in_flight),
          {{"side", "peer"}});
  f.Gauge("causeway_peer_calls_in_flight", "This node's calls to peers awaiting an answer.",
          D(s.peer_calls_out));
  f.Gauge("causeway_connections", "Open connections (clients and peers).", D(s.connections));
  const RefusalCounts& r = s.refusals;
  const char* closed =
      "Connections closed or refused by a budget or a failed handshake, by reason.";
  for (const auto& [reason, n] : {std::pair{"evicted_pre_auth", r.connections_evicted},
                                  {"refused_at_limit", r.connections_refused},
                                  {"handshake_timeout", r.handshake_timeouts},
                                  {"slow_frame", r.slow_frames},
                                  {"reply_budget", r.reply_budget},
                                  {"failed_auth", r.security_closes},
                                  {"tls_handshake", r.tls_failures}}) {
    f.Counter("causeway_connections_closed_total", closed, D(n), {{"reason", reason}});
  }
  const char* refused =
      "Handshake calls refused: peers without the secret or certificate, "
      "clients without credentials, failed logins.";
  f.Counter("causeway_auth_refusals_total", refused, D(r.peer_refusals), {{"who", "peer"}});
  f.Counter("causeway_auth_refusals_total", refused, D(r.client_refusals), {{"who", "client"}});
  f.Counter("causeway_auth_refusals_total", refused, D(r.login_failures), {{"who", "login"}});
  f.Gauge("causeway_catching_up", "1 while this node, back from being away, catches up.",
          s.catch_up.catching_up ? 1 : 0);
}

void AddStorageFamilies(const NodeStats& s, Families& f) {
  const auto& c = s.counters;
  const auto& e = s.engine;
  f.Gauge("causeway_keys", "RocksDB's estimate of the keys stored (data column family).",
          D(e.keys_estimate));
  f.Gauge("causeway_live_data_bytes", "SST, memtable and blob bytes of the data column family.",
          D(e.live_bytes));
  f.Gauge("causeway_disk_free_bytes", "Free bytes on the data dir's file system.",
          D(e.disk.free_bytes));
  f.Gauge("causeway_disk_total_bytes", "Size of the data dir's file system.",
          D(e.disk.total_bytes));
  f.Gauge("causeway_disk_below_reserve", "1 while free space is below disk_reserve_mb.",
          e.disk.below_reserve ? 1 : 0);
  f.Counter("causeway_disk_refused_writes_total", "Writes refused below the disk reserve.",
            D(e.disk.refused_writes));
  f.Gauge("causeway_engine_fail_stopped", "1 while writes are fail-stopped after a disk error.",
          e.fail_stop.ok() ? 0 : 1);
  f.Counter("causeway_engine_fail_stops_total", "Times writes were fail-stopped by a disk error.",
            D(e.fail_stops));
  const auto& r = s.rocks;
  f.Gauge("causeway_rocksdb_pending_compaction_bytes",
          "Bytes RocksDB estimates compaction must rewrite (all column families).",
          D(r.pending_compaction_bytes));
  f.Gauge("causeway_rocksdb_memtable_bytes", "Bytes in memtables (all column families).",
          D(r.memtable_bytes));
  f.Gauge("causeway_rocksdb_block_cache_bytes", "Bytes in use in the block cache.",
          D(r.block_cache_bytes));
  f.Gauge("causeway_rocksdb_block_cache_capacity_bytes", "The block cache's capacity.",
          D(r.block_cache_capacity_bytes));
  f.Gauge("causeway_rocksdb_live_sst_bytes", "Bytes of live SST files (all column families).",
          D(r.live_sst_bytes));
  f.Counter("causeway_rocksdb_write_stalls_total",
            "Write slowdowns and stops RocksDB imposed since the node started.", D(r.write_stalls));
  f.Gauge("causeway_rocksdb_write_stopped", "1 while RocksDB stops writes.",
          r.write_stopped ? 1 : 0);
  f.Gauge("causeway_rocksdb_running_compactions", "Compactions running now.",
          D(r.running_compactions));
  // Hinted handoff.
  f.Gauge("causeway_hints_pending", "Hints this node holds for replicas that were down.",
          D(e.hints));
  f.Gauge("causeway_hints_pending_bytes", "Bytes of the hints this node holds.", D(e.hint_bytes));
  f.Counter("causeway_hinted_writes_total", "Writes sent to a stand-in for a down replica.",
            D(c.hinted_writes));
  f.Counter("causeway_hints_stored_total", "Hints this node stored as a stand-in.",
            D(c.hints_stored));
  f.Counter("causeway_hints_delivered_total", "Hints replayed to their target and deleted.",
            D(c.hints_replayed));
  f.Counter("causeway_hints_dropped_total",
            "Hints refused over the target's budget or dropped below its tombstone watermark.",
            D(c.hints_over_budget + c.hints_dropped));
  f.Counter("causeway_hint_replay_failures_total", "Hint replays that failed (hint kept).",
            D(c.hint_replay_failures));
  // Anti-entropy.
  f.Counter("causeway_anti_entropy_exchanges_total", "Anti-entropy (range, peer) exchanges.",
            D(c.aae_exchanges), {{"result", "done"}});
  f.Counter("causeway_anti_entropy_exchanges_total", "Anti-entropy (range, peer) exchanges.",
            D(c.aae_exchange_failures), {{"result", "failed"}});
  f.Counter("causeway_anti_entropy_keys_differed_total",
            "Keys whose replicas held different winners.", D(c.aae_keys_differed));
  f.Counter("causeway_anti_entropy_keys_repaired_total", "Winners written by anti-entropy.",
            D(c.aae_keys_pushed), {{"direction", "pushed"}});
  f.Counter("causeway_anti_entropy_keys_repaired_total", "Winners written by anti-entropy.",
            D(c.aae_keys_pulled), {{"direction", "pulled"}});
  f.Counter("causeway_anti_entropy_bytes_total", "Bytes of versions anti-entropy moved.",
            D(c.aae_bytes));
  f.Counter("causeway_anti_entropy_protocol_bytes_total",
            "Spans, hashes and digests anti-entropy exchanged (an estimate).",
            D(c.aae_protocol_bytes));
  // Streaming.
  f.Counter("causeway_stream_received_bytes_total", "Bytes of versions received by streaming.",
            D(c.stream_bytes));
  f.Counter("causeway_stream_received_keys_total", "Keys received by streaming.", D(c.stream_keys));
  f.Counter("causeway_stream_pages_served_total", "Stream pages served to other nodes.",
            D(c.stream_pages_served));
  f.Counter("causeway_pending_replica_writes_total",
            "Writes also sent to pending replicas (joining nodes, gainers of a leaver's ranges).",
            D(c.pending_writes));
  const bool active = !s.stream.phase.empty() && !s.stream.done;
  f.Gauge("causeway_stream_active", "1 while this node streams (bootstrap, rebuild, gain, ...).",
          active ? 1 : 0, {{"phase", s.stream.phase}});
  f.Gauge("causeway_stream_progress_ratio", "Fraction of this node's current stream done.",
          s.stream.fraction);
}

}  // namespace

std::string OutcomeLabel(ErrorCode code) {
  std::string_view name = ErrorCodeName(code);
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    const char ch = name[i];
    if (std::isupper(static_cast<unsigned char>(ch)) != 0 && i > 0 && code != ErrorCode::kOk) {
      out += '_';
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return out;
}

struct Metrics::Impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>* requests[2] = {nullptr, nullptr};
  prometheus::Family<prometheus::Histogram>* durations[2] = {nullptr, nullptr};
  struct Series {
    prometheus::Counter* count = nullptr;
    prometheus::Histogram* duration = nullptr;
  };
  // (side, op, outcome) -> its series: a map lookup per request instead of prometheus-cpp's
  // label hashing. A handful of entries (ops x outcomes seen).
  std::map<std::tuple<int, std::string, ErrorCode>, Series, std::less<>> series;

  Impl() {
    const char* names[2] = {"causeway_client_requests_total", "causeway_peer_requests_total"};
    const char* helps[2] = {"Client requests answered, by operation and outcome.",
                            "Peers' requests answered, by operation and outcome."};
    const char* hist[2] = {"causeway_client_request_duration_seconds",
                           "causeway_peer_request_duration_seconds"};
    const char* hist_help[2] = {
        "Client request latency from admission to answer, by operation and outcome.",
        "Latency of answering a peer's request, by operation and outcome."};
    for (int i = 0; i < 2; ++i) {
      requests[i] = &prometheus::BuildCounter().Name(names[i]).Help(helps[i]).Register(registry);
      durations[i] =
          &prometheus::BuildHistogram().Name(hist[i]).Help(hist_help[i]).Register(registry);
    }
  }
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::ObserveRequest(Side side, std::string_view op, ErrorCode outcome, double seconds) {
  const int i = side == Side::kClient ? 0 : 1;
  auto key = std::make_tuple(i, std::string(op), outcome);
  auto it = impl_->series.find(key);
  if (it == impl_->series.end()) {
    const prometheus::Labels labels = {{"op", std::string(op)}, {"outcome", OutcomeLabel(outcome)}};
    Impl::Series s;
    s.count = &impl_->requests[i]->Add(labels);
    s.duration = &impl_->durations[i]->Add(labels, LatencyBuckets());
    it = impl_->series.emplace(std::move(key), s).first;
  }
  it->second.count->Increment();
  it->second.duration->Observe(seconds);
}

std::string Metrics::Render(const NodeStats& stats) {
  std::vector<MetricFamily> families = impl_->registry.Collect();
  Families f(&families);
  AddCoreFamilies(stats, f);
  AddStorageFamilies(stats, f);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace causeway::rpc
