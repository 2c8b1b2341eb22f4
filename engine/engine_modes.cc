// The names of the engine's modes (engine.h): what configs, flags and reports spell. Apart from
// the engine proper, so that parsers of those names (the config loader and its fuzz target) need
// no RocksDB.
#include <string>

#include "engine/engine.h"

namespace causeway {

std::string_view SyncModeName(SyncMode mode) {
  switch (mode) {
    case SyncMode::kAlways:
      return "always";
    case SyncMode::kPeriodic:
      return "periodic";
    case SyncMode::kNone:
      return "none";
  }
  return "unknown";
}

Result<SyncMode> ParseSyncMode(std::string_view name) {
  for (SyncMode m : {SyncMode::kAlways, SyncMode::kPeriodic, SyncMode::kNone}) {
    if (name == SyncModeName(m)) return m;
  }
  return Status::InvalidArgument("unknown sync mode '" + std::string(name) +
                                 "' (always, periodic, none)");
}

std::string_view StorageProfileName(StorageProfile profile) {
  return profile == StorageProfile::kSmall ? "small" : "default";
}

Result<StorageProfile> ParseStorageProfile(std::string_view name) {
  for (StorageProfile p : {StorageProfile::kDefault, StorageProfile::kSmall}) {
    if (name == StorageProfileName(p)) return p;
  }
  return Status::InvalidArgument("unknown storage profile '" + std::string(name) +
                                 "' (default, small)");
}

}  // namespace causeway
