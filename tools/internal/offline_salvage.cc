// The corrupt-record phase of `causeway offline repair`: tools/internal/offline_salvage.h.
#include "tools/internal/offline_salvage.h"

#include <iostream>
#include <map>
#include <optional>

#include "base/hlc.h"
#include "base/strings.h"
#include "engine/engine.h"
#include "tools/internal/client_flags.h"

namespace causeway::tools {
namespace {

using nlohmann::json;

enum class Kind {
  kRecord,      // a data record whose key is known: replaced by the other dirs' winner
  kHint,        // a damaged hint: left out (its write's replicas hold it)
  kUnknownKey,  // a record whose key bytes are damaged, or a WAL region: left out; the
                // reconciliation restores what the other dirs hold
  kSymptom,     // a block failing its checksum (its records are reported one by one)
  kRegion,      // a block that cannot be parsed at all: its keys are unknown
};

Kind KindOf(const OfflineCorruption& c) {
  if (c.where.rfind("WAL", 0) == 0 || c.key_damaged) return Kind::kUnknownKey;
  if (c.where == "data" && !c.key.empty()) return Kind::kRecord;
  if (c.where == "hints" && !c.key.empty()) return Kind::kHint;
  if (c.where == "data" || c.where == "hints" || c.where == "files") return Kind::kSymptom;
  return Kind::kRegion;
}

// The engine's merge (as tools/offline_repair.cc FoldInto): LWW winner, vectors absorbed.
void Fold(std::optional<Version>* acc, const Version& next) {
  if (!acc->has_value()) {
    *acc = next;
    return;
  }
  Version& a = **acc;
  const bool next_wins = !a.SameDot(next) && LastWriteWins(next, a);
  VersionVector vv = a.vv;
  vv.MergeFrom(next.vv);
  if (next_wins) a = next;
  vv.Truncate(kVersionVectorEntriesMax, a.writer);
  a.vv = std::move(vv);
}

struct Finding {
  OfflineCorruption c;
  Kind kind;
  std::string status;  // "repaired", "repairable", "unrepairable"
  std::string how;     // what was (or would be) done, or why not
};

json FindingJson(const std::string& dir, const Finding& f) {
  json o = {{"dir", dir},
            {"where", f.c.where},
            {"reason", f.c.reason},
            {"status", f.status},
            {"how", f.how}};
  SetBytes(o, "key", f.c.key);
  if (!f.c.nearby_keys.empty()) {
    json near = json::array();
    for (const std::string& k : f.c.nearby_keys) near.push_back(DescribeKey(k));
    o["nearby_keys"] = near;
  }
  return o;
}

}  // namespace

Result<SalvageOutcome> RepairCorruptDirs(const std::vector<std::string>& dirs, bool dry_run,
                                         std::ostream* text) {
  SalvageOutcome out;
  std::map<std::string, std::vector<OfflineCorruption>> damaged;  // dir -> what check found
  for (const std::string& dir : dirs) {
    Result<bool> finished = FinishInterruptedRebuild(dir);
    if (!finished.ok()) return finished.status();
    if (*finished && text != nullptr) {
      *text << dir << ": finished the swap of an interrupted rebuild\n";
    }
    std::cerr << "checking " << dir << "...\n";
    Result<OfflineCheckReport> r = CheckDataDir(dir, Hlc{0}, false, nullptr);
    if (!r.ok()) return Status(r.status().code(), StrCat(dir, ": ", r.status().message()));
    if (!r->corrupt.empty()) damaged[dir] = std::move(r->corrupt);
  }
  for (auto& [dir, corrupt] : damaged) {
    std::vector<Finding> findings;
    std::vector<std::string> keys;
    bool has_counted = false;
    for (OfflineCorruption& c : corrupt) {
      const Kind kind = KindOf(c);
      if (kind == Kind::kRecord) keys.push_back(c.key);
      if (kind != Kind::kSymptom) has_counted = true;
      findings.push_back({std::move(c), kind, "", ""});
    }
    if (!has_counted) {
      // Only blocks failing their checksums, every record in them sound: the rebuild drops the
      // damaged blocks.
      Finding f{OfflineCorruption(), Kind::kRecord, "", ""};
      f.c.where = "data";
      f.c.reason = "a block fails its checksum, its records are all sound";
      findings.insert(findings.begin(), std::move(f));
    }
    // Each damaged key's winner among the sound copies of the other dirs.
    std::map<std::string, std::optional<Version>> winners;
    std::map<std::string, uint64_t> sources;
    for (const std::string& other : dirs) {
      if (other == dir || keys.empty()) continue;
      Result<std::map<std::string, std::optional<Version>>> got = ReadKeysOffline(other, keys);
      if (!got.ok())
        return Status(got.status().code(), StrCat(other, ": ", got.status().message()));
      for (auto& [key, v] : *got) {
        if (!v) continue;
        Fold(&winners[key], *v);
        ++sources[key];
      }
    }
    const bool others = dirs.size() > 1;
    bool repairable = true;
    std::map<std::string, Version> replacements;
    for (Finding& f : findings) {
      switch (f.kind) {
        case Kind::kRecord:
          if (f.c.key.empty()) {
            f.how = "the block is left out of the rebuilt dir";
          } else if (winners[f.c.key].has_value()) {
            replacements[f.c.key] = *winners[f.c.key];
            f.how = StrCat("replaced by the LWW winner of ", sources[f.c.key],
                           " sound copy(ies) in the other dirs");
          } else {
            f.status = "unrepairable";
            f.how = "no other dir holds a sound copy of this key";
          }
          break;
        case Kind::kHint:
          f.how = "left out (a hint is a copy of a write its replicas hold)";
          break;
        case Kind::kUnknownKey:
          if (others) {
            f.how = "left out; the reconciliation restores the writes the other dirs hold";
          } else {
            f.status = "unrepairable";
            f.how = "the keys are unknown and no other dir was given";
          }
          break;
        case Kind::kSymptom:
          f.how = "the block is left out of the rebuilt dir";
          break;
        case Kind::kRegion:
          if (others) {
            f.how =
                "a block that cannot be read at all (its keys unknown): the token span it "
                "covers is dropped from the rebuilt dir, and the reconciliation restores the "
                "keys the other dirs hold";
          } else {
            f.status = "unrepairable";
            f.how =
                "a block that cannot be read at all: its keys are unknown and no other dir "
                "was given";
          }
          break;
      }
      if (f.status == "unrepairable") repairable = false;
    }
    std::string rebuild_error;
    Result<RebuildResult> rebuilt = RebuildResult();
    if (repairable && !dry_run) {
      rebuilt = RebuildDataDir(dir, replacements);
      if (!rebuilt.ok()) {
        if (rebuilt.status().code() != ErrorCode::kCorruption) {
          return Status(rebuilt.status().code(), StrCat(dir, ": ", rebuilt.status().message()));
        }
        rebuild_error = rebuilt.status().message();
        repairable = false;
      }
    }
    for (Finding& f : findings) {
      if (f.kind == Kind::kSymptom) {
        if (f.status.empty())
          f.status = repairable ? (dry_run ? "repairable" : "repaired") : "not repaired";
        out.findings.push_back(FindingJson(dir, f));
        continue;  // reported, not counted: its records are
      }
      ++out.found;
      if (f.status.empty()) {
        if (!rebuild_error.empty()) {
          f.status = "unrepairable";
          f.how = StrCat("the rebuild failed: ", rebuild_error);
        } else if (!repairable) {
          f.status = "not repaired";
          f.how += " -- not done: another record of this dir is unrepairable";
        } else {
          f.status = dry_run ? "repairable" : "repaired";
        }
      }
      if (f.status == "repaired") ++out.repaired;
      if (f.status == "repaired" || f.status == "repairable") ++out.repairable;
      if (f.status == "unrepairable") {
        ++out.unrepairable;
        out.unrepairable_named.push_back(
            StrCat(dir, ": ", f.c.key.empty() ? f.c.where : "key " + DescribeKey(f.c.key)));
      }
      out.findings.push_back(FindingJson(dir, f));
    }
    if (text != nullptr) {
      for (const Finding& f : findings) {
        *text << "CORRUPT " << dir << " "
              << (f.c.key.empty() ? f.c.where : "key " + DescribeKey(f.c.key)) << ": " << f.c.reason
              << " -> " << f.status << ": " << f.how << "\n";
      }
      if (rebuilt.ok() && repairable && !dry_run) {
        *text << dir << ": rebuilt (" << rebuilt->keys << " keys: " << rebuilt->salvaged
              << " salvaged, " << rebuilt->replaced << " replaced; " << rebuilt->hints
              << " hints kept, " << rebuilt->hints_dropped
              << " dropped); the damaged dir is kept at " << rebuilt->damaged_copy << "\n";
      }
    }
    if (!repairable || dry_run) out.excluded.insert(dir);
    if (rebuilt.ok() && !rebuilt->lost_spans.empty() && repairable && !dry_run) {
      SalvageOutcome::LostSpans lost{dir, rebuilt->lost_spans, {}};
      for (const Finding& f : findings) {
        if (f.kind == Kind::kRegion)
          lost.findings.push_back(static_cast<size_t>(&f - findings.data()));
      }
      // Indices into out.findings: this dir's findings were appended last, symptoms included.
      const size_t base = out.findings.size() - findings.size();
      for (size_t& i : lost.findings) i += base;
      if (lost.findings.empty()) {  // not seen by the check, met by the rebuild
        Finding f{OfflineCorruption(), Kind::kRegion, "repaired",
                  "the token span is dropped from the rebuilt dir"};
        f.c.where = "data";
        f.c.reason = "a block that cannot be read at all";
        ++out.found;
        ++out.repaired;
        ++out.repairable;
        lost.findings.push_back(out.findings.size());
        out.findings.push_back(FindingJson(dir, f));
      }
      for (const TokenSpan& span : lost.spans) {
        if (text != nullptr) {
          *text << dir << ": tokens " << span.first << ".." << span.last
                << " dropped (a block that cannot be read)\n";
        }
      }
      out.lost.push_back(std::move(lost));
    }
  }
  return out;
}

void ConfirmLostSpans(SalvageOutcome* out,
                      const std::function<bool(const std::string& dir, TokenSpan span)>& covered) {
  for (const SalvageOutcome::LostSpans& lost : out->lost) {
    std::string uncovered;
    for (const TokenSpan& span : lost.spans) {
      if (!covered(lost.dir, span))
        uncovered += StrCat(uncovered.empty() ? "" : ", ", span.first, "..", span.last);
    }
    if (uncovered.empty()) continue;
    for (size_t i : lost.findings) {
      json& f = out->findings[i];
      if (f["status"] != "repaired") continue;
      f["status"] = "unrepairable";
      f["how"] = StrCat("tokens ", uncovered,
                        " were dropped, and no other dir given holds them: their keys are lost "
                        "from this dir (the damaged original is kept)");
      --out->repaired;
      --out->repairable;
      ++out->unrepairable;
      out->unrepairable_named.push_back(StrCat(lost.dir, ": tokens ", uncovered));
    }
  }
}

}  // namespace causeway::tools
