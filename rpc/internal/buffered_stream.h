// A read-buffering kj::AsyncIoStream for Cap'n Proto connections (docs/design.md, "Read
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
// Writes: capnp writes one message at a time (the next only after the previous write's promise
// resolves). A write under kRpcWriteCopyBytesMax is copied into a queue and resolves at once; the
// queue is sent by one inner write from kj::evalLast, i.e. when the event loop has nothing else to
// run, so the replies (or Call and Finish messages) produced by one batch share a syscall. While a
// queue write is in progress (socket full, or the queue reached kRpcWriteBufferBytes) further
// writes wait for it, so at most one queue and one message are buffered. A larger write goes
// straight to the inner stream after what is queued. A failed queue write fails every later
// write. shutdownWrite() happens after the queue is sent. Socket options are forwarded.
//
// Not thread-safe; one reader and one writer at a time (KJ's contract for streams); the stream
// must outlive its pending promises, as any KJ stream must.
#pragma once

#include <kj/async-io.h>
#include <kj/debug.h>
#include <kj/vector.h>

#include "base/limits.h"
#include "base/status.h"

namespace causeway::rpc {

// Sees the Cap'n Proto framing of what a BufferedStream reads (segment table, then body), before
// the reader gets it: so a frame can be refused from its header alone, before capnp allocates
// its body. Used by the listener for the pre-authentication size limit and the node-wide budget
// of half-received frames (rpc/internal/listener.h).
class FrameObserver {
 public:
  virtual ~FrameObserver() = default;
  // A frame of `bytes` (segment table included) begins. A failure is thrown to the reader (the
  // connection closes).
  virtual Status OnFrameStart(size_t bytes) = 0;
  virtual void OnFrameEnd() = 0;
};

class BufferedStream final : public kj::AsyncIoStream {
 public:
  explicit BufferedStream(kj::Own<kj::AsyncIoStream> inner,
                          size_t buffer_bytes = kRpcReadBufferBytes);

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override;
  kj::Promise<void> write(const void* buffer, size_t size) override;
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override;
  kj::Promise<void> whenWriteDisconnected() override { return inner_->whenWriteDisconnected(); }
  void shutdownWrite() override;
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

  // Borrowed; must outlive the stream's reads. Null: framing is not watched.
  void set_frame_observer(FrameObserver* observer) { observer_ = observer; }

  // Inner reads and writes issued so far (each at most one syscall once the socket is ready).
  uint64_t inner_reads() const { return inner_reads_; }
  uint64_t inner_writes() const { return inner_writes_; }

 private:
  // Feeds `n` bytes just read into the caller's `out` to the framing parser; returns n (throws
  // the observer's refusal).
  size_t Observe(const kj::byte* out, size_t n);
  // Copies up to `max_bytes` buffered bytes to `out`; returns how many.
  size_t TakeBuffered(kj::byte* out, size_t max_bytes);
  template <typename Retry, typename Direct>
  kj::Promise<void> Write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces, Retry retry,
                          Direct direct);
  // Sends the queue (one inner write); the promise resolves when it is written.
  kj::Promise<void> SendQueue();

  kj::Own<kj::AsyncIoStream> inner_;
  size_t buffer_bytes_;
  kj::Array<kj::byte> buffer_;  // empty until the first buffered read
  size_t begin_ = 0;            // buffered bytes are buffer_[begin_, end_)
  size_t end_ = 0;
  uint64_t inner_reads_ = 0;

  // The framing parser (Observe): segment count, segment sizes, padding, then the body.
  enum class FramePhase { kCount, kSizes, kPadding, kBody };
  FrameObserver* observer_ = nullptr;
  FramePhase phase_ = FramePhase::kCount;
  uint32_t field_ = 0;       // the little-endian word being assembled
  size_t field_bytes_ = 0;   // bytes of it so far
  uint32_t sizes_left_ = 0;  // segment sizes still to read
  size_t padding_left_ = 0;
  uint64_t frame_words_ = 0;  // body words announced so far
  size_t header_bytes_ = 0;
  uint64_t body_left_ = 0;

  kj::Vector<kj::byte> queue_;    // written by callers, not yet sent
  kj::Vector<kj::byte> sending_;  // the queue being sent; swapped with queue_, capacity reused
  bool sending_now_ = false;      // an inner write of sending_ is in progress
  kj::Maybe<kj::ForkedPromise<void>> sent_;  // resolves when sending_ is written
  bool send_scheduled_ = false;              // an evalLast send is pending
  bool shutdown_requested_ = false;          // shutdownWrite() once the queue is sent
  kj::Maybe<kj::Exception> write_error_;
  uint64_t inner_writes_ = 0;
  kj::Promise<void> scheduled_send_ = nullptr;  // declared last: cancelled first
};

}  // namespace causeway::rpc
