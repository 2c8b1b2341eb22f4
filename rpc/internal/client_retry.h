// The retry loop of causeway::Client (ClientCore::StartCall and the attempts it makes), as
// templates: rpc/client.cc (data calls) and rpc/client_admin.cc (admin calls) instantiate them
// with their own reply types. Not part of the API.
#pragma once

#include "rpc/internal/client_core.h"

namespace causeway {
namespace client_internal {

// Failures after which the same call is tried on the next endpoint: each says "this node cannot
// serve it now", and another node may.
//   kUnavailable: refused, reset or closed connections, a probe without answer; or the node says
//                 it is joining, stopping, fenced (its clock is off) or short of live replicas
//                 from where it stands.
//   kTimeout:     the attempt's deadline passed, ours or the node's: a paused or hung node, or
//                 one cut off from its replicas; the call's remaining time is better spent on
//                 another coordinator.
//   kOverloaded:  this node's queues are full; another node's are not the same queues.
//   kClockSkew:   this node's clock disagrees with the session's or its peers' stamps; another
//                 node's clock may agree.
//   kIoError, kNoSpace: this node's disk failed its writes; the others write to their own disks.
// Never: kInvalidArgument (the request itself is wrong; unchanged it fails everywhere),
// kCorruption (stop and repair: a retry elsewhere would hide it from the caller), kInternal (a
// bug, or a reply that does not decode: repeating it elsewhere hides the bug). Not-found is not a
// failure at all. Retrying a write is safe: the same value is written again with a newer stamp,
// which wins over the first attempt's, if that one was applied anywhere (last writer wins).
inline bool MovesOn(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
    case ErrorCode::kOverloaded:
    case ErrorCode::kClockSkew:
    case ErrorCode::kIoError:
    case ErrorCode::kNoSpace:
      return true;
    default:
      return false;
  }
}

}  // namespace client_internal

using client_internal::MovesOn;
using client_internal::Ms;
using client_internal::MsUntil;
using client_internal::Now;
using client_internal::Pong;
using client_internal::WireTimeoutMs;

// ---- The retry loop -------------------------------------------------------------------------

template <typename T>
kj::Promise<Result<T>> ClientCore::StartCall(const char* what, uint64_t timeout_ms,
                                             uint64_t grace_ms, AttemptFn<T> attempt) {
  if (options.endpoints.empty()) return Result<T>(Status::InvalidArgument("no endpoints given"));
  auto run = kj::heap<Run<T>>();
  run->call.what = what;
  run->call.deadline = Now() + Ms(timeout_ms);
  run->call.grace_ms = grace_ms;
  run->call.tried.assign(targets.size(), false);
  run->attempt = kj::mv(attempt);
  // The loop turns every failure into a Result; this is the net under a bug in it, so that the
  // caller never sees a kj::Exception.
  return Attempt(kj::mv(run)).catch_([](kj::Exception&& e) -> Result<T> {
    return rpc::FromException(e);
  });
}

// One attempt on the endpoint Pick() chooses, then Finish() decides whether there is another.
// An attempt that is not the call's last chance ends by attempt_timeout_ms (connecting and
// probing included); the last one gets whatever is left of the call's deadline, so a call to a
// single endpoint waits as long as it always did.
template <typename T>
kj::Promise<Result<T>> ClientCore::Attempt(kj::Own<Run<T>> run) {
  Call& call = run->call;
  kj::TimePoint now = Now();
  std::optional<size_t> next = Pick(call, now);
  if (!next || now >= call.deadline) {
    if (call.last.ok()) {
      return Result<T>(Status::Timeout(StrCat(call.what, ": the call's deadline passed")));
    }
    return Result<T>(call.last);
  }
  size_t i = *next;
  call.tried[i] = true;
  kj::TimePoint attempt_deadline = call.deadline;
  const bool others_left = OthersLeft(call, i, now);
  if (others_left) {
    attempt_deadline = std::min(attempt_deadline, now + Ms(options.attempt_timeout_ms));
  }
  Target& target = targets[i];
  bool reused = !target.conns.empty();
  ++target.attempts;
  return Connected(i, attempt_deadline, /*last_chance=*/!others_left)
      .then([this, i, attempt_deadline, reused,
             run = kj::mv(run)](causeway::Status connected) mutable -> kj::Promise<Result<T>> {
        if (connected.ok() && targets[i].conns.empty()) {  // closed by another call meanwhile
          connected = Status::Unavailable(
              StrCat("the connection to ", options.endpoints[i], " closed as it opened"));
        }
        if (!connected.ok()) {
          return Finish(kj::mv(run), i, 0, reused, Outcome<T>{std::move(connected)});
        }
        return Send(kj::mv(run), i, attempt_deadline, reused);
      });
}

