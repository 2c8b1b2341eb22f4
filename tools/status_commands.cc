// `causeway status` (the cluster as the given nodes see it) and `causeway explain KEY` (every
// replica's version of one key).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/hlc.h"
#include "base/strings.h"
#include "base/token.h"
#include "tools/internal/client_flags.h"
#include "tools/internal/commands.h"
#include "tools/internal/progress.h"

namespace causeway::tools {
namespace {

using nlohmann::json;

struct StatusFlags {
  ClientFlags client;
  std::string key;  // explain only
};

// A member's state in words (docs/operations.md, "What `causeway status` shows"), most telling
// first: left, down, joining, leaving, bootstrapping (a replacement rebuilding its ranges),
// catching up (back from being away), up. "left" and "joining" are exact: scripts compare them.
std::string StateName(const cluster::MemberState& m, bool alive) {
  return std::string(cluster::MemberStateName(m, alive));
}

std::string MemberStatusName(cluster::MemberStatus s) {
  switch (s) {
    case cluster::MemberStatus::kUp:
      return "up";
    case cluster::MemberStatus::kJoining:
      return "joining";
    case cluster::MemberStatus::kLeaving:
      return "leaving";
    case cluster::MemberStatus::kLeft:
      return "left";
  }
  return "unknown";
}

// What a finished stream did, in words that name the operation rather than its phase (a script
// waiting for joins to end looks for "bootstrap" and "joining" in `status --json`).
std::string FinishedStream(const std::string& phase) {
  if (phase == "bootstrap") return "join";
  if (phase == "gain") return "range gain";
  return phase;  // "rebuild", "decommission"
}

// The answering node's own streaming: "active" with its phase while it runs; once done, what it
// was ("finished") and how it ended.
json StreamJson(const cluster::NodeCore::StreamStatus& st) {
  const bool active = !st.phase.empty() && !st.done;
  json out = {{"active", active},
              {"percent", PercentDown(st.fraction)},
              {"keys", st.keys},
              {"bytes", st.bytes},
              {"elapsed_ms", st.elapsed_ms}};
  if (active) {
    out["phase"] = st.phase;
  } else if (!st.phase.empty()) {
    out["finished"] = FinishedStream(st.phase);
    out["ok"] = st.status.ok();
    if (!st.status.ok()) out["error"] = st.status.ToString();
  }
  return out;
}

// The STREAM cell of the table: "-" when the node never streamed since it started.
std::string StreamCell(const json& row) {
  if (!row.contains("stream")) return "-";
  const json& st = row["stream"];
  if (st.value("active", false)) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "%s %.1f%% %llu keys %s", st.value("phase", "").c_str(),
                  st["percent"].get<double>(),
                  static_cast<unsigned long long>(st["keys"].get<uint64_t>()),
                  FormatBytes(st["bytes"].get<uint64_t>()).c_str());
    return buf;
  }
  if (!st.contains("finished")) return "-";
  return st["finished"].get<std::string>() + (st.value("ok", false) ? " done" : " failed");
}

