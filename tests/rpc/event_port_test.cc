// The KJ-on-libuv glue: timers, cross-thread wake, RPC over real loopback sockets, a peer dying
// mid-call, and teardown with connections open.
#include <capnp/rpc-twoparty.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "rpc/internal/errors.h"
#include "rpc/internal/uv_event_port.h"
#include "schema/causeway.capnp.h"

namespace causeway::rpc {
namespace {

using Clock = std::chrono::steady_clock;

// A uv loop plus the port and provider on it, torn down in the documented order.
struct UvFixture {
  uv_loop_t loop;
  kj::Own<UvEventPort> port;
  kj::Own<UvIoProvider> low;
  kj::Own<kj::AsyncIoProvider> io;
  uv_timer_t guard;  // stops the loop if a test hangs

  UvFixture() {
    uv_loop_init(&loop);
    port = kj::heap<UvEventPort>(&loop);
    low = kj::heap<UvIoProvider>(*port);
    io = kj::newAsyncIoProvider(*low);
    uv_timer_init(&loop, &guard);
    guard.data = this;
    uv_timer_start(
        &guard, [](uv_timer_t* t) { uv_stop(t->loop); }, 10000, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&guard));
  }
  // Returns uv_loop_close()'s result: 0 when every handle was closed.
  int TearDown() {
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    io = nullptr;
    low = nullptr;
    port = nullptr;
    uv_run(&loop, UV_RUN_NOWAIT);
    return uv_loop_close(&loop);
  }
};

// A Peer whose read() answers after `delay_ms` (or never, when delay_ms is 0).
class SlowPeer final : public wire::Peer::Server {
 public:
  SlowPeer(kj::Timer& timer, uint64_t delay_ms, std::atomic<int>* started)
      : timer_(timer), delay_ms_(delay_ms), started_(started) {}

  kj::Promise<void> read(ReadContext context) override {
    if (started_ != nullptr) ++*started_;
    if (delay_ms_ == 0) return kj::NEVER_DONE;
    return timer_.afterDelay(delay_ms_ * kj::MILLISECONDS).then([context]() mutable {
      context.getResults().setFound(true);
      context.getResults().initVersion().setTimestamp(42);
    });
  }

