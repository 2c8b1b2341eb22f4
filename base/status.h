// Status and Result<T>: how every layer of Causeway reports failure.
//
// Expected outcomes (a key that is not there, a write that lost to a newer one) are values in
// the result types, never errors. A code exists only if a caller reacts to it differently
// (STYLE.md 6). RocksDB's message text may be carried for people to read, but it is never part
// of the contract: callers branch on code() only.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace causeway {

// The numbers are a wire contract (schema/causeway.capnp enum ErrorCode, mapped once in
// rpc/internal/errors.cc): append new codes, never renumber.
enum class ErrorCode : int {
  kOk = 0,
  kInvalidArgument,  // the request is wrong; retrying it unchanged cannot succeed
  kUnavailable,      // not enough replicas or the node is stopping: retry, maybe elsewhere
  kTimeout,          // the deadline passed; the write may or may not have happened
  kOverloaded,       // a bounded queue is full: back off, then retry
  kClockSkew,        // a timestamp too far ahead of our clock: fix NTP on the sender
  kCorruption,       // stored data failed a check: stop and repair
  kIoError,          // the disk failed; the engine is now fail-stopped for writes
  kNoSpace,          // the disk is full; the engine is now fail-stopped for writes
  kInternal,         // a bug or an unexpected condition
};

std::string_view ErrorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return {ErrorCode::kInvalidArgument, std::move(m)};
  }
  static Status Unavailable(std::string m) { return {ErrorCode::kUnavailable, std::move(m)}; }
  static Status Timeout(std::string m) { return {ErrorCode::kTimeout, std::move(m)}; }
  static Status Overloaded(std::string m) { return {ErrorCode::kOverloaded, std::move(m)}; }
  static Status ClockSkew(std::string m) { return {ErrorCode::kClockSkew, std::move(m)}; }
  static Status Corruption(std::string m) { return {ErrorCode::kCorruption, std::move(m)}; }
  static Status IoError(std::string m) { return {ErrorCode::kIoError, std::move(m)}; }
  static Status NoSpace(std::string m) { return {ErrorCode::kNoSpace, std::move(m)}; }
  static Status Internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Unavailable: only 1 of 2 replicas answered" -- for logs and CLI output.
  std::string ToString() const;
  // Spells out that a caller drops a status on purpose (RocksDB's PermitUncheckedError).
  void IgnoreError() const {}

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// A value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace causeway