std::string Hex(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// One row per member. Members come from the cluster view of the reachable nodes; keys and bytes
// only from nodes we asked ourselves. An endpoint we could not reach is shown as down.
// "ok", "below reserve" (data writes refused until space is freed), or the fail-stop's code.
std::string DiskState(const NodeStatusReply::Disk& d) {
  if (!d.fail_stop.ok()) return std::string(ErrorCodeName(d.fail_stop.code()));
  return d.below_reserve ? "below reserve" : "ok";
}

json CollectStatus(const ClientFlags& flags, const std::vector<std::string>& endpoints,
                   uint64_t timeout_ms) {
  std::map<NodeId, json> rows;
  json unreachable = json::array();
  auto row_for = [&](NodeId id) -> json& {
    json& row = rows[id];
    if (row.is_null()) row = {{"id", Hex(id)}};
    return row;
  };
  for (const auto& endpoint : endpoints) {
    ClientOptions options{{endpoint}, timeout_ms, std::min<uint64_t>(timeout_ms, 2000)};
    if (Status s = ApplyCredentials(flags, &options); !s.ok()) {
      unreachable.push_back({{"endpoint", endpoint}, {"error", s.ToString()}});
      continue;
    }
    Client client(std::move(options));
    auto reply = client.Status();
    if (!reply.ok()) {
      unreachable.push_back({{"endpoint", endpoint}, {"error", reply.status().ToString()}});
      continue;
    }
    for (const auto& m : reply->members) {
      json& row = row_for(m.state.id);
      if (row.contains("state")) continue;  // the first reachable node's view wins
      row["name"] = m.state.name;
      row["address"] = m.state.address;
      row["state"] = StateName(m.state, m.alive);
      row["member_status"] = MemberStatusName(m.state.status);
      row["alive"] = m.alive;
      row["tokens"] = m.state.tokens.size();
      row["ring_share"] = m.ring_share;
      row["generation"] = m.state.generation;
    }
    json& self = row_for(reply->id);
    self["name"] = reply->name;
    self["address"] = reply->address;
    // It just answered us: alive, whatever a view says; its own word on catching up.
    cluster::MemberState own;
    for (const auto& m : reply->members) {
      if (m.state.id == reply->id) own = m.state;
    }
    own.catching_up = reply->catching_up;
    self["state"] = StateName(own, true);
    self["member_status"] = MemberStatusName(own.status);
    self["alive"] = true;
    if (reply->stream) self["stream"] = StreamJson(*reply->stream);
    self["keys"] = reply->keys;
    self["bytes"] = reply->bytes;
    self["sync"] = reply->sync_mode;
    self["in_flight"] = reply->in_flight;
    self["concurrent_writes"] = reply->concurrent;  // losers dropped by flush/compaction
    self["read_repairs"] = reply->read_repairs;
    self["session_escalations"] = reply->session_escalations;
    self["concurrent_seen_by_reads"] = reply->concurrent_seen_by_reads;
    self["clock_skew_rejections"] = reply->clock_skew_rejections;
    self["catching_up"] = reply->catching_up;
    if (!reply->clock.state.empty()) {
      const auto& c = reply->clock;
      self["clock"] = {{"state", c.state},
                       {"median_peer_offset_ms", c.median_offset_ms},
                       {"sampled_peers", c.sampled_peers},
                       {"far_peers", c.far_peers},
                       {"threshold_ms", c.threshold_ms},
                       {"fences", c.fences},
                       {"jumps", c.jumps},
                       {"fenced_writes", c.fenced_writes},
                       {"description", c.description}};
    }
    if (reply->hints.known) {
      const auto& h = reply->hints;
      self["hints"] = {{"hinted_writes", h.hinted_writes},     {"stored", h.stored},
                       {"over_budget", h.over_budget},         {"replayed", h.replayed},
                       {"replay_failures", h.replay_failures}, {"dropped", h.dropped}};
    }
    if (reply->anti_entropy.known) {
      const auto& a = reply->anti_entropy;
      self["anti_entropy"] = {
          {"exchanges", a.exchanges},          {"exchange_failures", a.exchange_failures},
          {"keys_differed", a.keys_differed},  {"keys_pushed", a.keys_pushed},
          {"keys_pulled", a.keys_pulled},      {"bytes", a.bytes},
          {"protocol_bytes", a.protocol_bytes}};
    }
    if (reply->disk.known) {
      const auto& d = reply->disk;
      self["disk"] = {{"state", DiskState(d)},
                      {"free_bytes", d.free_bytes},
                      {"total_bytes", d.total_bytes},
                      {"pending_flush_bytes", d.pending_flush_bytes},
                      {"reserve_bytes", d.reserve_bytes},
                      {"below_reserve", d.below_reserve},
                      {"refused_writes", d.refused_writes},
                      {"fail_stop", d.fail_stop.ok() ? "" : d.fail_stop.ToString()},
                      {"fail_stops", d.fail_stops},
                      {"resumes", d.resumes},
                      {"log_lines_dropped", d.log_lines_dropped}};
    }
  }
  json nodes = json::array();
  for (auto& [id, row] : rows) nodes.push_back(std::move(row));
  for (const auto& u : unreachable) {
    bool listed = false;
    for (auto& row : nodes) {
      if (row.value("address", "") == u["endpoint"]) row["state"] = "down", listed = true;
    }
    if (!listed) nodes.push_back({{"address", u["endpoint"]}, {"state", "down"}});
  }
  return {{"nodes", nodes}, {"unreachable", unreachable}};
}

std::string Cell(const json& row, const char* field) {
  if (!row.contains(field)) return "-";
  const json& v = row[field];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1f%%", v.get<double>() * 100);
    return buf;
  }
  return v.dump();
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
  }
  auto print = [&](const std::vector<std::string>& row) {
    for (size_t c = 0; c < row.size(); ++c) {
      std::cout << row[c]
                << (c + 1 < row.size() ? std::string(width[c] - row[c].size() + 2, ' ') : "");
    }
    std::cout << "\n";
  };
  print(header);
  for (const auto& row : rows) print(row);
}