 private:
  kj::Timer& timer_;
  uint64_t delay_ms_;
  std::atomic<int>* started_;
};

TEST(UvEventPort, KjTimerFiresFromUvRun) {
  // Goal: a KJ timer promise driven only by uv_run() fires after its delay, not before, and the
  // loop does not spin while waiting.
  UvFixture f;
  bool fired = false;
  // KJ measures delays from its timer's now(), i.e. the last time the loop looked at the clock.
  kj::TimePoint start = f.port->timer().now();
  kj::Duration elapsed = 0 * kj::NANOSECONDS;
  auto task = f.port->timer()
                  .afterDelay(30 * kj::MILLISECONDS)
                  .then([&]() {
                    fired = true;
                    elapsed = UvEventPort::MonotonicNow() - start;
                    uv_stop(&f.loop);
                  })
                  .eagerlyEvaluate(nullptr);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  EXPECT_TRUE(fired);
  EXPECT_GE(elapsed / kj::MILLISECONDS, 30);
  EXPECT_LT(elapsed / kj::MILLISECONDS, 2000);
  task = kj::READY_NOW;
  EXPECT_EQ(f.TearDown(), 0);
}

TEST(UvEventPort, IdleLoopSleeps) {
  // Goal: with KJ idle and a 200 ms uv timer pending, uv_run sleeps instead of spinning: the
  // process uses far less CPU than wall time.
  UvFixture f;
  uv_timer_t t;
  uv_timer_init(&f.loop, &t);
  uv_timer_start(
      &t, [](uv_timer_t* h) { uv_stop(h->loop); }, 200, 0);
  std::clock_t cpu0 = std::clock();
  uv_run(&f.loop, UV_RUN_DEFAULT);
  double cpu_ms = 1000.0 * (std::clock() - cpu0) / CLOCKS_PER_SEC;
  EXPECT_LT(cpu_ms, 50.0);
  uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
  EXPECT_EQ(f.TearDown(), 0);
}

TEST(UvEventPort, CrossThreadWakeRunsOnLoopThread) {
  // Goal: another thread schedules work on the uv loop through kj::Executor (wake() is a
  // uv_async_t); the work runs on the loop thread.
  UvFixture f;
  const kj::Executor& executor = kj::getCurrentThreadExecutor();
  auto loop_thread = std::this_thread::get_id();
  std::thread::id ran_on;
  std::thread other([&]() {
    executor.executeSync([&]() {
      ran_on = std::this_thread::get_id();
      uv_stop(&f.loop);
    });
  });
  uv_run(&f.loop, UV_RUN_DEFAULT);
  other.join();
  EXPECT_EQ(ran_on, loop_thread);
  EXPECT_EQ(f.TearDown(), 0);
}

TEST(UvEventPort, RpcRoundTripsAndServerSurvivesClientDyingMidCall) {
  // Goal: a TwoPartyServer on the uv loop answers calls from a client on its own KJ loop; a
  // client that disconnects mid-call does not disturb the server, which answers the next client.
  UvFixture f;
  auto addr = f.io->getNetwork().parseAddress("127.0.0.1", 0).wait(f.port->wait_scope());
  auto listener = addr->listen();
  uint port = listener->getPort();
  std::atomic<int> started{0};
  capnp::TwoPartyServer server(kj::heap<SlowPeer>(f.port->timer(), 5, &started));
  auto serving = server.listen(*listener).eagerlyEvaluate(nullptr);

  std::atomic<int> ok_calls{0};
  const kj::Executor& executor = kj::getCurrentThreadExecutor();
  auto client_fn = [&](int calls, bool abandon_mid_call) {
    auto io = kj::setupAsyncIo();
    auto conn = io.provider->getNetwork()
                    .parseAddress("127.0.0.1", port)
                    .wait(io.waitScope)
                    ->connect()
                    .wait(io.waitScope);
    capnp::TwoPartyClient client(*conn);
    auto peer = client.bootstrap().castAs<wire::Peer>();
    for (int i = 0; i < calls; ++i) {
      auto r = peer.readRequest().send().wait(io.waitScope);
      if (r.getFound() && r.getVersion().getTimestamp() == 42) ++ok_calls;
    }
    if (abandon_mid_call) {
      auto pending = peer.readRequest().send();
      // Give the call time to reach the server, then drop the connection with it outstanding.
      io.provider->getTimer().afterDelay(2 * kj::MILLISECONDS).wait(io.waitScope);
    }
  };
  std::thread t1([&]() {
    client_fn(3, true);
    std::thread t2([&]() { client_fn(3, false); });
    t2.join();
    executor.executeSync([&]() { uv_stop(&f.loop); });
  });
  uv_run(&f.loop, UV_RUN_DEFAULT);
  t1.join();
  EXPECT_EQ(ok_calls.load(), 6);
  EXPECT_GE(started.load(), 7);
  serving = kj::READY_NOW;
  listener = nullptr;
  EXPECT_EQ(f.TearDown(), 0);
}

TEST(UvEventPort, PeerDyingMidCallFailsTheCallDisconnected) {
  // Goal: the uv side calls a peer whose process "dies" (its loop and socket go away) while the
  // call is outstanding: the call fails with a connection failure mapped to kUnavailable.
  std::atomic<uint> peer_port{0};
  std::atomic<bool> die{false};
  std::atomic<int> started{0};
  std::thread peer([&]() {
    auto io = kj::setupAsyncIo();
    auto addr = io.provider->getNetwork().parseAddress("127.0.0.1", 0).wait(io.waitScope);
    auto listener = addr->listen();
    capnp::TwoPartyServer server(kj::heap<SlowPeer>(io.provider->getTimer(), 0, &started));
    auto serving = server.listen(*listener).eagerlyEvaluate(nullptr);
    peer_port = listener->getPort();
    while (!die) io.provider->getTimer().afterDelay(1 * kj::MILLISECONDS).wait(io.waitScope);
  });
  while (peer_port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  UvFixture f;
  Status status;
  {
    auto conn = f.io->getNetwork()
                    .parseAddress("127.0.0.1", peer_port)
                    .wait(f.port->wait_scope())
                    ->connect()
                    .wait(f.port->wait_scope());
    capnp::TwoPartyClient client(*conn);
    auto remote = client.bootstrap().castAs<wire::Peer>();
    auto call = remote.readRequest()
                    .send()
                    .then([](auto) { return Status::Ok(); },
                          [](kj::Exception&& e) { return FromException(e); })
                    .then([&](Status s) {
                      status = s;
                      uv_stop(&f.loop);
                    })
                    .eagerlyEvaluate(nullptr);
    std::thread killer([&]() {
      while (started == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      die = true;
    });
    uv_run(&f.loop, UV_RUN_DEFAULT);
    killer.join();
    peer.join();
  }
  EXPECT_EQ(status.code(), ErrorCode::kUnavailable) << status.ToString();
  EXPECT_EQ(f.TearDown(), 0);
}

TEST(UvEventPort, TeardownWithConnectionsOpen) {
  // Goal: the uv side tears down while clients still hold open connections with calls in
  // flight; every uv handle is closed (uv_loop_close succeeds) and the clients see a disconnect.
  UvFixture f;
  auto addr = f.io->getNetwork().parseAddress("127.0.0.1", 0).wait(f.port->wait_scope());
  auto listener = addr->listen();
  uint port = listener->getPort();
  std::atomic<int> started{0};
  auto server = kj::heap<capnp::TwoPartyServer>(kj::heap<SlowPeer>(f.port->timer(), 0, &started));
  auto serving = server->listen(*listener).eagerlyEvaluate(nullptr);
  std::atomic<int> disconnected{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&]() {
      auto io = kj::setupAsyncIo();
      auto conn = io.provider->getNetwork()
                      .parseAddress("127.0.0.1", port)
                      .wait(io.waitScope)
                      ->connect()
                      .wait(io.waitScope);
      capnp::TwoPartyClient client(*conn);
      auto peer = client.bootstrap().castAs<wire::Peer>();
      try {
        peer.readRequest().send().wait(io.waitScope);
      } catch (const kj::Exception& e) {
        if (IsConnectionFailure(e)) ++disconnected;
      }
    });
  }
  // Run the loop until all four calls have arrived.
  auto start = Clock::now();
  while (started < 4 && Clock::now() - start < std::chrono::seconds(5)) {
    uv_run(&f.loop, UV_RUN_ONCE);
  }
  ASSERT_EQ(started.load(), 4);
  serving = kj::READY_NOW;
  server = nullptr;  // drops every connection
  listener = nullptr;
  EXPECT_EQ(f.TearDown(), 0);
  for (auto& t : clients) t.join();
  EXPECT_EQ(disconnected.load(), 4);
}

TEST(Errors, StatusRoundTripsThroughException) {
  // Goal: every error code survives Status -> kj::Exception -> Status, including capnp's
  // "remote exception: " prefix; bare KJ exceptions map by type.
  for (auto code : {ErrorCode::kInvalidArgument, ErrorCode::kUnavailable, ErrorCode::kTimeout,
                    ErrorCode::kOverloaded, ErrorCode::kClockSkew, ErrorCode::kCorruption,
                    ErrorCode::kIoError, ErrorCode::kNoSpace, ErrorCode::kInternal}) {
    Status s(code, "what: happened");
    auto e = ToException(s);
    auto back = FromException(e);
    EXPECT_EQ(back.code(), code);
    EXPECT_EQ(back.message(), "what: happened");
    kj::Exception remote(e.getType(), "x", 1, kj::str("remote exception: ", e.getDescription()));
    EXPECT_EQ(FromException(remote).code(), code);
  }
  EXPECT_EQ(FromException(KJ_EXCEPTION(DISCONNECTED, "gone")).code(), ErrorCode::kUnavailable);
  EXPECT_EQ(FromException(KJ_EXCEPTION(OVERLOADED, "busy")).code(), ErrorCode::kOverloaded);
  EXPECT_EQ(FromException(KJ_EXCEPTION(OVERLOADED, "operation timed out")).code(),
            ErrorCode::kTimeout);
  EXPECT_EQ(FromException(KJ_EXCEPTION(FAILED, "bug")).code(), ErrorCode::kInternal);
}

}  // namespace
}  // namespace causeway::rpc
