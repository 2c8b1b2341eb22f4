// `causeway import FILE...`: bulk import (docs/operations.md, "Bulk import"; docs/design.md,
// "Bulk import and LWW").
//
// Rows are read in batches (--batch-bytes, kImportBatchRowsMax rows at most); every row of batch i
// is stamped HlcMake(as_of_ms, i) by the import writer (NodeIdFromName("causeway-import")), so a
// later row of the input beats an earlier one with the same key, and a run again (--resume, or
// the same --as-of) writes the very same versions: ingesting them again changes nothing. Each
// batch is routed by the ring, one SST per replica is built and ingested there
// (tools/internal/import_ship.h); the state file (docs/formats.md, "Import state file") then
// records the batch as done. A replica that is down or fails gets its share later: anti-entropy
// (or `causeway repair`) copies it from the replicas that ingested it; the summary says how many
// rows each such replica missed.
//
// Output: a progress line on stderr (rows, MB, rate, ETA), each bad row as "line N: why" on
// stderr (the first kImportBadRowsPrintedMax), a summary on stdout (with --json, one JSON object).
// Exit 0 when every good row reached every replica that was up; 4 with more than --max-errors bad
// rows (the import stops; --resume continues after fixing the input is not possible: start over)
// or when every replica of some row failed; 3 when no endpoint answers.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/hlc.h"
#include "base/limits.h"
#include "base/strings.h"
#include "tools/internal/client_flags.h"
#include "tools/internal/commands.h"
#include "tools/internal/import_rows.h"
#include "tools/internal/import_ship.h"
#include "tools/internal/progress.h"

namespace causeway::tools {
namespace {

using nlohmann::json;

constexpr int kStateFormat = 1;
constexpr char kImportWriterName[] = "causeway-import";

struct ImportFlags {
  std::vector<std::string> files;
  std::string endpoints{kDefaultEndpoint};
  std::string format = "csv";
  std::string key_column = "key", value_column = "value";
  std::string value_encoding = "text";
  bool no_header = false;
  int rf = 3;
  std::string as_of;
  uint64_t max_errors = 100;
  bool resume = false;
  std::string state_file;
  uint64_t batch_bytes = kImportBatchBytesDefault;
  std::string work_dir;
  bool json = false;
};

uint64_t WallMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// ms since the epoch, or RFC 3339 ("2026-12-01T21:00:00Z", "...T21:00:00.250+01:00").
Result<uint64_t> ParseAsOf(const std::string& text) {
  bool digits = !text.empty();
  for (char c : text) digits = digits && c >= '0' && c <= '9';
  if (digits) return ParseUint(text, "--as-of");
  std::tm tm{};
  const char* rest = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) rest = ::strptime(text.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  if (rest == nullptr) {
    return Status::InvalidArgument(StrCat(
        "--as-of \"", text, "\": give ms since the epoch or RFC 3339 (2026-12-01T21:00:00Z)"));
  }
  int64_t ms = static_cast<int64_t>(::timegm(&tm)) * 1000;
  if (*rest == '.') {
    ++rest;
    int64_t frac = 0, scale = 1000;
    while (*rest >= '0' && *rest <= '9') {
      if (scale > 1) {
        scale /= 10;
        frac += (*rest - '0') * scale;
      }
      ++rest;
    }
    ms += frac;
  }
  if (*rest == 'Z' || *rest == 'z') {
    ++rest;
  } else if (*rest == '+' || *rest == '-') {
    const int sign = *rest == '+' ? 1 : -1;
    int hh = 0, mm = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) {
      return Status::InvalidArgument(StrCat("--as-of \"", text, "\": bad UTC offset"));
    }
    ms -= sign * (int64_t{hh} * 3600 + int64_t{mm} * 60) * 1000;
    rest += 6;
  } else {
    return Status::InvalidArgument(
        StrCat("--as-of \"", text, "\": give a UTC offset (Z or +HH:MM)"));
  }
  if (*rest != '\0' || ms <= 0) {
    return Status::InvalidArgument(StrCat("--as-of \"", text, "\": trailing text"));
  }
  return static_cast<uint64_t>(ms);
}

// The resumable state (docs/formats.md, "Import state file").
struct State {
  std::vector<std::pair<std::string, uint64_t>> files;  // path, size at start
  uint64_t as_of_ms = 0;
  size_t file_index = 0;
  uint64_t offset = 0, line = 0;  // where the next batch starts in files[file_index]
  uint64_t batches = 0, rows = 0, bad_rows = 0, bytes_done = 0;
  std::map<std::string, uint64_t> missed;  // replica name -> rows it did not ingest
  bool done = false;

