// LoginGate: the event loop's asynchronous, bounded way to check a password (rpc/users.h).
//
// Authenticate() returns at once with a promise; the Argon2id check runs on libuv's thread pool
// (never on the loop thread), at most kLoginKdfInFlightMax at a time, with at most kLoginQueueMax
// more waiting; beyond that the promise resolves at once to kOverloaded, so a flood of logins
// costs bounded CPU and memory and the loop keeps serving. The Cap'n Proto login
// (Bootstrap.login) and the RESP gateway's `AUTH user password` both use it:
//
//   gate.Authenticate(user, password).then([](Result<Role> role) { ... });
//
// Loop-thread only. Close() then WaitIdle() before the loop goes (pending logins are dropped:
// their promises reject).
#pragma once

#include <kj/async.h>
#include <uv.h>

#include <deque>
#include <memory>
#include <string>

#include "base/status.h"
#include "rpc/users.h"

namespace causeway::rpc {

class LoginGate {
 public:
  LoginGate(uv_loop_t* loop, std::shared_ptr<const Users> users);
  ~LoginGate();
  LoginGate(const LoginGate&) = delete;
  LoginGate& operator=(const LoginGate&) = delete;

  kj::Promise<Result<Role>> Authenticate(std::string name, std::string password);

  void Close();     // drops queued logins
  void WaitIdle();  // runs the loop until the thread pool gave back every check
  size_t in_flight() const { return in_flight_; }
  size_t queued() const { return queue_.size(); }

 private:
  struct Work;
  void StartQueued();

  uv_loop_t* loop_;
  std::shared_ptr<const Users> users_;
  std::deque<std::unique_ptr<Work>> queue_;
  size_t in_flight_ = 0;
  bool closed_ = false;
};

}  // namespace causeway::rpc
