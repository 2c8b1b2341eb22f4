// rpc/internal/tls_sniff.h: the listener's look at a connection's first bytes, on a real
// socketpair, with a real ClientHello from kj-tls (OpenSSL) and hostile truncations and mutations
// of it.
#include "rpc/internal/tls_sniff.h"

#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <kj/compat/tls.h>

#include <random>
#include <string>

#include "base/limits.h"

namespace causeway::rpc {
namespace {

// Exactly `n` bytes from `in` (the pipe's other end stays open, so no EOF comes).
std::string ReadExactly(kj::AsyncInputStream& in, kj::WaitScope& ws, size_t n) {
  std::string out(n, '\0');
  size_t got = in.tryRead(out.data(), n, n).wait(ws);
  out.resize(got);
  return out;
}

// At least one byte and at most `n`.
std::string ReadSome(kj::AsyncInputStream& in, kj::WaitScope& ws, size_t n) {
  std::string out(n, '\0');
  size_t got = in.tryRead(out.data(), 1, n).wait(ws);
  out.resize(got);
  return out;
}

// The first record a kj-tls client sends: its ClientHello for `server_name`.
std::string CaptureClientHello(kj::AsyncIoContext& io, const char* server_name) {
  auto pipe = io.provider->newTwoWayPipe();
  kj::TlsContext client;  // the handshake never completes: only its first flight is wanted
  auto handshake = client.wrapClient(kj::mv(pipe.ends[0]), server_name).eagerlyEvaluate(nullptr);
  std::string header = ReadExactly(*pipe.ends[1], io.waitScope, 5);
  EXPECT_EQ(header.size(), 5u);
  const size_t length = (static_cast<size_t>(static_cast<unsigned char>(header[3])) << 8) |
                        static_cast<unsigned char>(header[4]);
  return header + ReadExactly(*pipe.ends[1], io.waitScope, length);
}

TEST(TlsSniff, FindsTheServerNameOfARealClientHello) {
  auto io = kj::setupAsyncIo();
  const std::string hello = CaptureClientHello(io, "causeway-node");
  ASSERT_EQ(static_cast<unsigned char>(hello[0]), kTlsHandshakeByte);
  EXPECT_EQ(ClientHelloServerName(hello), "causeway-node");
  EXPECT_EQ(ClientHelloServerName(CaptureClientHello(io, "causeway")), "causeway");
}

TEST(TlsSniff, TruncatedOrMutatedHellosNeverReadOutOfBounds) {
  auto io = kj::setupAsyncIo();
  const std::string hello = CaptureClientHello(io, "causeway-node");
  for (size_t n = 0; n < hello.size(); ++n) {
    // A prefix has a record length longer than what is there: never a name.
    EXPECT_EQ(ClientHelloServerName(hello.substr(0, n)), "") << n;
  }
  std::mt19937 rng(14);
  for (int i = 0; i < 20000; ++i) {
    std::string mutated = hello;
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) {
      mutated[rng() % mutated.size()] = static_cast<char>(rng());
    }
    const std::string name = ClientHelloServerName(mutated);
    EXPECT_LE(name.size(), mutated.size());
  }
}

TEST(TlsSniff, ReplaysTheBytesItReadForTlsAndPlaintext) {
  auto io = kj::setupAsyncIo();
  {
    auto pipe = io.provider->newTwoWayPipe();
    const std::string plain("\x00\x00\x00\x00 plaintext capnp", 20);
    pipe.ends[0]->write(plain.data(), plain.size()).wait(io.waitScope);
    Sniffed s = SniffTls(kj::mv(pipe.ends[1])).wait(io.waitScope);
    EXPECT_FALSE(s.tls);
    EXPECT_EQ(s.server_name, "");
    EXPECT_EQ(ReadExactly(*s.stream, io.waitScope, plain.size()), plain);
  }
  {
    const std::string hello = CaptureClientHello(io, "causeway-node");
    auto pipe = io.provider->newTwoWayPipe();
    const std::string more = hello + "next record";
    pipe.ends[0]->write(more.data(), more.size()).wait(io.waitScope);
    Sniffed s = SniffTls(kj::mv(pipe.ends[1])).wait(io.waitScope);
    EXPECT_TRUE(s.tls);
    EXPECT_EQ(s.server_name, "causeway-node");
    // Read in odd pieces: the replayed prefix, then the socket, without loss or reordering.
    std::string back;
    while (back.size() < more.size()) back += ReadSome(*s.stream, io.waitScope, 7);
    EXPECT_EQ(back, more);
  }
  {
    // A record claiming more than the bound is read only up to the bound.
    auto pipe = io.provider->newTwoWayPipe();
    std::string big("\x16\x03\x01\xff\xff", 5);
    big += std::string(kTlsClientHelloBytesMax + 100, 'x');
    auto writing = pipe.ends[0]->write(big.data(), big.size()).eagerlyEvaluate(nullptr);
    Sniffed s = SniffTls(kj::mv(pipe.ends[1])).wait(io.waitScope);
    EXPECT_TRUE(s.tls);
    EXPECT_EQ(s.server_name, "");
    std::string back;
    while (back.size() < big.size()) back += ReadSome(*s.stream, io.waitScope, 4096);
    EXPECT_EQ(back, big);
  }
}

}  // namespace
}  // namespace causeway::rpc
