// The corrupt-record phase of `causeway offline repair` (tools/offline_repair.cc; docs/design.md,
// "The offline tool"): before any dir is opened for writing, each is checked (CheckDataDir);
// every damaged record is reported with its dir and key, and a damaged dir is rebuilt
// (RebuildDataDir) with each damaged key's LWW winner among the sound copies the other dirs hold.
// A damaged key that no other dir holds soundly is unrepairable: reported, never guessed, and its
// dir is left untouched (evidence for a restore from backup) and out of the reconciliation.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/token.h"

namespace causeway::tools {

struct SalvageOutcome {
  uint64_t found = 0;         // damaged records (and damaged regions whose keys are unknown)
  uint64_t repaired = 0;      // of those, repaired (0 in a dry run)
  uint64_t repairable = 0;    // of those, repairable (what a dry run would repair)
  uint64_t unrepairable = 0;  // of those, not repairable from the dirs given
  // Damaged dirs the reconciliation must leave out: not rebuilt (unrepairable, or a dry run).
  std::set<std::string> excluded;
  std::vector<std::string> unrepairable_named;  // "dir: key or region", for the final error
  nlohmann::json findings = nlohmann::json::array();
  // Token spans a rebuild dropped (blocks that could not be parsed): counted repaired, which the
  // caller confirms once it knows the ring (ConfirmLostSpans).
  struct LostSpans {
    std::string dir;
    std::vector<TokenSpan> spans;
    std::vector<size_t> findings;  // indices into `findings`
  };
  std::vector<LostSpans> lost;
};

// Checks every dir of `dirs`, reports each damaged record on `text` (one line each, when not
// null), and, unless `dry_run`, rebuilds the damaged dirs that can be repaired. Errors are for a
// dir that cannot be read at all or is in use (kUnavailable).
Result<SalvageOutcome> RepairCorruptDirs(const std::vector<std::string>& dirs, bool dry_run,
                                         std::ostream* text);

// Whether `dir`'s lost spans are held by another dir: `covered(dir, span)`. A span that is not is
// turned from repaired into unrepairable (its keys were only here, or in dirs not given).
void ConfirmLostSpans(SalvageOutcome* out,
                      const std::function<bool(const std::string& dir, TokenSpan span)>& covered);

}  // namespace causeway::tools
