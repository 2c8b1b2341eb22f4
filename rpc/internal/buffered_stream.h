// A read-buffering kj::AsyncIoStream for Cap'n Proto connections (docs/parts/rpc.md, "Read
// buffering").
//
// Cap'n Proto 0.9.2 reads each message with two exact reads (the first word, then the rest), and a
// call is two messages (Call and Finish), so a pipelining peer costs four read syscalls per call.
// BufferedStream serves tryRead() from one buffer of `buffer_bytes` (kRpcReadBufferBytes) and
// refills it with a single inner read of "at least what the caller still needs, at most the whole
// buffer", so every message already in the socket is taken by one syscall. A read whose remaining
// maximum is at least the buffer size (a large frame's body) goes straight into the caller's
// memory after what is buffered, so memory per connection stays one buffer whatever the frame
// size. EOF and errors pass through unchanged (tryRead returns less than minBytes only at EOF).
//
// Writes, shutdown and socket options are forwarded to the inner stream. Not thread-safe; one
// reader at a time (KJ's contract for streams); the stream must outlive its pending promises,
// as any KJ stream must.
#pragma once

#include <kj/async-io.h>

#include "engine/limits.h"

namespace causeway::rpc {

class BufferedStream final : public kj::AsyncIoStream {
 public:
  explicit BufferedStream(kj::Own<kj::AsyncIoStream> inner,
                          size_t buffer_bytes = kRpcReadBufferBytes);

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override;
  kj::Promise<void> write(const void* buffer, size_t size) override {
    return inner_->write(buffer, size);
  }
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override {
    return inner_->write(pieces);
  }
  kj::Promise<void> whenWriteDisconnected() override { return inner_->whenWriteDisconnected(); }
  void shutdownWrite() override { inner_->shutdownWrite(); }
  void abortRead() override { inner_->abortRead(); }
  void getsockopt(int level, int option, void* value, kj::uint* length) override {
    inner_->getsockopt(level, option, value, length);
  }
  void setsockopt(int level, int option, const void* value, kj::uint length) override {
    inner_->setsockopt(level, option, value, length);
  }
  void getsockname(struct sockaddr* addr, kj::uint* length) override {
    inner_->getsockname(addr, length);
  }
  void getpeername(struct sockaddr* addr, kj::uint* length) override {
    inner_->getpeername(addr, length);
  }
  kj::Maybe<int> getFd() const override { return inner_->getFd(); }

  // Inner reads issued so far (each is at most one read syscall once data is there); for tests.
  uint64_t inner_reads() const { return inner_reads_; }

 private:
  // Copies up to `max_bytes` buffered bytes to `out`; returns how many.
  size_t TakeBuffered(kj::byte* out, size_t max_bytes);

  kj::Own<kj::AsyncIoStream> inner_;
  size_t buffer_bytes_;
  kj::Array<kj::byte> buffer_;  // empty until the first buffered read
  size_t begin_ = 0;            // buffered bytes are buffer_[begin_, end_)
  size_t end_ = 0;
  uint64_t inner_reads_ = 0;
};

}  // namespace causeway::rpc
