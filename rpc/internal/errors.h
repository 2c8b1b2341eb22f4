// The one place where causeway::Status and its wire forms meet (STYLE.md 7).
//
// A code crosses the wire as a number: schema/causeway.capnp's `enum ErrorCode`, whose ordinals
// equal causeway::ErrorCode's. The table in errors.cc is the only mapping; a number this build
// does not know (0, or a newer peer's) reads as kInternal.
//
// Wire form of a failure: a kj::Exception whose description starts with
// "causeway:E<n>:<Name>: <message>", <n> the wire number (e.g. "causeway:E2:Unavailable: only 1
// of 2 replicas answered"). Only the number is parsed; <Name> is for people reading logs. capnp
// prepends "remote exception: " on the receiving side; the parser skips those prefixes and
// nothing else. The exception's kj type is OVERLOADED for kOverloaded, FAILED otherwise.
// Exceptions without the prefix come from KJ/capnp themselves and map by type: DISCONNECTED ->
// kUnavailable, OVERLOADED -> kOverloaded (or kTimeout when it is KJ's "timed out"),
// UNIMPLEMENTED and FAILED -> kInternal.
#pragma once

#include <kj/exception.h>

#include <cstdint>

#include "base/status.h"

namespace causeway::rpc {

// The schema's ErrorCode number for `code`.
uint16_t ErrorCodeToWire(ErrorCode code);
// The code a wire number stands for; kInternal for 0 and for numbers this build does not know.
ErrorCode ErrorCodeFromWire(uint16_t number);

// `status` must not be ok.
kj::Exception ToException(const Status& status);
[[noreturn]] void ThrowStatus(const Status& status);
Status FromException(const kj::Exception& exception);

// True if the failure means the connection or endpoint is gone (the client fails over).
bool IsConnectionFailure(const kj::Exception& exception);

}  // namespace causeway::rpc
