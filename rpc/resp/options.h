// RespOptions: how a node's RESP2 gateway listens and authenticates (docs/operations.md, "Redis
// clients (RESP)"). Plain values, no I/O; copied into the gateway at start.
//
// AUTH goes through an injected Authenticator, so that a user store (roles, ACLs) can replace
// the single password later without touching the gateway. The default, built from `password`
// when no authenticator is given, accepts the user "default" (or none) with that password,
// compared in constant time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/limits.h"
#include "base/status.h"

namespace causeway::rpc::resp {

// The authenticated user's name, or an error (kInvalidArgument: wrong user or password).
// Called on the node's loop thread: it must not block.
using Authenticator =
    std::function<Result<std::string>(std::string_view user, std::string_view password)>;

struct RespOptions {
  std::string listen;    // "host:port"; empty: no gateway
  std::string password;  // empty: no AUTH required (unless `authenticator` is set)
  Authenticator authenticator;
  // A connection with nothing in flight for this long is closed.
  uint64_t idle_timeout_ms = kIdleConnectionTimeoutMs;

  bool auth_required() const { return !password.empty() || authenticator != nullptr; }
};

// Equal bytes, in time that depends only on the lengths (never on where they differ).
bool ConstantTimeEquals(std::string_view a, std::string_view b);
// The default authenticator: user "default" or "" with exactly `password`.
Authenticator PasswordAuthenticator(std::string password);

}  // namespace causeway::rpc::resp
