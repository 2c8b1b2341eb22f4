// rpc::BufferedStream under real Cap'n Proto framing and RPC, over a real socketpair
// (kj::setupAsyncIo's two-way pipe).
#include "rpc/internal/buffered_stream.h"

#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <capnp/serialize-async.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>

#include <random>
#include <string>
#include <vector>

#include "schema/causeway.capnp.h"

namespace causeway::rpc {
namespace {

// A message whose only content is `text` (a Text pointer at the root of a ping-free struct).
kj::Array<capnp::word> Frame(const std::string& payload) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<wire::Error>();
  root.setCode(static_cast<uint16_t>(payload.size() % 65536));
  root.setMessage(payload);
  return capnp::messageToFlatArray(message);
}

std::string ReadOne(kj::AsyncInputStream& in, kj::WaitScope& ws) {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = kTraversalWordsMax;
  auto reader = capnp::readMessage(in, options).wait(ws);
  return reader->getRoot<wire::Error>().getMessage().cStr();
}

TEST(BufferedStream, ManyFramesInOneWriteShareReads) {
  // Goal: 500 frames written back to back are all read intact, with far fewer inner reads than
  // the 1000 exact reads capnp issues (first word, then the rest, per frame).
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  BufferedStream in(kj::mv(pipe.ends[1]));
  std::string all;
  for (int i = 0; i < 500; ++i) {
    auto frame = Frame("frame-" + std::to_string(i));
    all.append(reinterpret_cast<const char*>(frame.asBytes().begin()), frame.asBytes().size());
  }
  auto writing = pipe.ends[0]->write(all.data(), all.size());
  for (int i = 0; i < 500; ++i) ASSERT_EQ(ReadOne(in, io.waitScope), "frame-" + std::to_string(i));
  writing.wait(io.waitScope);
  EXPECT_LT(in.inner_reads(), 100u);
}

TEST(BufferedStream, FrameSplitAcrossReadsIsReassembled) {
  // Goal: a frame arriving in three pieces (inside the first word, inside the body) is read whole,
  // and the next frame, arriving with the last piece, too.
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  BufferedStream in(kj::mv(pipe.ends[1]));
  auto a = Frame(std::string(300, 'a'));
  auto b = Frame("second");
  auto bytes = a.asBytes();
  auto reading = capnp::readMessage(in);
  pipe.ends[0]->write(bytes.begin(), 3).wait(io.waitScope);
  EXPECT_FALSE(reading.poll(io.waitScope));
  pipe.ends[0]->write(bytes.begin() + 3, 100).wait(io.waitScope);
  EXPECT_FALSE(reading.poll(io.waitScope));
  std::string rest(reinterpret_cast<const char*>(bytes.begin()) + 103, bytes.size() - 103);
  rest.append(reinterpret_cast<const char*>(b.asBytes().begin()), b.asBytes().size());
  pipe.ends[0]->write(rest.data(), rest.size()).wait(io.waitScope);
  auto first = reading.wait(io.waitScope);
  EXPECT_EQ(first->getRoot<wire::Error>().getMessage().cStr(), std::string(300, 'a'));
  EXPECT_EQ(ReadOne(in, io.waitScope), "second");
}

TEST(BufferedStream, FrameLargerThanTheBufferIsReadWhole) {
  // Goal: a 1 MiB frame through a 4 KiB buffer arrives intact (its body bypasses the buffer), and
  // a small frame after it still goes through the buffer.
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  BufferedStream in(kj::mv(pipe.ends[1]), 4096);
  std::string big(1 << 20, '\0');
  std::mt19937 rng(7);
  for (auto& c : big) c = static_cast<char>('a' + rng() % 26);
  auto a = Frame(big);
  auto b = Frame("after");
  auto writing = pipe.ends[0]->write(a.asBytes().begin(), a.asBytes().size()).then([&]() {
    return pipe.ends[0]->write(b.asBytes().begin(), b.asBytes().size());
  });
  EXPECT_EQ(ReadOne(in, io.waitScope), big);
  EXPECT_EQ(ReadOne(in, io.waitScope), "after");
  writing.wait(io.waitScope);
}

TEST(BufferedStream, EofMidFrameIsAnErrorAndCleanEofIsNone) {
  // Goal: EOF inside a frame fails the read (capnp's "premature EOF"), EOF between frames is a
  // clean end (tryReadMessage gives nothing).
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  BufferedStream in(kj::mv(pipe.ends[1]));
  auto a = Frame("whole");
  pipe.ends[0]->write(a.asBytes().begin(), a.asBytes().size()).wait(io.waitScope);
  pipe.ends[0]->shutdownWrite();
  EXPECT_EQ(ReadOne(in, io.waitScope), "whole");
  EXPECT_TRUE(capnp::tryReadMessage(in).wait(io.waitScope) == nullptr);

  auto pipe2 = io.provider->newTwoWayPipe();
  BufferedStream in2(kj::mv(pipe2.ends[1]));
  pipe2.ends[0]->write(a.asBytes().begin(), 12).wait(io.waitScope);
  pipe2.ends[0]->shutdownWrite();
  EXPECT_ANY_THROW(capnp::readMessage(in2).wait(io.waitScope));
}

TEST(BufferedStream, SmallWritesShareOneInnerWriteAndKeepOrder) {
  // Goal: 200 small frames written in one run of the loop leave as a few inner writes; a large
  // frame written after them arrives after them; shutdownWrite() with a queue still unsent
  // delivers the queue before EOF.
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  BufferedStream out(kj::mv(pipe.ends[0]));
  BufferedStream in(kj::mv(pipe.ends[1]));
  std::vector<kj::Array<capnp::word>> frames;
  for (int i = 0; i < 200; ++i) frames.push_back(Frame("small-" + std::to_string(i)));
  frames.push_back(Frame(std::string(100000, 'L')));
  frames.push_back(Frame("last"));
  kj::Promise<void> chain = kj::READY_NOW;
  for (auto& f : frames) {
    chain = chain.then([&out, &f]() { return out.write(f.asBytes().begin(), f.asBytes().size()); });
  }
  chain = chain.then([&out]() { out.shutdownWrite(); });
  auto writing = chain.eagerlyEvaluate(nullptr);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(ReadOne(in, io.waitScope), "small-" + std::to_string(i));
  EXPECT_EQ(ReadOne(in, io.waitScope), std::string(100000, 'L'));
  EXPECT_EQ(ReadOne(in, io.waitScope), "last");
  EXPECT_TRUE(capnp::tryReadMessage(in).wait(io.waitScope) == nullptr);  // EOF after the queue
  writing.wait(io.waitScope);
  EXPECT_LE(out.inner_writes(), 10u);
}

// An inner stream whose first `ok` writes succeed and whose later writes throw at once instead of
// rejecting, as kj's socket stream does when the peer has reset the connection.
class ThrowingWrites final : public kj::AsyncIoStream {
 public:
  explicit ThrowingWrites(int ok) : ok_(ok) {}
  kj::Promise<size_t> tryRead(void*, size_t, size_t) override { return size_t(0); }
  kj::Promise<void> write(const void*, size_t) override { return Write(); }
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>>) override {
    return Write();
  }
  kj::Promise<void> whenWriteDisconnected() override { return kj::NEVER_DONE; }
  void shutdownWrite() override {}
  int writes = 0;

