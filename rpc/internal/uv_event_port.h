// KJ's event loop on a libuv loop (docs/design.md, "Event port").
//
// UvEventPort is a kj::EventPort whose events come from a uv_loop_t: KJ work runs from a uv_check
// handle right after libuv's I/O phase (plus a uv_idle handle while KJ stays runnable, so that
// uv_run never sleeps on a runnable KJ queue); KJ's timer (kj::TimerImpl) is driven by one
// uv_timer_t, re-armed for KJ's next timer event before libuv polls (uv_prepare_t); wake() from
// another thread is a uv_async_t. So the owner runs uv_run() as the main loop and capnp RPC, uv
// timers, uv_queue_work completions and any other libuv handle share one thread.
//
// UvIoProvider is a kj::LowLevelAsyncIoProvider whose file descriptors are watched with uv_poll_t:
// READABLE stays armed while a reader may come back (dropped only if it fires with nobody
// waiting), WRITABLE is armed only while a writer waits. Accepted and connected TCP sockets get
// TCP_NODELAY. kj::newAsyncIoProvider(provider) then gives a kj::Network on the uv loop.
//
// Ownership and teardown: the port and provider borrow the uv loop. Destroy every KJ object
// (RPC systems, streams, promises) first, then the provider, then the port; the port closes its
// uv handles, so the owner must run the uv loop once more (uv_run NOWAIT) before uv_loop_close.
// Both objects belong to the loop thread; only UvEventPort::wake() may be called from elsewhere.
// Process-wide: the constructor ignores SIGPIPE (libuv does not; a peer that dies mid-write
// would otherwise kill the node).
#pragma once

#include <kj/async-io.h>
#include <kj/async.h>
#include <kj/timer.h>
#include <uv.h>

namespace causeway::rpc {

class UvEventPort final : public kj::EventPort {
 public:
  explicit UvEventPort(uv_loop_t* loop);
  ~UvEventPort() noexcept(false);
  UvEventPort(const UvEventPort&) = delete;
  UvEventPort& operator=(const UvEventPort&) = delete;

  // kj::EventPort. wait()/poll() run the uv loop only when called outside a uv callback (a
  // Promise::wait() at top level, e.g. in tests); from inside a callback they only report wake-ups
  // (uv_run is not re-entrant).
  bool wait() override;
  bool poll() override;
  void setRunnable(bool runnable) override;
  void wake() const override;

  uv_loop_t* uv_loop() const { return loop_; }
  kj::Timer& timer() { return timer_; }
  kj::WaitScope& wait_scope() { return wait_scope_; }
  // Monotonic time as KJ sees it.
  static kj::TimePoint MonotonicNow();

 private:
  bool RunUvOnce(uv_run_mode mode);  // the body of wait() and poll()
  struct Handles;
  static void OnPrepare(uv_prepare_t* handle);
  static void OnCheck(uv_check_t* handle);
  static void OnIdle(uv_idle_t* handle);
  static void OnTimer(uv_timer_t* handle);
  static void OnAsync(uv_async_t* handle);
  // Runs queued KJ events, then re-arms the uv timer for KJ's next timer event.
  void RunKj();
  void ArmTimer();

  uv_loop_t* const loop_;
  Handles* handles_;        // freed by the last close callback, after this object is gone
  int callback_depth_ = 0;  // > 0 inside our uv callbacks that run KJ code
  int in_kj_wait_ = 0;      // > 0 while KJ itself runs uv (wait()/poll() at top level)
  bool runnable_ = false;
  bool idle_active_ = false;
  bool woken_ = false;
  kj::Maybe<kj::TimePoint> armed_for_;
  kj::TimerImpl timer_;
  kj::EventLoop kj_loop_;
  kj::WaitScope wait_scope_;
};

class UvIoProvider final : public kj::LowLevelAsyncIoProvider {
 public:
  explicit UvIoProvider(UvEventPort& port) : port_(port) {}

  kj::Own<kj::AsyncInputStream> wrapInputFd(int fd, uint flags = 0) override;
  kj::Own<kj::AsyncOutputStream> wrapOutputFd(int fd, uint flags = 0) override;
  kj::Own<kj::AsyncIoStream> wrapSocketFd(int fd, uint flags = 0) override;
  kj::Promise<kj::Own<kj::AsyncIoStream>> wrapConnectingSocketFd(int fd,
                                                                 const struct sockaddr* addr,
                                                                 uint addrlen,
                                                                 uint flags = 0) override;
  kj::Own<kj::ConnectionReceiver> wrapListenSocketFd(int fd, NetworkFilter& filter,
                                                     uint flags = 0) override;
  kj::Timer& getTimer() override { return port_.timer(); }

 private:
  UvEventPort& port_;
};

// Sets TCP_NODELAY when `fd` is a TCP socket; a no-op for other fds.
void SetNoDelay(int fd);

}  // namespace causeway::rpc
