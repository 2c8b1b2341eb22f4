#include "rpc/internal/errors.h"

#include <kj/string.h>

#include <cctype>
#include <charconv>
#include <iterator>
#include <string>
#include <string_view>

#include "schema/causeway.capnp.h"

namespace causeway::rpc {
namespace {

constexpr std::string_view kPrefix = "causeway:E";
constexpr std::string_view kRemotePrefix = "remote exception: ";

struct WireCode {
  ErrorCode code;
  wire::ErrorCode wire;
};

// The mapping, once: a row per causeway::ErrorCode, in order.
constexpr WireCode kWireCodes[] = {
    {ErrorCode::kOk, wire::ErrorCode::OK},
    {ErrorCode::kInvalidArgument, wire::ErrorCode::INVALID_ARGUMENT},
    {ErrorCode::kUnavailable, wire::ErrorCode::UNAVAILABLE},
    {ErrorCode::kTimeout, wire::ErrorCode::TIMEOUT},
    {ErrorCode::kOverloaded, wire::ErrorCode::OVERLOADED},
    {ErrorCode::kClockSkew, wire::ErrorCode::CLOCK_SKEW},
    {ErrorCode::kCorruption, wire::ErrorCode::CORRUPTION},
    {ErrorCode::kIoError, wire::ErrorCode::IO_ERROR},
    {ErrorCode::kNoSpace, wire::ErrorCode::NO_SPACE},
    {ErrorCode::kInternal, wire::ErrorCode::INTERNAL},
};
static_assert(std::size(kWireCodes) == static_cast<size_t>(ErrorCode::kInternal) + 1,
              "every causeway::ErrorCode needs a wire number");

constexpr bool RowsAreInOrderAndNumbersMatch() {
  for (size_t i = 0; i < std::size(kWireCodes); ++i) {
    if (static_cast<size_t>(kWireCodes[i].code) != i) return false;
    if (static_cast<size_t>(kWireCodes[i].wire) != i) return false;  // docs/formats.md
  }
  return true;
}
static_assert(RowsAreInOrderAndNumbersMatch());

// Parses "causeway:E<n>:<Name>: message" at the start of `text`, after any number of capnp's
// "remote exception: " prefixes. Only <n> decides the code.
bool ParsePrefixed(std::string_view text, Status* out) {
  while (text.substr(0, kRemotePrefix.size()) == kRemotePrefix) {
    text.remove_prefix(kRemotePrefix.size());
  }
  if (text.substr(0, kPrefix.size()) != kPrefix) return false;
  text.remove_prefix(kPrefix.size());
  uint16_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data() + text.size() || *end != ':') return false;
  text.remove_prefix(static_cast<size_t>(end - text.data()) + 1);
  size_t name_end = 0;
  while (name_end < text.size() && std::isalnum(static_cast<unsigned char>(text[name_end]))) {
    ++name_end;
  }
  if (name_end < text.size() && text[name_end] == ':') text.remove_prefix(name_end + 1);
  if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  *out = Status(ErrorCodeFromWire(number), std::string(text));
  return true;
}

}  // namespace

uint16_t ErrorCodeToWire(ErrorCode code) {
  for (const WireCode& row : kWireCodes) {
    if (row.code == code) return static_cast<uint16_t>(row.wire);
  }
  return static_cast<uint16_t>(wire::ErrorCode::INTERNAL);  // not a declared enumerator
}

ErrorCode ErrorCodeFromWire(uint16_t number) {
  for (const WireCode& row : kWireCodes) {
    if (static_cast<uint16_t>(row.wire) == number && row.code != ErrorCode::kOk) return row.code;
  }
  return ErrorCode::kInternal;  // 0 or a newer peer's code
}

kj::Exception ToException(const Status& status) {
  auto type = status.code() == ErrorCode::kOverloaded ? kj::Exception::Type::OVERLOADED
                                                      : kj::Exception::Type::FAILED;
  std::string_view name = ErrorCodeName(status.code());
  auto description =
      kj::str(kPrefix.data(), ErrorCodeToWire(status.code()), ":",
              kj::StringPtr(name.data(), name.size()), ": ", status.message().c_str());
  return kj::Exception(type, __FILE__, __LINE__, kj::mv(description));
}

void ThrowStatus(const Status& status) { kj::throwFatalException(ToException(status)); }

Status FromException(const kj::Exception& exception) {
  std::string_view text(exception.getDescription().cStr());
  Status parsed;
  if (ParsePrefixed(text, &parsed)) return parsed;
  std::string message(text);
  switch (exception.getType()) {
    case kj::Exception::Type::DISCONNECTED:
      return Status::Unavailable("connection lost: " + message);
    case kj::Exception::Type::OVERLOADED:
      if (text.find("timed out") != std::string_view::npos) return Status::Timeout(message);
      return Status::Overloaded(message);
    case kj::Exception::Type::UNIMPLEMENTED:
      return Status::Internal("not implemented by the peer: " + message);
    case kj::Exception::Type::FAILED:
      break;
  }
  return Status::Internal(message);
}

bool IsConnectionFailure(const kj::Exception& exception) {
  Status ignored;
  return exception.getType() == kj::Exception::Type::DISCONNECTED &&
         !ParsePrefixed(exception.getDescription().cStr(), &ignored);
}

}  // namespace causeway::rpc
