// The version record codec: engine/record.h.
#include "engine/record.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <algorithm>

#include "base/limits.h"
#include "engine/internal/coding.h"
#include "engine/internal/record.h"

namespace causeway {

using internal::DecodeFixed32Le;
using internal::DecodeFixed64Le;
using internal::kRecordChecksumBytes;
using internal::kRecordFlagTombstone;
using internal::kRecordFormatVersion;
using internal::kRecordHeaderBytes;

namespace {

// Everything before the value: header, vector, value length.
void EncodeHead(const Version& v, size_t value_bytes, std::string* out) {
  out->push_back(static_cast<char>(kRecordFormatVersion));
  out->push_back(static_cast<char>(v.tombstone ? kRecordFlagTombstone : 0));
  internal::PutFixed64Le(out, v.timestamp);
  internal::PutFixed64Le(out, v.writer);
  out->push_back(static_cast<char>(v.vv.size()));
  for (const auto& [node, counter] : v.vv.entries()) {
    internal::PutFixed64Le(out, node);
    internal::PutFixed64Le(out, counter);
  }
  internal::PutVarint64(out, value_bytes);
}

}  // namespace

void EncodeVersionTo(const Version& v, std::string* out) {
  const size_t start = out->size();
  out->reserve(start + kRecordHeaderBytes + v.vv.size() * 16 + 10 + v.value.size() +
               kRecordChecksumBytes);
  EncodeHead(v, v.value.size(), out);
  out->append(v.value);
  const uint64_t sum = XXH3_64bits(out->data() + start, out->size() - start);
  internal::PutFixed32Le(out, static_cast<uint32_t>(sum));
}

std::string EncodeVersion(const Version& v) {
  std::string out;
  EncodeVersionTo(v, &out);
  return out;
}

Result<VersionHeader> DecodeVersionHeader(std::string_view bytes) {
  if (bytes.size() < kRecordHeaderBytes + 1 + kRecordChecksumBytes) {
    return Status::Corruption("version record too short");
  }
  if (static_cast<uint8_t>(bytes[0]) != kRecordFormatVersion) {
    return Status::Corruption("unknown version record format " +
                              std::to_string(static_cast<uint8_t>(bytes[0])));
  }
  const auto flags = static_cast<uint8_t>(bytes[1]);
  if ((flags & ~kRecordFlagTombstone) != 0) return Status::Corruption("unknown record flags");
  VersionHeader h;
  h.tombstone = (flags & kRecordFlagTombstone) != 0;
  h.timestamp = DecodeFixed64Le(bytes.data() + 2);
  h.writer = DecodeFixed64Le(bytes.data() + 10);
  return h;
}

namespace {

// Parses the vector that follows the header; leaves *rest at the value length.
Status DecodeVector(std::string_view bytes, VersionVector* vv, std::string_view* rest) {
  const auto count = static_cast<uint8_t>(bytes[kRecordHeaderBytes - 1]);
  if (count > kVersionVectorEntriesMax) return Status::Corruption("version vector too long");
  std::string_view in = bytes.substr(kRecordHeaderBytes);
  if (in.size() < size_t{count} * 16) return Status::Corruption("truncated version vector");
  NodeId previous = 0;
  for (size_t i = 0; i < count; ++i) {
    const NodeId node = DecodeFixed64Le(in.data());
    const uint64_t counter = DecodeFixed64Le(in.data() + 8);
    if ((i > 0 && node <= previous) || node == 0 || counter == 0) {
      return Status::Corruption("version vector not sorted or zero counter");
    }
    vv->Advance(node, counter);
    previous = node;
    in.remove_prefix(16);
  }
  *rest = in;
  return Status::Ok();
}

// Decodes all but the value; *value_out is the value bytes inside `bytes`.
Result<Version> DecodeParts(std::string_view bytes, std::string_view* value_out) {
  Result<VersionHeader> h = DecodeVersionHeader(bytes);
  if (!h.ok()) return h.status();
  Version v;
  v.timestamp = h->timestamp;
  v.writer = h->writer;
  v.tombstone = h->tombstone;
  std::string_view rest;
  if (Status s = DecodeVector(bytes, &v.vv, &rest); !s.ok()) return s;
  uint64_t value_bytes = 0;
  if (!internal::GetVarint64(&rest, &value_bytes)) return Status::Corruption("bad value length");
  if (value_bytes > kValueBytesMax || rest.size() != value_bytes + kRecordChecksumBytes) {
    return Status::Corruption("value length does not match the record");
  }
  if (v.tombstone && value_bytes != 0) return Status::Corruption("tombstone with a value");
  *value_out = rest.substr(0, value_bytes);
  return v;
}

}  // namespace

Result<Version> DecodeVersion(std::string_view bytes) {
  if (bytes.size() < kRecordChecksumBytes) return Status::Corruption("version record too short");
  const size_t body = bytes.size() - kRecordChecksumBytes;
  const auto sum = static_cast<uint32_t>(XXH3_64bits(bytes.data(), body));
  if (sum != DecodeFixed32Le(bytes.data() + body)) {
    return Status::Corruption("version record checksum mismatch");
  }
  std::string_view value;
  Result<Version> v = DecodeParts(bytes, &value);
  if (v.ok()) v->value.assign(value.data(), value.size());
  return v;
}

namespace internal {
void EncodeVersionParts(const Version& v, RecordParts* parts) {
  parts->head.clear();
  EncodeHead(v, v.value.size(), &parts->head);
  parts->value = v.value;
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, parts->head.data(), parts->head.size());
  XXH3_64bits_update(&state, v.value.data(), v.value.size());
  parts->tail.clear();
  PutFixed32Le(&parts->tail, static_cast<uint32_t>(XXH3_64bits_digest(&state)));
}

Result<Version> DecodeVersionWithoutValue(std::string_view bytes) {
  std::string_view value;
  return DecodeParts(bytes, &value);
}

bool RecordChecksumMatches(std::string_view bytes) {
  if (bytes.size() < kRecordChecksumBytes) return false;
  const size_t body = bytes.size() - kRecordChecksumBytes;
  return static_cast<uint32_t>(XXH3_64bits(bytes.data(), body)) ==
         DecodeFixed32Le(bytes.data() + body);
}

Result<Version> DecodeVersionView(std::string_view bytes, std::string_view* value) {
  return DecodeParts(bytes, value);
}

void EncodeVersionWithValue(const Version& meta, std::string_view value, std::string* out) {
  const size_t start = out->size();
  out->reserve(start + kRecordHeaderBytes + meta.vv.size() * 16 + 10 + value.size() +
               kRecordChecksumBytes);
  EncodeHead(meta, value.size(), out);
  out->append(value);
  const uint64_t sum = XXH3_64bits(out->data() + start, out->size() - start);
  PutFixed32Le(out, static_cast<uint32_t>(sum));
}
}  // namespace internal

}  // namespace causeway