  json ToJson() const {
    json f = json::array();
    for (const auto& [p, s] : files) f.push_back({{"path", p}, {"size", s}});
    return {{"format", kStateFormat},   {"files", f},       {"as_of_ms", as_of_ms},
            {"file_index", file_index}, {"offset", offset}, {"line", line},
            {"batches", batches},       {"rows", rows},     {"bad_rows", bad_rows},
            {"bytes_done", bytes_done}, {"missed", missed}, {"done", done}};
  }
  static Result<State> FromJson(const std::string& text) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("format", 0) != kStateFormat) {
      return Status::InvalidArgument("not an import state file of this version");
    }
    State s;
    try {
      for (const json& f : j.at("files")) {
        s.files.emplace_back(f.at("path").get<std::string>(), f.at("size").get<uint64_t>());
      }
      s.as_of_ms = j.at("as_of_ms").get<uint64_t>();
      s.file_index = j.at("file_index").get<size_t>();
      s.offset = j.at("offset").get<uint64_t>();
      s.line = j.at("line").get<uint64_t>();
      s.batches = j.at("batches").get<uint64_t>();
      s.rows = j.at("rows").get<uint64_t>();
      s.bad_rows = j.at("bad_rows").get<uint64_t>();
      s.bytes_done = j.at("bytes_done").get<uint64_t>();
      s.missed = j.at("missed").get<std::map<std::string, uint64_t>>();
      s.done = j.at("done").get<bool>();
    } catch (const json::exception& e) {
      return Status::InvalidArgument(StrCat("import state file: ", e.what()));
    }
    return s;
  }
};

