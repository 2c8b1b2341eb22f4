// `causeway offline check|compact|hints export|hints import` (docs/operations.md, "After a crash:
// the offline tool"): work on the data dirs of stopped nodes, no cluster needed (hints import
// talks to a live one). `offline repair` lives in tools/offline_repair.cc.
//
// A dir a running node holds is refused (its RocksDB LOCK): exit 3. check exits 0 when healthy,
// 4 with a summary of what is damaged.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/hlc.h"
#include "base/limits.h"
#include "base/strings.h"
#include "engine/engine.h"
#include "tools/internal/client_flags.h"
#include "tools/internal/commands.h"
#include "tools/internal/import_ship.h"
#include "tools/internal/progress.h"

namespace causeway::tools {
namespace {

using nlohmann::json;

uint64_t WallMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

double TokenFraction(Token t) { return static_cast<double>(t) / 18446744073709551616.0; }

struct CheckFlags {
  std::string dir;
  bool json = false;
  bool all_blocks = false;
  uint64_t grace_s = kTombstoneGraceMsDefault / 1000;
};

int RunCheck(const CheckFlags& f) {
  ProgressLine progress(std::cerr, STDERR_FILENO, kOfflinePlainProgressMs);
  const Hlc watermark = HlcMake(WallMs() - f.grace_s * 1000, 0);
  const auto start = std::chrono::steady_clock::now();
  Result<OfflineCheckReport> r =
      CheckDataDir(f.dir, watermark, f.all_blocks, [&](Token reached, uint64_t keys) {
        if (!progress.Due(false)) return;
        const double frac = TokenFraction(reached);
        progress.Draw(frac,
                      StrCat(keys, " keys  ", PerSecond(keys, progress.elapsed_ms()),
                             " keys/s  ETA ", FormatEta(frac, progress.elapsed_ms())),
                      false);
      });
  if (!r.ok()) return FailStatus(StrCat("offline check ", f.dir), r.status());
  const auto ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - start)
                                            .count());
  progress.Draw(1.0, StrCat(r->keys, " keys"), true);
  const double mb_s =
      ms == 0 ? 0.0
              : static_cast<double>(r->file_bytes) / (1 << 20) / (static_cast<double>(ms) / 1000.0);
  json hints = json::array();
  for (const OfflineHintTarget& h : r->hints) {
    hints.push_back({{"target", h.target}, {"hints", h.hints}, {"bytes", h.bytes}});
  }
  json corrupt = json::array();
  for (const OfflineCorruption& c : r->corrupt) {
    json o = {{"where", c.where}, {"reason", c.reason}};
    SetBytes(o, "key", c.key);
    if (c.key_damaged) o["key_damaged"] = true;
    if (!c.nearby_keys.empty()) {
      json near = json::array();
      for (const std::string& k : c.nearby_keys) near.push_back(DescribeKey(k));
      o["nearby_keys"] = near;
    }
    corrupt.push_back(o);
  }
  if (f.json) {
    json j = {{"dir", f.dir},
              {"healthy", r->corrupt.empty()},
              {"node_name", r->node_name},
              {"keys", r->keys},
              {"bytes", r->bytes},
              {"tombstones", r->tombstones},
              {"tombstones_purgeable", r->tombstones_purgeable},
              {"hints", hints},
              {"hlc_ceiling_ms", r->hlc_ceiling_ms},
              {"file_bytes", r->file_bytes},
              {"elapsed_ms", ms},
              {"corrupt", corrupt}};
    char rate[32];
    std::snprintf(rate, sizeof(rate), "%.1f", mb_s);
    j["scan_mb_per_s"] = std::stod(rate);
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "data dir " << f.dir << " (node " << (r->node_name.empty() ? "?" : r->node_name)
              << ")\n"
              << "  keys " << r->keys << ", " << FormatBytes(r->bytes) << "; tombstones "
              << r->tombstones << " (" << r->tombstones_purgeable << " purgeable)\n"
              << "  HLC ceiling " << r->hlc_ceiling_ms << " ms; scanned "
              << FormatBytes(r->file_bytes) << " in " << FormatDuration(ms) << "\n";
    for (const OfflineHintTarget& h : r->hints) {
      std::cout << "  hints for node " << h.target << ": " << h.hints << " ("
                << FormatBytes(h.bytes) << ")\n";
    }
    for (const OfflineCorruption& c : r->corrupt) {
      std::cout << "  CORRUPT " << c.where
                << (c.key.empty() ? std::string() : " key " + DescribeKey(c.key)) << ": "
                << c.reason << "\n";
    }
    std::cout << (r->corrupt.empty()
                      ? "healthy\n"
                      : StrCat(r->corrupt.size(), " corrupt record(s) or file(s)\n"));
  }
  if (!r->corrupt.empty()) {
    return Fail(kExitError, StrCat(f.dir, ": ", r->corrupt.size(), " corruption(s) found"),
                "repair the keys from healthy replicas: `causeway offline repair` with the other "
                "replicas' dirs, or restore the node and run `causeway repair`");
  }
  return kExitOk;
}

