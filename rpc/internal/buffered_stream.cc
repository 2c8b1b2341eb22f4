#include "rpc/internal/buffered_stream.h"

#include <algorithm>
#include <cstring>

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

kj::Promise<size_t> BufferedStream::tryRead(void* buffer, size_t min_bytes, size_t max_bytes) {
  auto* out = static_cast<kj::byte*>(buffer);
  size_t served = TakeBuffered(out, max_bytes);
  if (served >= min_bytes) return served;
  out += served;
  min_bytes -= served;
  max_bytes -= served;
  ++inner_reads_;
  if (max_bytes >= buffer_bytes_) {
    // A large frame: what is left goes straight to the caller, no copy and no bigger buffer.
    return inner_->tryRead(out, min_bytes, max_bytes).then([served](size_t n) {
      return served + n;
    });
  }
  if (buffer_.size() == 0) buffer_ = kj::heapArray<kj::byte>(buffer_bytes_);
  // The buffer is empty here (TakeBuffered drained it), so it is filled from its start.
  return inner_->tryRead(buffer_.begin(), min_bytes, buffer_.size())
      .then([this, out, max_bytes, served](size_t n) {
        end_ = n;
        return served + TakeBuffered(out, max_bytes);
      });
}

}  // namespace causeway::rpc
