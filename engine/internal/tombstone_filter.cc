#include "engine/internal/tombstone_filter.h"

namespace causeway::internal {

bool TombstoneFilter::Filter(int /*level*/, const rocksdb::Slice& /*key*/,
                             const rocksdb::Slice& existing_value, std::string* /*new_value*/,
                             bool* /*value_changed*/) const {
  const Hlc watermark = watermark_.load(std::memory_order_relaxed);
  if (watermark == 0) return false;
  Result<VersionHeader> h =
      DecodeVersionHeader(std::string_view(existing_value.data(), existing_value.size()));
  if (!h.ok() || !h->tombstone || h->timestamp >= watermark) return false;
  purged_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace causeway::internal