struct CompactFlags {
  std::string dir;
  bool json = false;
  uint64_t grace_s = kTombstoneGraceMsDefault / 1000;
  uint64_t watermark_ms = 0;  // 0: now - grace
};

int RunCompact(const CompactFlags& f) {
  Result<std::unique_ptr<Engine>> engine = OpenOffline(f.dir);
  if (!engine.ok()) return FailStatus(StrCat("offline compact ", f.dir), engine.status());
  Engine& e = **engine;
  const uint64_t wm_ms = f.watermark_ms != 0 ? f.watermark_ms : WallMs() - f.grace_s * 1000;
  const EngineStats before = e.GetStats();
  std::cerr << "compacting " << f.dir << " (" << FormatBytes(before.live_bytes)
            << "), purging tombstones older than " << wm_ms << " ms...\n";
  e.SetTombstoneWatermark(HlcMake(wm_ms, 0));
  const auto start = std::chrono::steady_clock::now();
  // Twice: the first folds each key's merge operands into one full record; the tombstone filter
  // only judges full records (engine/internal/tombstone_filter.h), so the second purges.
  for (int pass = 0; pass < 2; ++pass) {
    if (Status s = e.CompactData(); !s.ok()) return FailStatus("offline compact", s);
  }
  const EngineStats after = e.GetStats();
  const auto ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - start)
                                            .count());
  if (f.json) {
    std::cout << json{{"dir", f.dir},
                      {"bytes_before", before.live_bytes},
                      {"bytes_after", after.live_bytes},
                      {"tombstones_purged", after.tombstones_purged},
                      {"watermark_ms", wm_ms},
                      {"elapsed_ms", ms}}
                     .dump()
              << "\n";
  } else {
    std::cout << "compacted " << f.dir << ": " << FormatBytes(before.live_bytes) << " -> "
              << FormatBytes(after.live_bytes) << ", " << after.tombstones_purged
              << " tombstones purged, in " << FormatDuration(ms) << "\n";
  }
  return kExitOk;
}

// ---- hints ------------------------------------------------------------------------------------

struct HintsFlags {
  std::string dir, out, in;
  std::string endpoints{kDefaultEndpoint};
  int rf = 3;
  std::string work_dir;
};

json VersionJson(std::string_view key, const Version& v) {
  json vv = json::array();
  for (const auto& [n, c] : v.vv.entries()) vv.push_back({n, c});
  return {{"key_base64", Base64Encode(key)},
          {"timestamp", v.timestamp},
          {"writer", v.writer},
          {"vv", vv},
          {"tombstone", v.tombstone},
          {"value_base64", Base64Encode(v.value)}};
}

int RunHintsExport(const HintsFlags& f) {
  Result<std::unique_ptr<Engine>> engine = OpenOffline(f.dir);
  if (!engine.ok()) return FailStatus(StrCat("offline hints export ", f.dir), engine.status());
  std::ofstream out(f.out, std::ios::trunc);
  if (!out) return Fail(kExitUsage, StrCat("cannot write ", f.out));
  uint64_t total = 0;
  for (const HintTargetBytes& t : (*engine)->HintTargets()) {
    std::string after;
    while (true) {
      Result<HintScanEnd> end = (*engine)->ScanHints(t.target, after, 4 << 20,
                                                     [&](std::string_view key, const Version& v) {
                                                       json j = VersionJson(key, v);
                                                       j["target"] = t.target;
                                                       out << j.dump() << "\n";
                                                       ++total;
                                                       return true;
                                                     });
      if (!end.ok()) return FailStatus("offline hints export", end.status());
      if (end->exhausted || end->hints == 0) break;
      after = end->last_key;
    }
  }
  out.close();
  if (!out) return Fail(kExitError, StrCat("writing ", f.out, " failed"));
  std::cout << "exported " << total << " hints to " << f.out << "\n";
  return kExitOk;
}

int RunHintsImport(const HintsFlags& f);

}  // namespace

// Decodes one line of a hints export (tools/offline_commands.cc; docs/formats.md).
Result<IngestRow> DecodeHintLine(const std::string& line);

namespace {

int RunHintsImport(const HintsFlags& f) {
  Result<std::vector<std::string>> endpoints = ParseEndpoints(f.endpoints);
  if (!endpoints.ok()) return FailStatus("offline hints import", endpoints.status());
  std::ifstream in(f.in);
  if (!in) return Fail(kExitUsage, StrCat("cannot read ", f.in));
  std::vector<IngestRow> rows;
  std::string line;
  uint64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    Result<IngestRow> row = DecodeHintLine(line);
    if (!row.ok()) return Fail(kExitUsage, StrCat(f.in, " line ", n, ": ", row.status().message()));
    rows.push_back(std::move(*row));
  }
  Result<ImportCluster> cluster = FetchImportCluster(*endpoints, kRequestTimeoutMsDefault);
  if (!cluster.ok()) return FailStatus("offline hints import: reading the ring", cluster.status());
  const std::string work_dir =
      !f.work_dir.empty() ? f.work_dir
                          : (std::getenv("TMPDIR") != nullptr ? std::getenv("TMPDIR") : "/tmp");
  std::map<NodeId, ShipNodeResult> shipped = ShipRows(*cluster, f.rf, rows, work_dir, 0, {});
  int failed = 0;
  for (const auto& [id, r] : shipped) {
    const std::string name = cluster->nodes.count(id) ? cluster->nodes.at(id).name : StrCat(id);
    if (r.failed) {
      ++failed;
      std::cout << "replica " << name << ": not ingested (" << r.error
                << "): left to anti-entropy\n";
    } else {
      std::cout << "replica " << name << ": " << r.entries << " versions ingested\n";
    }
  }
  std::cout << "salvaged " << rows.size() << " hints\n";
  return failed == 0 ? kExitOk : kExitUnavailable;
}

}  // namespace