// Sends the attempt on one of the endpoint's connections and waits until the attempt's deadline
// plus the grace: the node was told the deadline, so it normally answers (kTimeout) first.
template <typename T>
kj::Promise<Result<T>> ClientCore::Send(kj::Own<Run<T>> run, size_t i,
                                        kj::TimePoint attempt_deadline, bool reused) {
  Target& target = targets[i];
  uint64_t generation = target.generation;
  auto api = target.conns[target.next_conn++ % target.conns.size()]->api;
  uint64_t node_timeout_ms = MsUntil(attempt_deadline);
  auto reply = kj::evalNow([&]() { return run->attempt(kj::mv(api), node_timeout_ms); })
                   .then([](Result<T> r) { return Outcome<T>{std::move(r)}; },
                         [](kj::Exception&& e) {
                           return Outcome<T>{rpc::FromException(e), rpc::IsConnectionFailure(e)};
                         });
  uint64_t waited_ms = node_timeout_ms + run->call.grace_ms;
  auto silence =
      io.provider->getTimer()
          .atTime(attempt_deadline + Ms(run->call.grace_ms))
          .then([endpoint = options.endpoints[i], what = run->call.what, waited_ms]() {
            return Outcome<T>{Status::Timeout(StrCat(endpoint, " did not answer the ", what,
                                                     " within ", waited_ms, " ms")),
                              true, true};
          });
  return reply.exclusiveJoin(kj::mv(silence))
      .then([this, i, generation, reused, run = kj::mv(run)](Outcome<T> outcome) mutable {
        return Finish(kj::mv(run), i, generation, reused, std::move(outcome));
      });
}

// Ends the call with this attempt's result, or moves it on to the next endpoint. A failed
// attempt's reply carries no session, so the session token stays the last good reply's.
template <typename T>
kj::Promise<Result<T>> ClientCore::Finish(kj::Own<Run<T>> run, size_t i, uint64_t generation,
                                          bool reused, Outcome<T> outcome) {
  --targets[i].attempts;
  if (outcome.result.ok() || !MovesOn(outcome.result.status().code())) {
    if (outcome.result.ok()) Prefer(i);
    CloseIfIdle(i);
    return std::move(outcome.result);
  }
  Call& call = run->call;
  call.last = outcome.result.status();
  if (outcome.connection_lost) Close(i, generation);
  if (call.last.code() == ErrorCode::kTimeout) SkipForAWhile(i);
  if (outcome.connection_lost && !outcome.timed_out && reused && !call.reconnected) {
    // A connection that sat idle may have been closed by the node (its idle timeout), which
    // says nothing about the node: one fresh connection to it before moving on.
    call.reconnected = true;
    call.tried[i] = false;
  } else if (preferred == i) {
    preferred = (i + 1) % targets.size();
  }
  CloseIfIdle(i);
  return Attempt(kj::mv(run));
}

template <typename T>
Result<T> ClientCore::Block(kj::Promise<Result<T>> call) {
  ++outstanding;
  auto r = call.wait(io.waitScope);
  --outstanding;
  return r;
}

}  // namespace causeway
