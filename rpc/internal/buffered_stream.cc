#include "rpc/internal/buffered_stream.h"

#include <capnp/common.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace causeway::rpc {

BufferedStream::BufferedStream(kj::Own<kj::AsyncIoStream> inner, size_t buffer_bytes)
    : inner_(kj::mv(inner)), buffer_bytes_(buffer_bytes) {}

size_t BufferedStream::TakeBuffered(kj::byte* out, size_t max_bytes) {
  size_t n = std::min(end_ - begin_, max_bytes);
  if (n == 0) return 0;
  memcpy(out, buffer_.begin() + begin_, n);
  begin_ += n;
  if (begin_ == end_) begin_ = end_ = 0;
  return n;
}

// capnp's segment table: a 32-bit count minus one, a 32-bit size (in words) per segment, padding
// to a word; then the segments. capnp itself refuses more than 512 segments.
constexpr uint32_t kFrameSegmentsMax = 512;

size_t BufferedStream::Observe(const kj::byte* out, size_t n) {
  if (observer_ == nullptr) return n;
  size_t i = 0;
  while (i < n) {
    if (phase_ == FramePhase::kBody) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(body_left_, n - i));
      i += take;
      body_left_ -= take;
      if (body_left_ == 0) {
        observer_->OnFrameEnd();
        phase_ = FramePhase::kCount;
      }
      continue;
    }
    if (phase_ == FramePhase::kPadding) {
      size_t take = std::min(padding_left_, n - i);
      i += take;
      padding_left_ -= take;
    } else {
      field_ |= static_cast<uint32_t>(out[i++]) << (8 * field_bytes_);
      if (++field_bytes_ < 4) continue;
      const uint32_t value = field_;
      field_ = 0;
      field_bytes_ = 0;
      if (phase_ == FramePhase::kCount) {
        if (value >= kFrameSegmentsMax) {
          kj::throwFatalException(KJ_EXCEPTION(FAILED, "frame with too many segments", value));
        }
        sizes_left_ = value + 1;
        frame_words_ = 0;
        header_bytes_ = 4 + 4 * static_cast<size_t>(sizes_left_);
        padding_left_ = header_bytes_ % 8;
        header_bytes_ += padding_left_;
        phase_ = FramePhase::kSizes;
        continue;
      }
      frame_words_ += value;  // kSizes
      if (--sizes_left_ > 0) continue;
      phase_ = FramePhase::kPadding;
    }
    if (phase_ == FramePhase::kPadding && padding_left_ == 0) {
      body_left_ = frame_words_ * sizeof(capnp::word);
      Status s = observer_->OnFrameStart(header_bytes_ + body_left_);
      if (!s.ok()) kj::throwFatalException(KJ_EXCEPTION(FAILED, s.ToString().c_str()));
      phase_ = FramePhase::kBody;
      if (body_left_ == 0) {
        observer_->OnFrameEnd();
        phase_ = FramePhase::kCount;
      }
    }
  }
  return n;
}

kj::Promise<size_t> BufferedStream::tryRead(void* buffer, size_t min_bytes, size_t max_bytes) {
  auto* start = static_cast<kj::byte*>(buffer);
  kj::byte* out = start;
  size_t served = TakeBuffered(out, max_bytes);
  if (served >= min_bytes) return Observe(start, served);
  out += served;
  min_bytes -= served;
  max_bytes -= served;
  ++inner_reads_;
  if (max_bytes >= buffer_bytes_) {
    // A large frame: what is left goes straight to the caller, no copy and no bigger buffer.
    return inner_->tryRead(out, min_bytes, max_bytes).then([this, start, served](size_t n) {
      return Observe(start, served + n);
    });
  }
  if (buffer_.size() == 0) buffer_ = kj::heapArray<kj::byte>(buffer_bytes_);
  // The buffer is empty here (TakeBuffered drained it), so it is filled from its start.
  return inner_->tryRead(buffer_.begin(), min_bytes, buffer_.size())
      .then([this, start, out, max_bytes, served](size_t n) {
        end_ = n;
        return Observe(start, served + TakeBuffered(out, max_bytes));
      });
}

kj::Promise<void> BufferedStream::write(const void* buffer, size_t size) {
  // `piece` lives on this stack only: whatever runs later re-enters with buffer and size.
  kj::ArrayPtr<const kj::byte> piece(static_cast<const kj::byte*>(buffer), size);
  return Write(
      kj::arrayPtr(&piece, 1), [this, buffer, size]() { return write(buffer, size); },
      [this, buffer, size]() { return inner_->write(buffer, size); });
}

kj::Promise<void> BufferedStream::write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) {
  return Write(
      pieces, [this, pieces]() { return write(pieces); },
      [this, pieces]() { return inner_->write(pieces); });
}

// `retry` repeats the caller's write later; `direct` hands it to the inner stream unqueued. Both
// capture what the caller keeps alive until the returned promise resolves, never `pieces`' array.
template <typename Retry, typename Direct>
kj::Promise<void> BufferedStream::Write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces,
                                        Retry retry, Direct direct) {
  KJ_IF_MAYBE (e, write_error_) {
    return kj::cp(*e);
  }
  if (sending_now_) {
    // One queue on the wire at a time: wait (the caller keeps its bytes alive until we resolve).
    return KJ_ASSERT_NONNULL(sent_).addBranch().then(kj::mv(retry));
  }
  size_t total = 0;
  for (auto p : pieces) total += p.size();
  if (total >= kRpcWriteCopyBytesMax) {
    // Large: after what is queued, straight from the caller's memory.
    if (!queue_.empty()) return SendQueue().then(kj::mv(retry));
    ++inner_writes_;
    return kj::evalNow(kj::mv(direct));
  }
  for (auto p : pieces) queue_.addAll(p);
  if (queue_.size() >= kRpcWriteBufferBytes) return SendQueue();
  if (!send_scheduled_) {
    send_scheduled_ = true;
    scheduled_send_ = kj::evalLast([this]() {
                        send_scheduled_ = false;
                        return sending_now_ ? kj::Promise<void>(kj::READY_NOW) : SendQueue();
                      }).eagerlyEvaluate([](kj::Exception&&) {});  // kept in write_error_
  }
  return kj::READY_NOW;
}

kj::Promise<void> BufferedStream::SendQueue() {
  if (queue_.empty()) {
    if (shutdown_requested_) inner_->shutdownWrite();
    return kj::READY_NOW;
  }
  std::swap(queue_, sending_);  // queue_ is now the empty last-sent buffer, capacity kept
  sending_now_ = true;
  ++inner_writes_;
  // evalNow: the inner stream may throw at once (a write to a reset socket) instead of rejecting;
  // thrown from here it would leave sending_now_ set with sent_ resolved, and every later write
  // would wait on it and retry in a loop that never yields.
  auto done = kj::evalNow([this]() { return inner_->write(sending_.begin(), sending_.size()); })
                  .then(
                      [this]() {
                        sending_now_ = false;
                        sending_.clear();
                        if (shutdown_requested_ && queue_.empty()) inner_->shutdownWrite();
                      },
                      [this](kj::Exception&& e) {
                        sending_now_ = false;
                        write_error_ = kj::cp(e);
                        kj::throwFatalException(kj::mv(e));
                      })
                  .fork();
  auto branch = done.addBranch();
  sent_ = kj::mv(done);
  return branch;
}

void BufferedStream::shutdownWrite() {
  shutdown_requested_ = true;
  // Otherwise the queue's send (already scheduled or in progress) shuts down after it.
  if (!sending_now_ && queue_.empty()) inner_->shutdownWrite();
}

}  // namespace causeway::rpc