Result<IngestRow> DecodeHintLine(const std::string& line) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("not a JSON object");
  IngestRow row;
  try {
    auto b64 = [](const std::string& s) {
      std::string out;
      uint32_t acc = 0;
      int bits = 0;
      for (char c : s) {
        int v = -1;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        if (c >= '0' && c <= '9') v = c - '0' + 52;
        if (c == '+') v = 62;
        if (c == '/') v = 63;
        if (v < 0) break;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
      }
      return out;
    };
    row.key = b64(j.at("key_base64").get<std::string>());
    row.version.timestamp = j.at("timestamp").get<uint64_t>();
    row.version.writer = j.at("writer").get<uint64_t>();
    for (const json& e : j.at("vv"))
      row.version.vv.Advance(e.at(0).get<uint64_t>(), e.at(1).get<uint64_t>());
    row.version.tombstone = j.at("tombstone").get<bool>();
    row.version.value = b64(j.at("value_base64").get<std::string>());
  } catch (const json::exception& e) {
    return Status::InvalidArgument(e.what());
  }
  if (Status s = ValidateKey(row.key); !s.ok()) return s;
  if (Status s = ValidateVersion(row.version); !s.ok()) return s;
  return row;
}

void AddOfflineCommands(CLI::App& app, CommandSlot* slot) {
  CLI::App* offline = app.add_subcommand(
      "offline", "Check, repair and compact the data dirs of stopped nodes (no cluster needed)");
  offline->require_subcommand(1);

  auto check = std::make_shared<CheckFlags>();
  CLI::App* cmd = offline->add_subcommand(
      "check",
      "Verify every record's checksum and format; report keys, tombstones, hints, the "
      "HLC ceiling, the node, and each corrupt record with its key");
  cmd->add_option("--data-dir", check->dir, "the stopped node's data dir")->required();
  cmd->add_option("--grace-s", check->grace_s, "tombstones older than this are purgeable")
      ->capture_default_str();
  cmd->add_flag("--all-blocks", check->all_blocks,
                "also verify every file's every block first (index and filter blocks too): a "
                "second read of the whole dir");
  cmd->add_flag("--json", check->json, "print one JSON object");
  cmd->callback([check, slot] { *slot = [check] { return RunCheck(*check); }; });

  AddOfflineRepairCommand(*offline, slot);

  auto compact = std::make_shared<CompactFlags>();
  cmd = offline->add_subcommand(
      "compact", "Fully compact a stopped node's data, purging tombstones below the watermark");
  cmd->add_option("--data-dir", compact->dir, "the stopped node's data dir")->required();
  cmd->add_option("--grace-s", compact->grace_s, "purge tombstones older than this")
      ->capture_default_str();
  cmd->add_option("--watermark-ms", compact->watermark_ms,
                  "purge tombstones stamped before this time (ms since the epoch) instead");
  cmd->add_flag("--json", compact->json, "print one JSON object");
  cmd->callback([compact, slot] { *slot = [compact] { return RunCompact(*compact); }; });

  CLI::App* hints = offline->add_subcommand("hints", "Salvage a dead node's hints");
  hints->require_subcommand(1);
  auto hx = std::make_shared<HintsFlags>();
  cmd = hints->add_subcommand("export", "Write a stopped node's hints to a JSONL file");
  cmd->add_option("--data-dir", hx->dir, "the stopped node's data dir")->required();
  cmd->add_option("--out", hx->out, "the file to write")->required();
  cmd->callback([hx, slot] { *slot = [hx] { return RunHintsExport(*hx); }; });
  auto hi = std::make_shared<HintsFlags>();
  cmd = hints->add_subcommand(
      "import", "Ingest exported hints into a live cluster (their versions kept: LWW holds)");
  cmd->add_option("--in", hi->in, "a file written by `offline hints export`")->required();
  cmd->add_option("--endpoints", hi->endpoints, "HOST:PORT[,...]")->envname("CAUSEWAY_ENDPOINTS");
  cmd->add_option("--rf", hi->rf, "replication factor of the cluster")->capture_default_str();
  cmd->add_option("--work-dir", hi->work_dir, "where SSTs are built (default $TMPDIR or /tmp)");
  cmd->callback([hi, slot] { *slot = [hi] { return RunHintsImport(*hi); }; });
}

}  // namespace causeway::tools
