// The one place where causeway::Status and kj::Exception meet (STYLE.md 7).
//
// Wire form of a failure: a kj::Exception whose description starts with
// "causeway:<ErrorCodeName>: <message>" (e.g. "causeway:Unavailable: only 1 of 2 replicas
// answered"). capnp may prepend "remote exception: " on the receiving side; the parser finds the
// prefix anywhere. The exception's kj type is OVERLOADED for kOverloaded, FAILED otherwise.
// Exceptions without the prefix come from KJ/capnp themselves and map by type: DISCONNECTED ->
// kUnavailable, OVERLOADED -> kOverloaded (or kTimeout when it is KJ's "timed out"),
// UNIMPLEMENTED and FAILED -> kInternal.
#pragma once

#include <kj/exception.h>

#include "base/status.h"

namespace causeway::rpc {

// `status` must not be ok.
kj::Exception ToException(const Status& status);
[[noreturn]] void ThrowStatus(const Status& status);
Status FromException(const kj::Exception& exception);

// True if the failure means the connection or endpoint is gone (the client fails over).
bool IsConnectionFailure(const kj::Exception& exception);

}  // namespace causeway::rpc
