#include "rpc/internal/tls_sniff.h"

#include <cstring>

#include "base/limits.h"

namespace causeway::rpc {
namespace {

constexpr size_t kRecordHeaderBytes = 5;

// Replays `prefix`, then reads from the inner stream; everything else is the inner stream's.
class PrefixedStream final : public kj::AsyncIoStream {
 public:
  PrefixedStream(kj::Own<kj::AsyncIoStream> inner, std::string prefix)
      : inner_(kj::mv(inner)), prefix_(std::move(prefix)) {}

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override {
    if (prefix_.empty()) return inner_->tryRead(buffer, min_bytes, max_bytes);
    const size_t n = std::min(max_bytes, prefix_.size() - at_);
    std::memcpy(buffer, prefix_.data() + at_, n);
    at_ += n;
    if (at_ == prefix_.size()) {
      prefix_ = std::string();
      at_ = 0;
    }
    if (n >= min_bytes) return n;
    return inner_->tryRead(static_cast<kj::byte*>(buffer) + n, min_bytes - n, max_bytes - n)
        .then([n](size_t more) { return n + more; });
  }
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

 private:
  kj::Own<kj::AsyncIoStream> inner_;
  std::string prefix_;
  size_t at_ = 0;  // of prefix_, replayed so far
};

// Reads exactly `n` more bytes into `*bytes`; fewer only at EOF.
kj::Promise<void> ReadMore(kj::AsyncIoStream& stream, std::string* bytes, size_t n) {
  const size_t old = bytes->size();
  bytes->resize(old + n);
  return stream.tryRead(bytes->data() + old, n, n).then([bytes, old](size_t got) {
    bytes->resize(old + got);
  });
}

// A cursor over a ClientHello that fails soft: any read past the end sets `bad`.
struct Reader {
  std::string_view in;
  bool bad = false;
  size_t Int(size_t bytes) {
    if (in.size() < bytes) {
      bad = true;
      in = {};
      return 0;
    }
    size_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
    in.remove_prefix(bytes);
    return v;
  }
  std::string_view Bytes(size_t n) {
    if (in.size() < n) {
      bad = true;
      in = {};
      return {};
    }
    std::string_view out = in.substr(0, n);
    in.remove_prefix(n);
    return out;
  }
};

}  // namespace

std::string ClientHelloServerName(std::string_view record) {
  Reader r{record};
  if (r.Int(1) != kTlsHandshakeByte) return "";
  r.Int(2);                               // legacy record version
  Reader body{r.Bytes(r.Int(2))};         // the record's fragment
  if (body.Int(1) != 1) return "";        // HandshakeType client_hello
  Reader hello{body.Bytes(body.Int(3))};  // (a ClientHello split across records: no SNI)
  hello.Int(2);                           // client_version
  hello.Bytes(32);                        // random
  hello.Bytes(hello.Int(1));              // session_id
  hello.Bytes(hello.Int(2));              // cipher_suites
  hello.Bytes(hello.Int(1));              // compression_methods
  Reader extensions{hello.Bytes(hello.Int(2))};
  if (r.bad || body.bad || hello.bad) return "";
  while (!extensions.in.empty() && !extensions.bad) {
    const size_t type = extensions.Int(2);
    Reader ext{extensions.Bytes(extensions.Int(2))};
    if (type != 0) continue;  // server_name
    Reader list{ext.Bytes(ext.Int(2))};
    while (!list.in.empty() && !list.bad) {
      const size_t name_type = list.Int(1);
      std::string_view name = list.Bytes(list.Int(2));
      if (name_type == 0 && !list.bad) return std::string(name);  // host_name
    }
    return "";
  }
  return "";
}

kj::Promise<Sniffed> SniffTls(kj::Own<kj::AsyncIoStream> stream) {
  auto bytes = kj::heap<std::string>();
  auto& s = *stream;
  std::string* b = bytes.get();
  return ReadMore(s, b, 1)
      .then([&s, b]() -> kj::Promise<void> {
        if (b->size() < 1 || static_cast<unsigned char>((*b)[0]) != kTlsHandshakeByte) {
          return kj::READY_NOW;
        }
        return ReadMore(s, b, kRecordHeaderBytes - 1).then([&s, b]() -> kj::Promise<void> {
          if (b->size() < kRecordHeaderBytes) return kj::READY_NOW;
          const size_t length = (static_cast<size_t>(static_cast<unsigned char>((*b)[3])) << 8) |
                                static_cast<unsigned char>((*b)[4]);
          const size_t want = std::min(length, kTlsClientHelloBytesMax - kRecordHeaderBytes);
          return ReadMore(s, b, want);
        });
      })
      .then([stream = kj::mv(stream), bytes = kj::mv(bytes)]() mutable {
        Sniffed out;
        out.tls = !bytes->empty() && static_cast<unsigned char>((*bytes)[0]) == kTlsHandshakeByte;
        if (out.tls) out.server_name = ClientHelloServerName(*bytes);
        out.stream = kj::heap<PrefixedStream>(kj::mv(stream), std::move(*bytes));
        return out;
      });
}

}  // namespace causeway::rpc
