// Bulk ingestion files (docs/formats.md, "Ingestion files"): an SST of the `data` column family
// whose every entry is a merge operand -- key token(8, big-endian) + key, value a version record
// (engine/record.h) -- in the data family's key order, written with RocksDB's SstFileWriter.
// Engine::IngestFile ingests one; the LWW merge operator then folds each operand with what the key
// already holds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/engine.h"

namespace causeway {

struct IngestFileInfo {
  uint64_t entries = 0;  // distinct keys written
  uint64_t bytes = 0;    // the file's size
};

// Writes rows[pick[i]] for every i to a new file at `path`, sorted by data key; of rows with the
// same key the one picked last is kept (a later row of the input wins). Keys and versions must be
// valid (ValidateKey, ValidateVersion): the caller checked them. Nothing picked: no file, entries
// 0.
Result<IngestFileInfo> WriteIngestFile(const std::string& path, const std::vector<IngestRow>& rows,
                                       std::vector<uint32_t> pick);

}  // namespace causeway
