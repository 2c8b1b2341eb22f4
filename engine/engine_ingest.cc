// Engine: bulk ingestion of SST files of merge operands (engine/engine.h, IngestFile;
// docs/design.md, "Bulk import and LWW").
#include <rocksdb/sst_file_reader.h>
#include <rocksdb/table_properties.h>

#include <filesystem>

#include "base/strings.h"
#include "engine/internal/engine_impl.h"

namespace causeway {

using internal::AaeSegment;
using internal::AaeTree;
using internal::FromRocksDb;

namespace {

// Every entry of `path` is a merge operand with a sound data key and a valid version record; the
// segments of their tokens are set in `segments`.
Status CheckIngestFile(const std::string& path,
                       const std::shared_ptr<internal::LwwMergeOperator>& merge,
                       std::vector<bool>* segments, uint64_t* entries) {
  rocksdb::Options options;
  options.merge_operator = merge;
  rocksdb::SstFileReader reader(options);
  if (rocksdb::Status s = reader.Open(path); !s.ok()) {
    return Status::InvalidArgument(StrCat("not an ingestion file: ", s.ToString()));
  }
  if (rocksdb::Status s = reader.VerifyChecksum(); !s.ok()) {
    return Status::InvalidArgument(StrCat("ingestion file damaged: ", s.ToString()));
  }
  std::shared_ptr<const rocksdb::TableProperties> props = reader.GetTableProperties();
  if (props == nullptr || props->num_merge_operands != props->num_entries ||
      props->num_range_deletions != 0) {
    return Status::InvalidArgument("an ingestion file holds merge operands only");
  }
  internal::ReadingScope reading;
  std::unique_ptr<rocksdb::Iterator> it(reader.NewIterator(rocksdb::ReadOptions()));
  uint64_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view k = ToView(it->key());
    if (k.size() <= internal::kTokenBytes) return Status::InvalidArgument("bad data key");
    const std::string_view key = k.substr(internal::kTokenBytes);
    const Token token = internal::DecodeFixed64Be(k.data());
    if (token != TokenOf(key)) return Status::InvalidArgument("data key with a wrong token");
    if (Status s = ValidateKey(key); !s.ok()) return Status::InvalidArgument(s.message());
    Result<Version> v = DecodeVersion(ToView(it->value()));
    if (!v.ok()) return Status::InvalidArgument(StrCat("bad record: ", v.status().message()));
    if (Status s = ValidateVersion(*v); !s.ok()) return Status::InvalidArgument(s.message());
    (*segments)[AaeTree::SegmentOf(token)] = true;
    ++n;
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "read ingestion file");
  if (n != props->num_entries) return Status::InvalidArgument("an ingestion file repeats a key");
  *entries = n;
  return Status::Ok();
}

}  // namespace

Result<IngestResult> Engine::IngestFile(const std::string& path) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return Status::InvalidArgument(StrCat("no ingestion file ", path));
  if (Status s = impl_->CheckDataWritable(size); !s.ok()) return s;
  std::vector<bool> segments(kAaeSegments, false);
  IngestResult result;
  result.bytes = size;
  if (Status s = CheckIngestFile(path, impl_->merge, &segments, &result.entries); !s.ok()) {
    return s;
  }
  rocksdb::IngestExternalFileOptions ifo;
  ifo.move_files = true;  // a hard link: the staged file is in the data dir
  ifo.allow_global_seqno = true;
  ifo.allow_blocking_flush = true;
  Status s = impl_->CheckWrite(impl_->db->IngestExternalFile(impl_->data(), {path}, ifo), "ingest");
  // After the ingestion is visible, failed or not (as Apply and RemoveOutside do).
  for (uint32_t seg = 0; seg < kAaeSegments; ++seg) {
    if (!segments[seg]) continue;
    impl_->aae.MarkDirty(static_cast<AaeSegment>(seg));
    ++result.segments;
  }
  if (!s.ok()) return s;
  impl_->applied.fetch_add(result.entries, std::memory_order_relaxed);
  return result;
}

std::string Engine::IngestStagingDir() const { return impl_->options.dir + "/ingest"; }
const std::string& Engine::dir() const { return impl_->options.dir; }

Result<bool> Engine::ScanPage(std::string_view after_key, size_t limit, const ScanFn& fn) {
  internal::ReadingScope reading;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->data()));
  const std::string start = after_key.empty() ? std::string() : internal::DataKey(after_key);
  size_t passed = 0;
  for (it->Seek(start); it->Valid(); it->Next()) {
    if (it->key().size() <= internal::kTokenBytes) return Status::Corruption("bad data key");
    const std::string_view key = ToView(it->key()).substr(internal::kTokenBytes);
    if (!after_key.empty() && key == after_key) continue;
    if (passed == limit) return true;
    Result<Version> v = DecodeVersion(ToView(it->value()));
    if (!v.ok()) {
      return Status::Corruption(StrCat("key ", key, ": ", v.status().message()));
    }
    fn(key, *v);
    ++passed;
  }
  if (Status s = FromRocksDb(it->status(), "scan"); !s.ok()) return s;
  return false;
}

}  // namespace causeway
