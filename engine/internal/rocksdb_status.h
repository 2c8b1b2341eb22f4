// The one place where rocksdb::Status becomes a Causeway Status (STYLE.md 7).
#pragma once

#include <rocksdb/status.h>

#include "base/status.h"

namespace causeway::internal {

// IOError with the NoSpace subcode -> kNoSpace; other IOError -> kIoError; Corruption ->
// kCorruption; anything else -> kInternal. NotFound is not an error for the engine and must be
// handled by the caller before mapping.
Status FromRocksDb(const rocksdb::Status& s, std::string_view context);

// True for the failures that fail-stop the engine's write path.
inline bool IsFailStop(ErrorCode code) {
  return code == ErrorCode::kIoError || code == ErrorCode::kNoSpace ||
         code == ErrorCode::kCorruption;
}

}  // namespace causeway::internal
