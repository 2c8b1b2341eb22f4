// RespOptions: how a node's RESP2 gateway listens and authenticates (docs/operations.md, "Redis
// clients (RESP)"). Plain values, no I/O; copied into the gateway at start.
//
// AUTH goes through an injected Authenticator: `causeway serve --users-file` plugs in the node's
// users (rpc/users.h, checked off the loop by rpc/internal/login_gate.h), whose roles then decide
// which commands a connection may run (read: GET, MGET, EXISTS, DBSIZE; write: also SET, MSET,
// DEL; admin: also CONFIG). The default, built from `password` when no authenticator is given,
// accepts the user "default" (or none) with that password, compared in constant time, as admin.
#pragma once

#include <kj/async.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/limits.h"
#include "base/status.h"
#include "rpc/users.h"

namespace causeway::rpc::resp {

// Who a connection authenticated as.
struct Identity {
  std::string user;
  Role role = Role::kNone;
};
// The identity, or an error (kInvalidArgument: wrong user or password; kOverloaded: too many
// logins at once). Called on the node's loop thread: it must not block (a slow check resolves
// the promise later).
using Authenticator =
    std::function<kj::Promise<Result<Identity>>(std::string user, std::string password)>;

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
