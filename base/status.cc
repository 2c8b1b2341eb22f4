#include "base/status.h"

namespace causeway {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "OK";
    case ErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case ErrorCode::kUnavailable:
      return "Unavailable";
    case ErrorCode::kTimeout:
      return "Timeout";
    case ErrorCode::kOverloaded:
      return "Overloaded";
    case ErrorCode::kClockSkew:
      return "ClockSkew";
    case ErrorCode::kCorruption:
      return "Corruption";
    case ErrorCode::kIoError:
      return "IoError";
    case ErrorCode::kNoSpace:
      return "NoSpace";
    case ErrorCode::kInternal:
      return "Internal";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(ErrorCodeName(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace causeway