// Hinted handoff's and anti-entropy's counters since each node started, one table each, of the
// nodes that answered with them.
void PrintRepairCounters(const json& nodes) {
  std::vector<std::vector<std::string>> hints, aae;
  for (const auto& n : nodes) {
    if (!n.contains("hints") || !n.contains("anti_entropy")) continue;
    const json& h = n["hints"];
    const json& a = n["anti_entropy"];
    hints.push_back({Cell(n, "name"), Cell(h, "hinted_writes"), Cell(h, "stored"),
                     Cell(h, "replayed"), Cell(h, "replay_failures"), Cell(h, "over_budget"),
                     Cell(h, "dropped")});
    aae.push_back({Cell(n, "name"), Cell(a, "exchanges"), Cell(a, "exchange_failures"),
                   Cell(a, "keys_differed"), Cell(a, "keys_pushed"), Cell(a, "keys_pulled"),
                   Cell(a, "bytes"), Cell(a, "protocol_bytes")});
  }
  if (hints.empty()) return;
  std::cout << "\nHINTED HANDOFF (since start)\n";
  PrintTable({"NAME", "HINTED WRITES", "HINTS STORED", "REPLAYED", "REPLAY FAILURES", "OVER BUDGET",
              "DROPPED"},
             hints);
  std::cout << "\nANTI-ENTROPY (since start)\n";
  PrintTable({"NAME", "EXCHANGES", "FAILED", "KEYS DIFFERED", "PUSHED", "PULLED", "FIX BYTES",
              "PROTOCOL BYTES"},
             aae);
}

int RunStatus(const StatusFlags& flags) {
  auto endpoints = ParseEndpoints(flags.client.endpoints);
  if (!endpoints.ok()) return Fail(kExitUsage, endpoints.status().message());
  json status = CollectStatus(flags.client, *endpoints, flags.client.timeout_ms);
  if (flags.client.json) {
    std::cout << status.dump() << "\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : status["nodes"]) {
      std::string clock = "-";
      if (n.contains("clock")) {
        clock = n["clock"]["state"].get<std::string>();
        if (clock != "trusted") {
          clock += StrCat(" (", -n["clock"]["median_peer_offset_ms"].get<int64_t>(), " ms)");
        }
      }
      std::string disk = n.contains("disk") ? n["disk"]["state"].get<std::string>() : "-";
      rows.push_back({Cell(n, "name"), Cell(n, "address"), Cell(n, "state"), Cell(n, "tokens"),
                      Cell(n, "ring_share"), Cell(n, "keys"), Cell(n, "bytes"), clock, disk,
                      StreamCell(n), Cell(n, "id")});
    }
    PrintTable({"NAME", "ADDRESS", "STATE", "TOKENS", "SHARE", "KEYS", "BYTES", "CLOCK", "DISK",
                "STREAM", "ID"},
               rows);
    PrintRepairCounters(status["nodes"]);
  }
  if (status["unreachable"].size() == endpoints->size()) {
    return Fail(kExitUnavailable,
                "no node in --endpoints answered (" +
                    status["unreachable"][0]["error"].get<std::string>() + ")",
                "start a node (`causeway serve` or `causeway local up`) or fix --endpoints");
  }
  return kExitOk;
}

// ---- explain ---------------------------------------------------------------------------------

