// Engine-internal access to the version record (docs/formats.md, "Version record").
#pragma once

#include <string_view>

#include "base/status.h"
#include "base/version.h"
#include "engine/record.h"

namespace causeway::internal {

inline constexpr uint8_t kRecordFormatVersion = 1;
inline constexpr uint8_t kRecordFlagTombstone = 0x01;
// version(1) flags(1) timestamp(8) writer(8) vv count(1)
inline constexpr size_t kRecordHeaderBytes = 19;
inline constexpr size_t kRecordChecksumBytes = 4;

// Decodes everything but the value and skips the checksum: the Apply path needs only the
// stored version's dot and vector, and must not pay for hashing or copying a 1 MiB value.
// Structural checks still apply (kCorruption on malformed bytes).
Result<Version> DecodeVersionWithoutValue(std::string_view bytes);

// The record of `v` as three pieces whose concatenation is EncodeVersion(v), without copying the
// value: the write path hands them to RocksDB as SliceParts (one copy less for 1 MiB values).
struct RecordParts {
  std::string head;        // everything before the value
  std::string_view value;  // points into the Version
  std::string tail;        // the checksum
};
void EncodeVersionParts(const Version& v, RecordParts* parts);

// True if the record's last 4 bytes are the checksum of the rest (nothing else is checked).
bool RecordChecksumMatches(std::string_view bytes);
// Like DecodeVersionWithoutValue, and *value is the value's bytes inside `bytes` (no copy).
Result<Version> DecodeVersionView(std::string_view bytes, std::string_view* value);
// Appends the record of `meta` (everything but its value) with `value` as the value.
void EncodeVersionWithValue(const Version& meta, std::string_view value, std::string* out);

}  // namespace causeway::internal
