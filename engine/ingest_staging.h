// IngestStaging: the files a replica receives in chunks before it ingests them (docs/formats.md,
// "Ingestion chunks"): "<data dir>/ingest/<session, 16 hex digits>.sst".
//
// A chunk must start where the staged file ends (a chunk sent again after a lost answer, ending
// exactly there, is acknowledged without writing). Limits (base/limits.h): kIngestFileBytesMax per
// file, kIngestStagedBytesMax and kIngestSessionsMax over all of them; a file untouched for
// kIngestStagedIdleMs is removed by the next Append (its sender is gone). Clear() at start removes
// everything a previous run left.
//
// Thread-safe (the storage pool's threads call it); Append writes while holding the lock, so
// chunks are written one at a time.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "base/status.h"

namespace causeway {

class IngestStaging {
 public:
  explicit IngestStaging(std::string dir) : dir_(std::move(dir)) {}
  Status Clear();
  Status Append(uint64_t session, uint64_t offset, std::string_view bytes, uint64_t now_ms);
  // The staged file of `session` (kInvalidArgument when none).
  Result<std::string> Path(uint64_t session);
  void Remove(uint64_t session);
  uint64_t staged_bytes();

 private:
  struct File {
    uint64_t bytes = 0;
    uint64_t touched_ms = 0;
  };
  std::string PathOf(uint64_t session) const;
  void RemoveLocked(uint64_t session);

  const std::string dir_;
  std::mutex mu_;
  std::map<uint64_t, File> files_;  // GUARDED_BY(mu_)
  uint64_t total_ = 0;              // GUARDED_BY(mu_)
};

}  // namespace causeway
