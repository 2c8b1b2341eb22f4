#include "engine/internal/rocksdb_status.h"

#include <string>

namespace causeway::internal {

Status FromRocksDb(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::Ok();
  std::string message(context);
  message += ": ";
  message += s.ToString();
  if (s.IsIOError()) {
    if (s.IsNoSpace()) return Status::NoSpace(std::move(message));
    return Status::IoError(std::move(message));
  }
  if (s.IsCorruption()) return Status::Corruption(std::move(message));
  return Status::Internal(std::move(message));
}

}  // namespace causeway::internal
