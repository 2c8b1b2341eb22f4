#include "rpc/internal/errors.h"

#include <kj/string.h>

#include <string_view>

namespace causeway::rpc {
namespace {

constexpr std::string_view kPrefix = "causeway:";
constexpr ErrorCode kAllCodes[] = {
    ErrorCode::kInvalidArgument, ErrorCode::kUnavailable, ErrorCode::kTimeout,
    ErrorCode::kOverloaded,      ErrorCode::kClockSkew,   ErrorCode::kCorruption,
    ErrorCode::kIoError,         ErrorCode::kNoSpace,     ErrorCode::kInternal,
};

// Parses "causeway:<Name>: message" found anywhere in `text`.
bool ParsePrefixed(std::string_view text, Status* out) {
  size_t at = text.find(kPrefix);
  if (at == std::string_view::npos) return false;
  std::string_view rest = text.substr(at + kPrefix.size());
  for (ErrorCode code : kAllCodes) {
    std::string_view name = ErrorCodeName(code);
    if (rest.size() > name.size() && rest.substr(0, name.size()) == name &&
        rest[name.size()] == ':') {
      std::string_view message = rest.substr(name.size() + 1);
      if (!message.empty() && message.front() == ' ') message.remove_prefix(1);
      *out = Status(code, std::string(message));
      return true;
    }
  }
  return false;
}

}  // namespace

kj::Exception ToException(const Status& status) {
  auto type = status.code() == ErrorCode::kOverloaded ? kj::Exception::Type::OVERLOADED
                                                      : kj::Exception::Type::FAILED;
  std::string_view name = ErrorCodeName(status.code());
  auto description = kj::str(kPrefix.data(), kj::StringPtr(name.data(), name.size()), ": ",
                             status.message().c_str());
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
  return exception.getType() == kj::Exception::Type::DISCONNECTED &&
         std::string_view(exception.getDescription().cStr()).find(kPrefix) ==
             std::string_view::npos;
}

}  // namespace causeway::rpc
