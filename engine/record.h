// The version record: the byte form in which the engine stores a Version (docs/formats.md,
// "Version record"). Part of the on-disk format; the wire carries versions as Cap'n Proto structs.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "base/version.h"

namespace causeway {

// Encode never fails for a version within the limits; Decode checks everything and reports
// kCorruption for bytes that are not a valid record.
std::string EncodeVersion(const Version& v);
void EncodeVersionTo(const Version& v, std::string* out);
Result<Version> DecodeVersion(std::string_view bytes);
// Only the fixed header (timestamp, writer, tombstone) -- cheap, skips the value copy.
struct VersionHeader {
  Hlc timestamp = 0;
  NodeId writer = 0;
  bool tombstone = false;
};
Result<VersionHeader> DecodeVersionHeader(std::string_view bytes);

}  // namespace causeway