int RunImport(const ImportFlags& f) {
  Result<ImportFormat> format = ParseImportFormat(f.format);
  if (!format.ok()) return FailStatus("import", format.status());
  if (f.value_encoding != "text" && f.value_encoding != "base64") {
    return Fail(kExitUsage, "--value-encoding is text or base64");
  }
  Result<std::vector<std::string>> endpoints = ParseEndpoints(f.endpoints);
  if (!endpoints.ok()) return FailStatus("import", endpoints.status());
  if (f.rf < 1 || f.rf > kReplicationFactorMax) return Fail(kExitUsage, "--rf out of range");
  if (f.batch_bytes == 0 || f.batch_bytes > kImportBatchBytesMax) {
    return Fail(kExitUsage, StrCat("--batch-bytes is 1..", kImportBatchBytesMax));
  }
  RowSpec spec;
  spec.format = *format;
  spec.key_column = f.key_column;
  spec.value_column = f.value_column;
  spec.header = !f.no_header;
  spec.base64 = f.value_encoding == "base64";
  const std::string state_path =
      f.state_file.empty() ? f.files.front() + ".import-state" : f.state_file;
  const std::string work_dir =
      !f.work_dir.empty() ? f.work_dir
                          : (std::getenv("TMPDIR") != nullptr ? std::getenv("TMPDIR") : "/tmp");

  State state;
  if (f.resume && std::filesystem::exists(state_path)) {
    Result<std::string> text = ReadFileBounded(state_path, kImportStateBytesMax);
    if (!text.ok()) return FailStatus("import --resume", text.status());
    Result<State> s = State::FromJson(*text);
    if (!s.ok()) return FailStatus(StrCat("import --resume: ", state_path), s.status());
    state = std::move(*s);
    if (state.files.size() != f.files.size()) {
      return Fail(kExitUsage, "--resume: the state file is of another list of files",
                  "give the same files in the same order, or start over without --resume");
    }
    for (size_t i = 0; i < f.files.size(); ++i) {
      std::error_code ec;
      if (state.files[i].first != f.files[i] ||
          std::filesystem::file_size(f.files[i], ec) != state.files[i].second) {
        return Fail(kExitUsage,
                    StrCat("--resume: ", f.files[i], " is not the file the state file saw"),
                    "start over without --resume");
      }
    }
    if (state.done) {
      std::cout << "import already complete (" << state.rows << " rows); nothing to do\n";
      return kExitOk;
    }
  } else {
    for (const std::string& path : f.files) {
      std::error_code ec;
      const uint64_t size = std::filesystem::file_size(path, ec);
      if (ec) return Fail(kExitUsage, StrCat("cannot read ", path, ": ", ec.message()));
      state.files.emplace_back(path, size);
    }
    if (!f.as_of.empty()) {
      Result<uint64_t> ms = ParseAsOf(f.as_of);
      if (!ms.ok()) return FailStatus("import", ms.status());
      state.as_of_ms = *ms;
    } else {
      state.as_of_ms = WallMs();
    }
    if (state.as_of_ms > WallMs() + kMaxClockOffsetMsDefault) {
      return Fail(kExitUsage, "--as-of is in the future", "nodes would refuse or misorder it");
    }
  }
  uint64_t total_bytes = 0;
  for (const auto& [p, s] : state.files) total_bytes += s;

  Result<ImportCluster> cluster = FetchImportCluster(*endpoints, kRequestTimeoutMsDefault);
  if (!cluster.ok()) return FailStatus("import: reading the ring", cluster.status());

  const NodeId writer = NodeIdFromName(kImportWriterName);
  ProgressLine progress(std::cerr, STDERR_FILENO, kImportPlainProgressMs);
  uint64_t bytes_this_run = 0, rows_this_run = 0;
  auto draw = [&](bool final) {
    if (!progress.Due(final)) return;
    const double frac =
        total_bytes == 0 ? 1.0
                         : static_cast<double>(state.bytes_done) / static_cast<double>(total_bytes);
    const uint64_t ms = progress.elapsed_ms();
    progress.Draw(
        frac,
        StrCat(state.rows, " rows  ", FormatBytes(state.bytes_done), "/", FormatBytes(total_bytes),
               "  ", PerSecond(rows_this_run, ms), " rows/s  ",
               FormatBytes(PerSecond(bytes_this_run, ms)), "/s  ETA ", FormatEta(frac, ms)),
        final);
  };
  std::set<NodeId> down;
  size_t printed = 0;
  bool too_many = false;
  bool lost = false;  // some row reached no replica
  std::vector<IngestRow> batch;
  while (state.file_index < state.files.size() && !too_many) {
    const std::string& path = state.files[state.file_index].first;
    Result<std::unique_ptr<RowReader>> reader =
        RowReader::Open(path, spec, state.offset, state.line);
    if (!reader.ok()) return FailStatus("import", reader.status());
    RowReader& r = **reader;
    bool end = false;
    while (!end && !too_many) {
      if (state.batches >= kImportBatchesMax) {
        return Fail(kExitError, "too many batches for one import", "raise --batch-bytes");
      }
      const Hlc stamp = HlcMake(state.as_of_ms, state.batches);
      batch.clear();
      uint64_t batch_bytes = 0, bad_in_batch = 0;
      const uint64_t start = r.offset();
      while (batch_bytes < f.batch_bytes && batch.size() < kImportBatchRowsMax) {
        Row row;
        BadRow bad;
        Result<RowReader::Got> got = r.Next(&row, &bad);
        if (!got.ok()) return FailStatus(StrCat("import: ", path), got.status());
        if (*got == RowReader::Got::kEnd) {
          end = true;
          break;
        }
        if (*got == RowReader::Got::kBad) {
          ++bad_in_batch;
          if (printed < kImportBadRowsPrintedMax) {
            progress.Say(StrCat("bad row: ", path, " line ", bad.line, ": ", bad.reason));
            ++printed;
          }
          if (state.bad_rows + bad_in_batch > f.max_errors) {
            too_many = true;
            break;
          }
          continue;
        }
        batch_bytes += row.key.size() + row.value.size();
        IngestRow ir;
        ir.key = std::move(row.key);
        ir.version.timestamp = stamp;
        ir.version.writer = writer;
        ir.version.vv.Advance(writer, stamp);
        ir.version.value = std::move(row.value);
        batch.push_back(std::move(ir));
      }
      if (too_many) break;
      std::map<NodeId, ShipNodeResult> shipped =
          ShipRows(*cluster, f.rf, batch, work_dir, state.batches, down);
      // A row is lost when none of its replicas ingested it.
      std::set<NodeId> ok_nodes;
      for (const auto& [id, res] : shipped) {
        if (!res.failed) {
          ok_nodes.insert(id);
          continue;
        }
        const std::string& name =
            cluster->nodes.count(id) ? cluster->nodes.at(id).name : StrCat(id);
        state.missed[name] += res.rows;
        if (down.insert(id).second) {
          progress.Say(StrCat("replica ", name, " did not ingest (", res.error,
                              "): its share is left to anti-entropy / `causeway repair`"));
        }
      }
      for (const IngestRow& row : batch) {
        bool any = false;
        for (NodeId n : cluster->ring.PreferenceList(TokenOf(row.key), f.rf))
          any |= ok_nodes.count(n) != 0;
        if (!any) {
          lost = true;
          break;
        }
      }
      if (lost) {
        progress.Say("every replica of some rows failed: the batch is not recorded as done");
        break;
      }
      state.batches += 1;
      state.rows += batch.size();
      rows_this_run += batch.size();
      state.bad_rows += bad_in_batch;
      state.bytes_done += r.offset() - start;
      bytes_this_run += r.offset() - start;
      state.offset = r.offset();
      state.line = r.line();
      if (end) {
        ++state.file_index;
        state.offset = 0;
        state.line = 0;
      }
      if (Status s = WriteFileAtomic(state_path, state.ToJson().dump() + "\n"); !s.ok()) {
        return FailStatus("import: writing the state file", s);
      }
      draw(false);
    }
    if (lost) break;
  }
  state.done = !too_many && !lost && state.file_index >= state.files.size();
  if (Status s = WriteFileAtomic(state_path, state.ToJson().dump() + "\n"); !s.ok()) {
    return FailStatus("import: writing the state file", s);
  }
  draw(true);
  const uint64_t ms = progress.elapsed_ms();
  if (f.json) {
    json j = state.ToJson();
    j["state_file"] = state_path;
    j["elapsed_ms"] = ms;
    j["rows_per_s"] = PerSecond(rows_this_run, ms);
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "imported " << state.rows << " rows (" << state.bad_rows << " bad) as of "
              << state.as_of_ms << " ms in " << FormatDuration(ms) << ", "
              << PerSecond(rows_this_run, ms) << " rows/s\n";
    for (const auto& [name, rows] : state.missed) {
      std::cout << "replica " << name << " missed " << rows
                << " rows (down or failed): anti-entropy copies them, or run `causeway repair`\n";
    }
  }
  if (too_many) {
    return Fail(kExitError, StrCat("more than --max-errors ", f.max_errors, " bad rows: stopped"),
                "fix the input, then import again");
  }
  if (lost) return Fail(kExitError, "some rows reached no replica", "retry with --resume");
  return kExitOk;
}

}  // namespace

