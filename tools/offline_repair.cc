// `causeway offline repair --data-dir D1 --data-dir D2 ... [--rf N] [--dry-run] [--json]`
// (docs/operations.md, "After a crash: the offline tool").
//
// First every dir is checked and each corrupt record reported; a damaged dir is rebuilt with the
// other dirs' LWW winners of its damaged keys (tools/internal/offline_salvage.h), and a damaged
// dir that cannot be repaired is left untouched and out of what follows (exit 4, keys named).
//
// Each dir is opened exclusively (a dir a running node holds is refused). Which dirs should hold
// a key comes from the persisted ring: the member views ("members") and own tokens ("tokens") in
// the dirs' meta records, merged (per member the view with the highest generation), give the
// preference list of the key's token with --rf; a dir is the replica of the node whose name its
// "node_name" record holds. With no ring persisted, every dir holds every key.
//
// The dirs are read in pages (kOfflinePageKeys), merged in (token, key) order. For each key the
// LWW winner of every copy found (in any dir, replica or not), its version vector the pointwise
// maximum of all of theirs truncated to kVersionVectorEntriesMax keeping its own dot -- exactly
// what the engine's merge keeps -- is the reconciled version; a key is divergent when some dir that
// should hold it lacks it or holds anything else, and the winner is then applied there (Apply:
// a merge operand, so the engine folds it the same way). --dry-run writes nothing.
//
// Output: a progress line (percent of the ring, keys, rate, ETA) on stderr; a summary on stdout,
// whose last line with --json is one JSON object {keys_scanned, keys_divergent, keys_written,
// writes, dirs, dry_run, rf, corrupt_found, corrupt_repaired, corrupt_repairable, unrepairable,
// corrupt: [{dir, key, where, reason, status, how}]}.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <deque>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/limits.h"
#include "base/strings.h"
#include "cluster/persist.h"
#include "cluster/ring.h"
#include "cluster/startup.h"
#include "engine/engine.h"
#include "tools/internal/client_flags.h"
#include "tools/internal/commands.h"
#include "tools/internal/offline_salvage.h"
#include "tools/internal/progress.h"

namespace causeway::tools {
namespace {

using nlohmann::json;

struct RepairFlags {
  std::vector<std::string> dirs;
  int rf = 3;
  bool dry_run = false;
  bool json = false;
};

struct Dir {
  std::string path;
  std::unique_ptr<Engine> engine;
  std::string name;
  NodeId id = 0;
  // The page being merged, and where the next one starts.
  std::deque<std::pair<std::string, Version>> page;
  std::string after;
  bool more = true;
  uint64_t keys = 0, writes = 0;