json ReplicaJson(const cluster::ReplicaVersion& r, const std::map<NodeId, std::string>& names) {
  auto name_of = [&](NodeId id) {
    auto it = names.find(id);
    return it == names.end() ? Hex(id) : it->second;
  };
  json out = {{"node", name_of(r.node)}, {"id", Hex(r.node)}};
  if (!r.status.ok()) {
    out["state"] = "error";
    out["error"] = r.status.ToString();
    return out;
  }
  if (!r.version) {
    out["state"] = "absent";
    return out;
  }
  const Version& v = *r.version;
  out["state"] = v.tombstone ? "tombstone" : "value";
  out["timestamp"] = v.timestamp;
  out["time"] = HlcUtcText(v.timestamp);
  out["writer"] = name_of(v.writer);
  out["tombstone"] = v.tombstone;
  out["value_bytes"] = v.value.size();
  out["value_xxh64"] = Hex(TokenOf(v.value));  // TokenOf is xxHash64 (seed 0) of the bytes
  json vv = json::object();
  for (const auto& [node, counter] : v.vv.entries()) vv[name_of(node)] = counter;
  out["vv"] = vv;
  return out;
}

json CollectExplain(Client& client, const std::string& key, const cluster::ExplainResult& result) {
  std::map<NodeId, std::string> names;
  if (auto status = client.Status(); status.ok()) {
    for (const auto& m : status->members) names[m.state.id] = m.state.name;
    names[status->id] = status->name;
  }
  json out;
  SetBytes(out, "key", key);
  out["token"] = Hex(result.token);
  json pref = json::array();
  for (NodeId id : result.preference_list) pref.push_back(names.count(id) ? names[id] : Hex(id));
  out["preference_list"] = pref;
  json replicas = json::array();
  for (const auto& r : result.replicas) replicas.push_back(ReplicaJson(r, names));
  out["replicas"] = replicas;
  return out;
}

void PrintExplain(const json& out) {
  std::cout << "key " << out.value("key", "(binary)") << "  token "
            << out["token"].get<std::string>() << "  preference list "
            << out["preference_list"].dump() << "\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : out["replicas"]) {
    std::string vv;
    if (r.contains("vv")) {
      for (const auto& [node, counter] : r["vv"].items()) {
        vv += (vv.empty() ? "" : ",") + node + ":" + counter.dump();
      }
    }
    std::string value = r.contains("value_xxh64") ? "xxh64:" + r["value_xxh64"].get<std::string>() +
                                                        " (" + r["value_bytes"].dump() + " B)"
                                                  : Cell(r, "error");
    const std::string hlc =
        r.contains("time") ? Cell(r, "time") + " (" + Cell(r, "timestamp") + ")" : "-";
    rows.push_back(
        {Cell(r, "node"), Cell(r, "state"), hlc, Cell(r, "writer"), value, vv.empty() ? "-" : vv});
  }
  PrintTable({"NODE", "STATE", "HLC", "WRITER", "VALUE", "VERSION VECTOR"}, rows);
}

int RunExplain(const StatusFlags& flags) {
  auto client = MakeClient(flags.client);
  if (!client.ok()) return Fail(kExitUsage, client.status().message());
  auto result = (*client)->Explain(flags.key);
  if (result.ok() && !result->status.ok()) result = result->status;
  if (!result.ok()) {
    return FailStatus("explain of key " + DescribeKey(flags.key) + " failed", result.status());
  }
  json out = CollectExplain(**client, flags.key, *result);
  if (flags.client.json) {
    std::cout << out.dump() << "\n";
  } else {
    PrintExplain(out);
  }
  return kExitOk;
}

}  // namespace

void AddStatusCommands(CLI::App& app, CommandSlot* slot) {
  auto status = std::make_shared<StatusFlags>();
  CLI::App* cmd = app.add_subcommand(
      "status",
      "Show the cluster's nodes: name, address, state (up, down, joining, leaving, left, "
      "bootstrapping, catching up), tokens, ring share, keys, bytes, and each answering node's "
      "streaming");
  AddClientFlags(cmd, &status->client, /*session=*/false);
  cmd->callback([status, slot] { *slot = [status] { return RunStatus(*status); }; });

  auto explain = std::make_shared<StatusFlags>();
  cmd = app.add_subcommand("explain", "Show every replica's version of a key");
  cmd->add_option("KEY", explain->key, "the key")->required();
  AddClientFlags(cmd, &explain->client, /*session=*/false);
  cmd->callback([explain, slot] { *slot = [explain] { return RunExplain(*explain); }; });
}

}  // namespace causeway::tools