void AddImportCommand(CLI::App& app, CommandSlot* slot) {
  auto f = std::make_shared<ImportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "import",
      "Bulk-load rows from csv, tsv or jsonl files: SSTs built per replica and ingested there, "
      "without overwriting anything written after the rows' --as-of time");
  cmd->add_option("files", f->files, "input files")->required();
  cmd->add_option("--endpoints", f->endpoints, "HOST:PORT[,...] of nodes to read the ring from")
      ->envname("CAUSEWAY_ENDPOINTS");
  cmd->add_option("--format", f->format, "csv, tsv or jsonl")->capture_default_str();
  cmd->add_option("--key-column", f->key_column, "header name or 1-based column of the key")
      ->capture_default_str();
  cmd->add_option("--value-column", f->value_column, "header name or 1-based column of the value")
      ->capture_default_str();
  cmd->add_flag("--no-header", f->no_header, "csv/tsv: the first line is a row");
  cmd->add_option("--value-encoding", f->value_encoding, "text or base64")->capture_default_str();
  cmd->add_option("--rf", f->rf, "replication factor of the cluster")->capture_default_str();
  cmd->add_option("--as-of", f->as_of,
                  "the rows' time (RFC 3339 or ms since the epoch); default: the import's start");
  cmd->add_option("--max-errors", f->max_errors, "stop after more bad rows than this")
      ->capture_default_str();
  cmd->add_flag("--resume", f->resume, "continue an interrupted import from its state file");
  cmd->add_option("--state-file", f->state_file, "default: FIRST_FILE.import-state");
  cmd->add_option("--batch-bytes", f->batch_bytes, "bytes of rows per batch (one SST per replica)")
      ->capture_default_str();
  cmd->add_option("--work-dir", f->work_dir, "where SSTs are built (default $TMPDIR or /tmp)");
  cmd->add_flag("--json", f->json, "print the summary as one JSON object");
  cmd->callback([f, slot] { *slot = [f] { return RunImport(*f); }; });
}

}  // namespace causeway::tools