 private:
  kj::Promise<void> Write() {
    if (++writes <= ok_) return kj::READY_NOW;
    KJ_FAIL_SYSCALL("write", ECONNRESET);
  }
  int ok_;
};

TEST(BufferedStream, InnerWriteThrowingAtOnceFailsLaterWrites) {
  // Goal: an inner write that throws synchronously (a reset socket) fails the queued write and
  // every later one; no later write waits on the failed send and retries forever (a node's loop
  // spun so after clients dropped mid-call).
  auto io = kj::setupAsyncIo();
  auto inner = kj::heap<ThrowingWrites>(1);
  ThrowingWrites& raw = *inner;
  BufferedStream out(kj::mv(inner));
  auto small = Frame("small");
  auto large = Frame(std::string(100000, 'L'));
  for (int i = 0; i < 2; ++i) {  // the first queue is sent; the second's send throws
    EXPECT_NO_THROW(out.write(small.asBytes().begin(), small.asBytes().size()).wait(io.waitScope));
    io.waitScope.poll();
  }
  EXPECT_EQ(raw.writes, 2);
  for (int i = 0; i < 3; ++i) {
    EXPECT_ANY_THROW(out.write(small.asBytes().begin(), small.asBytes().size()).wait(io.waitScope));
    EXPECT_ANY_THROW(out.write(large.asBytes().begin(), large.asBytes().size()).wait(io.waitScope));
  }
  EXPECT_EQ(raw.writes, 2);  // failed once; later writes fail without touching it
  BufferedStream direct(kj::heap<ThrowingWrites>(0));
  EXPECT_ANY_THROW(
      direct.write(large.asBytes().begin(), large.asBytes().size()).wait(io.waitScope));
}

