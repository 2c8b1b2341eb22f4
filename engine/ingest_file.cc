// Bulk ingestion files: engine/ingest_file.h.
#include "engine/ingest_file.h"

#include <rocksdb/sst_file_writer.h>

#include <algorithm>
#include <filesystem>

#include "base/strings.h"
#include "engine/internal/keys.h"
#include "engine/internal/rocksdb_status.h"
#include "engine/record.h"

namespace causeway {

Result<IngestFileInfo> WriteIngestFile(const std::string& path, const std::vector<IngestRow>& rows,
                                       std::vector<uint32_t> pick) {
  IngestFileInfo info;
  if (pick.empty()) return info;
  // Data-key order is (token, key): sort by both, then by position so that the last of equal keys
  // is the one kept.
  std::vector<Token> tokens(pick.size());
  std::vector<uint32_t> order(pick.size());
  for (size_t i = 0; i < pick.size(); ++i) {
    tokens[i] = TokenOf(rows[pick[i]].key);
    order[i] = static_cast<uint32_t>(i);
  }
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (tokens[a] != tokens[b]) return tokens[a] < tokens[b];
    const int c = rows[pick[a]].key.compare(rows[pick[b]].key);
    return c != 0 ? c < 0 : a < b;
  });
  rocksdb::Options options;
  // Uncompressed: quicker to build, and compaction recompresses it (LZ4) like any data.
  options.compression = rocksdb::kNoCompression;
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), options);
  if (rocksdb::Status s = writer.Open(path); !s.ok()) {
    return internal::FromRocksDb(s, "open ingestion file");
  }
  std::string record;
  for (size_t i = 0; i < order.size(); ++i) {
    // Equal keys are adjacent: write only the last of each run.
    if (i + 1 < order.size() && tokens[order[i]] == tokens[order[i + 1]] &&
        rows[pick[order[i]]].key == rows[pick[order[i + 1]]].key) {
      continue;
    }
    const IngestRow& row = rows[pick[order[i]]];
    record.clear();
    EncodeVersionTo(row.version, &record);
    if (rocksdb::Status s = writer.Merge(internal::DataKey(row.key), record); !s.ok()) {
      return internal::FromRocksDb(s, "write ingestion file");
    }
    ++info.entries;
  }
  rocksdb::ExternalSstFileInfo out;
  if (rocksdb::Status s = writer.Finish(&out); !s.ok()) {
    return internal::FromRocksDb(s, "finish ingestion file");
  }
  info.bytes = out.file_size;
  return info;
}

}  // namespace causeway