  Status Refill() {
    if (!page.empty() || !more) return Status::Ok();
    Result<bool> r =
        engine->ScanPage(after, kOfflinePageKeys, [&](std::string_view k, const Version& v) {
          page.emplace_back(std::string(k), v);
          return true;
        });
    if (!r.ok()) return r.status();
    more = *r;
    if (!page.empty()) after = page.back().first;
    return Status::Ok();
  }
};

bool KeyLess(const std::string& a, const std::string& b) {
  const Token ta = TokenOf(a), tb = TokenOf(b);
  return ta != tb ? ta < tb : a < b;
}

bool SameContent(const Version& a, const Version& b) {
  return a.SameDot(b) && a.tombstone == b.tombstone && a.vv == b.vv && a.value == b.value;
}

// The engine's merge (engine/internal/lww_merge.cc): LWW winner, vectors absorbed.
void FoldInto(Version* acc, const Version& next) {
  const bool next_wins = !acc->SameDot(next) && LastWriteWins(next, *acc);
  VersionVector vv = acc->vv;
  vv.MergeFrom(next.vv);
  if (next_wins) *acc = next;
  vv.Truncate(kVersionVectorEntriesMax, acc->writer);
  acc->vv = std::move(vv);
}

int RunRepair(const RepairFlags& f) {
  if (f.dirs.empty() || f.dirs.size() > kOfflineDirsMax) {
    return Fail(kExitUsage, StrCat("give 1..", kOfflineDirsMax, " --data-dir"));
  }
  if (f.rf < 1 || f.rf > kReplicationFactorMax) return Fail(kExitUsage, "--rf out of range");
  // Corrupt records first, before any dir is opened for writing (tools/internal/offline_salvage.h).
  Result<SalvageOutcome> salvage =
      RepairCorruptDirs(f.dirs, f.dry_run, f.json ? &std::cerr : &std::cout);
  if (!salvage.ok()) return FailStatus("offline repair", salvage.status());
  std::vector<std::string> paths;
  for (const std::string& p : f.dirs) {
    if (salvage->excluded.count(p) == 0) {
      paths.push_back(p);
    } else {
      std::cerr << "note: " << p << " is damaged and "
                << (f.dry_run ? "would be rebuilt first" : "was not rebuilt")
                << ": left out of the reconciliation\n";
    }
  }
  std::vector<Dir> dirs(paths.size());
  std::map<NodeId, cluster::MemberState> members;
  std::map<NodeId, size_t> dir_of;
  for (size_t i = 0; i < paths.size(); ++i) {
    Dir& d = dirs[i];
    d.path = paths[i];
    Result<std::unique_ptr<Engine>> e = OpenOffline(d.path);
    if (!e.ok()) return FailStatus(StrCat("offline repair: ", d.path), e.status());
    d.engine = std::move(*e);
    Result<std::optional<std::string>> name = d.engine->LoadMeta(cluster::kMetaNodeName);
    if (!name.ok()) return FailStatus(StrCat("offline repair: ", d.path), name.status());
    if (!name->has_value()) {
      return Fail(kExitUsage, StrCat(d.path, " has no node name: not a node's data dir"));
    }
    d.name = **name;
    d.id = NodeIdFromName(d.name);
    if (dir_of.count(d.id) != 0) return Fail(kExitUsage, StrCat("two dirs of node ", d.name));
    dir_of[d.id] = i;
    Result<std::optional<std::string>> view = d.engine->LoadMeta(cluster::kMetaMembers);
    if (view.ok() && view->has_value()) {
      Result<std::vector<cluster::MemberState>> ms = cluster::DecodeMembers(**view);
      if (ms.ok()) {
        for (cluster::MemberState& m : *ms) {
          auto it = members.find(m.id);
          if (it == members.end() || it->second.generation < m.generation) members[m.id] = m;
        }
      } else {
        std::cerr << "warning: " << d.path << ": member view unreadable (" << ms.status().ToString()
                  << ")\n";
      }
    }
    Result<std::optional<std::string>> tokens = d.engine->LoadMeta(cluster::kMetaTokens);
    if (tokens.ok() && tokens->has_value()) {
      Result<std::vector<Token>> t = cluster::DecodeTokens(**tokens);
      if (t.ok()) {
        cluster::MemberState& m = members[d.id];
        m.id = d.id;
        if (m.name.empty()) m.name = d.name;
        m.tokens = *t;
      }
    }
  }
  std::map<NodeId, std::vector<Token>> ring_nodes;
  for (const auto& [id, m] : members) {
    if (m.status != cluster::MemberStatus::kLeft && !m.tokens.empty()) ring_nodes[id] = m.tokens;
  }
  cluster::Ring ring;
  ring.Assign(ring_nodes);
  if (ring.empty() && !dirs.empty())
    std::cerr << "warning: no ring persisted in these dirs: every dir holds every key\n";

  // A span a rebuild dropped is repaired only if another dir given replicates all of it.
  ConfirmLostSpans(&*salvage, [&](const std::string& path, TokenSpan span) {
    NodeId self = 0;
    for (const Dir& d : dirs) {
      if (d.path == path) self = d.id;
    }
    if (ring.empty()) return dirs.size() > 1;
    for (const cluster::Ring::Arc& arc : ring.ReplicaArcs(f.rf)) {
      if (arc.span.last < span.first || arc.span.first > span.last) continue;
      bool held = false;
      for (NodeId n : arc.replicas) held = held || (n != self && dir_of.count(n) != 0);
      if (!held) return false;
    }
    return true;
  });
  ProgressLine progress(std::cerr, STDERR_FILENO, kOfflinePlainProgressMs);
  uint64_t scanned = 0, divergent = 0, written = 0, writes = 0;
  std::vector<size_t> holders;
  while (true) {
    const std::string* next = nullptr;
    for (Dir& d : dirs) {
      if (Status s = d.Refill(); !s.ok()) {
        return FailStatus(StrCat("offline repair: reading ", d.path), s);
      }
      if (!d.page.empty() && (next == nullptr || KeyLess(d.page.front().first, *next))) {
        next = &d.page.front().first;
      }
    }
    if (next == nullptr) break;
    const std::string key = *next;
    const Token token = TokenOf(key);
    std::vector<const Version*> copies(dirs.size(), nullptr);
    std::optional<Version> winner;
    for (size_t i = 0; i < dirs.size(); ++i) {
      if (!dirs[i].page.empty() && dirs[i].page.front().first == key) {
        copies[i] = &dirs[i].page.front().second;
        if (!winner) {
          winner = *copies[i];
        } else {
          FoldInto(&*winner, *copies[i]);
        }
      }
    }
    holders.clear();
    if (ring.empty()) {
      for (size_t i = 0; i < dirs.size(); ++i) holders.push_back(i);
    } else {
      for (NodeId n : ring.PreferenceList(token, f.rf)) {
        auto it = dir_of.find(n);
        if (it != dir_of.end()) holders.push_back(it->second);
      }
    }
    bool differs = false;
    for (size_t i : holders) {
      if (copies[i] == nullptr || !SameContent(*copies[i], *winner)) {
        differs = true;
        if (!f.dry_run) {
          Result<ApplyResult> r = dirs[i].engine->Apply(key, *winner);
          if (!r.ok())
            return FailStatus(StrCat("offline repair: writing ", dirs[i].path), r.status());
          ++dirs[i].writes;
          ++writes;
        }
      }
    }
    ++scanned;
    if (differs) {
      ++divergent;
      if (!f.dry_run) ++written;
    }
    for (size_t i = 0; i < dirs.size(); ++i) {
      if (copies[i] != nullptr) {
        ++dirs[i].keys;
        dirs[i].page.pop_front();
      }
    }
    if (scanned % 4096 == 0 && progress.Due(false)) {
      const double frac = static_cast<double>(token) / 18446744073709551616.0;
      progress.Draw(frac,
                    StrCat(scanned, " keys  ", divergent, " divergent  ",
                           PerSecond(scanned, progress.elapsed_ms()), " keys/s  ETA ",
                           FormatEta(frac, progress.elapsed_ms())),
                    false);
    }
  }
  for (Dir& d : dirs) {
    if (Status s = d.engine->SyncWal(); !s.ok()) return FailStatus("offline repair: sync", s);
  }
  progress.Draw(1.0, StrCat(scanned, " keys  ", divergent, " divergent"), true);
  json jd = json::array();
  for (const Dir& d : dirs) {
    jd.push_back({{"dir", d.path}, {"node", d.name}, {"keys", d.keys}, {"writes", d.writes}});
    if (!f.json) {
      std::cout << d.path << " (" << d.name << "): " << d.keys << " keys, " << d.writes
                << " written\n";
    }
  }
  if (!f.json) {
    std::cout << (f.dry_run ? "dry run: " : "") << scanned << " keys scanned, " << divergent
              << " divergent, " << written << " written (" << writes << " writes); "
              << salvage->found << " corrupt, " << salvage->repaired << " repaired, "
              << salvage->unrepairable << " unrepairable\n";
  }
  json j = {{"keys_scanned", scanned},
            {"keys_divergent", divergent},
            {"keys_written", written},
            {"writes", writes},
            {"dry_run", f.dry_run},
            {"rf", f.rf},
            {"dirs", jd},
            {"corrupt_found", salvage->found},
            {"corrupt_repaired", salvage->repaired},
            {"corrupt_repairable", salvage->repairable},
            {"unrepairable", salvage->unrepairable},
            {"corrupt", salvage->findings}};
  if (f.json) std::cout << j.dump() << "\n";
  if (salvage->unrepairable > 0) {
    std::string named;
    for (const std::string& n : salvage->unrepairable_named) named += "\n  " + n;
    return Fail(kExitError,
                StrCat(salvage->unrepairable,
                       " corrupt record(s) could not be repaired from the "
                       "dirs given (their dirs were left untouched):",
                       named),
                "give the dir of another replica that holds these keys, or restore the node "
                "from a backup (docs/operations.md, \"After a crash: the offline tool\")");
  }
  return kExitOk;
}

}  // namespace

void AddOfflineRepairCommand(CLI::App& offline, CommandSlot* slot) {
  auto f = std::make_shared<RepairFlags>();
  CLI::App* cmd = offline.add_subcommand(
      "repair",
      "Reconcile the data dirs of stopped replicas to their LWW winners, per the ring "
      "persisted in them");
  cmd->add_option("--data-dir", f->dirs, "a stopped node's data dir (repeat for each replica)")
      ->required();
  cmd->add_option("--rf", f->rf, "replication factor of the cluster")->capture_default_str();
  cmd->add_flag("--dry-run", f->dry_run, "report what differs, write nothing");
  cmd->add_flag("--json", f->json, "the last line is one JSON object");
  cmd->callback([f, slot] { *slot = [f] { return RunRepair(*f); }; });
}

}  // namespace causeway::tools