class PingOnly final : public wire::ClientApi::Server {
 public:
  kj::Promise<void> ping(PingContext) override {
    ++calls;
    return kj::READY_NOW;
  }
  int calls = 0;
};

TEST(BufferedStream, PipelinedRpcCallsAndGarbageClosesTheConnection) {
  // Goal: 1000 pipelined calls over BufferedStream on both sides all complete, the server side
  // needing far fewer inner reads than capnp's four per call; then garbage on a second
  // connection disconnects it (the framing errors still reach capnp).
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  BufferedStream server_stream(kj::mv(pipe.ends[0]));
  BufferedStream client_stream(kj::mv(pipe.ends[1]));
  auto impl = kj::heap<PingOnly>();
  PingOnly& served = *impl;
  capnp::TwoPartyVatNetwork server_net(server_stream, capnp::rpc::twoparty::Side::SERVER);
  auto server = capnp::makeRpcServer(server_net, wire::ClientApi::Client(kj::mv(impl)));
  capnp::TwoPartyClient client(client_stream);
  auto api = client.bootstrap().castAs<wire::ClientApi>();
  auto calls = kj::heapArrayBuilder<kj::Promise<void>>(1000);
  for (int i = 0; i < 1000; ++i) calls.add(api.pingRequest().send().ignoreResult());
  kj::joinPromises(calls.finish()).wait(io.waitScope);
  EXPECT_EQ(served.calls, 1000);
  EXPECT_LT(server_stream.inner_reads(), 1000u);
  EXPECT_LT(server_stream.inner_writes(), 1000u);  // replies share writes
  EXPECT_LT(client_stream.inner_writes(), 2000u);  // so do calls and finishes

  auto pipe2 = io.provider->newTwoWayPipe();
  BufferedStream garbage_stream(kj::mv(pipe2.ends[0]));
  capnp::TwoPartyVatNetwork garbage_net(garbage_stream, capnp::rpc::twoparty::Side::SERVER);
  auto garbage_server =
      capnp::makeRpcServer(garbage_net, wire::ClientApi::Client(kj::heap<PingOnly>()));
  uint32_t header[2] = {0, 0xfffffff0u};  // one segment of ~32 GiB: refused
  pipe2.ends[1]->write(header, sizeof(header)).wait(io.waitScope);
  auto closed = garbage_net.onDisconnect().then([]() { return true; });
  auto timeout = io.provider->getTimer().afterDelay(5 * kj::SECONDS).then([]() { return false; });
  EXPECT_TRUE(closed.exclusiveJoin(kj::mv(timeout)).wait(io.waitScope));
}

}  // namespace
}  // namespace causeway::rpc
