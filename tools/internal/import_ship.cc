// The import fast path: tools/internal/import_ship.h.
#include "tools/internal/import_ship.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "base/limits.h"
#include "base/strings.h"
#include "engine/ingest_file.h"
#include "rpc/client.h"

namespace causeway::tools {

Result<ImportCluster> FetchImportCluster(const std::vector<std::string>& endpoints,
                                         uint64_t timeout_ms) {
  ClientOptions o;
  o.endpoints = endpoints;
  o.timeout_ms = timeout_ms;
  ImportCluster out;
  // Its own thread: the caller may hold a Client on this one.
  Result<NodeStatusReply> st = Status::Internal("not run");
  std::thread([&] {
    Client client(o);
    st = client.Status();
  }).join();
  if (!st.ok()) return st.status();
  std::map<NodeId, std::vector<Token>> tokens;
  for (const cluster::MemberView& m : st->members) {
    if (m.state.status == cluster::MemberStatus::kLeft || m.state.tokens.empty()) continue;
    out.nodes[m.state.id] = ImportNode{m.state.id, m.state.name, m.state.address, m.alive};
    tokens[m.state.id] = m.state.tokens;
  }
  if (tokens.empty()) return Status::Unavailable("the cluster's ring is empty");
  out.ring.Assign(std::move(tokens));
  return out;
}

namespace {

uint64_t SessionId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng() | 1;
}

// Builds `pick`'s SST, sends it in chunks and has the replica ingest it.
void ShipOne(const ImportNode& node, const std::vector<IngestRow>& rows, std::vector<uint32_t> pick,
             const std::string& path, ShipNodeResult* out) {
  Result<IngestFileInfo> info = WriteIngestFile(path, rows, std::move(pick));
  if (!info.ok()) {
    out->failed = true;
    out->error = StrCat("building the SST: ", info.status().ToString());
    return;
  }
  if (info->entries == 0) return;
  out->bytes = info->bytes;
  ClientOptions o;
  o.endpoints = {node.address};
  o.timeout_ms = kImportChunkTimeoutMs;
  o.attempt_timeout_ms = kImportChunkTimeoutMs;
  Client client(o);
  const uint64_t session = SessionId();
  std::ifstream in(path, std::ios::binary);
  std::string chunk(kIngestChunkBytesMax, '\0');
  uint64_t offset = 0;
  while (true) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto n = static_cast<size_t>(in.gcount());
    const bool last = offset + n >= info->bytes;
    Result<uint64_t> r =
        client.IngestChunk(session, offset, std::string_view(chunk.data(), n), last);
    if (!r.ok()) {
      out->failed = true;
      out->error = r.status().ToString();
      (void)client.AbortIngest(session);
      break;
    }
    offset += n;
    if (last) {
      out->entries = *r;
      break;
    }
  }
  in.close();
  std::remove(path.c_str());
}

std::map<NodeId, ShipNodeResult> Ship(const ImportCluster& cluster, int rf,
                                      const std::vector<IngestRow>& rows,
                                      const std::string& work_dir, uint64_t batch,
                                      const std::set<NodeId>& down,
                                      const std::set<NodeId>& exclude) {
  std::map<NodeId, std::vector<uint32_t>> picks;
  for (uint32_t i = 0; i < rows.size(); ++i) {
    for (NodeId n : cluster.ring.PreferenceList(TokenOf(rows[i].key), rf)) {
      if (exclude.count(n) == 0) picks[n].push_back(i);
    }
  }
  std::map<NodeId, ShipNodeResult> results;
  std::vector<std::thread> threads;
  for (auto& [id, pick] : picks) {
    ShipNodeResult& r = results[id];
    r.rows = pick.size();
    auto node = cluster.nodes.find(id);
    if (node == cluster.nodes.end() || !node->second.alive || down.count(id) != 0) {
      r.failed = true;
      r.error = "down";
      continue;
    }
    const std::string path = StrCat(work_dir, "/causeway-import-", ::getpid(), "-", batch, "-",
                                    node->second.name, ".sst");
    threads.emplace_back(ShipOne, std::cref(node->second), std::cref(rows), std::move(pick), path,
                         &r);
  }
  for (std::thread& t : threads) t.join();
  return results;
}

}  // namespace

std::map<NodeId, ShipNodeResult> ShipRows(const ImportCluster& cluster, int rf,
                                          const std::vector<IngestRow>& rows,
                                          const std::string& work_dir, uint64_t batch,
                                          const std::set<NodeId>& down) {
  return Ship(cluster, rf, rows, work_dir, batch, down, {});
}

std::map<NodeId, ShipNodeResult> ShipRowsExcluding(const ImportCluster& cluster, int rf,
                                                   const std::vector<IngestRow>& rows,
                                                   const std::string& work_dir, uint64_t batch,
                                                   const std::set<NodeId>& exclude) {
  return Ship(cluster, rf, rows, work_dir, batch, {}, exclude);
}

}  // namespace causeway::tools
