#include "rpc/internal/uv_event_port.h"

#include <fcntl.h>
#include <kj/debug.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>

namespace causeway::rpc {
namespace {

// KJ turns run per uv iteration before libuv gets to poll I/O again: bounds how long a burst of
// ready KJ work can starve sockets and timers.
constexpr uint kKjTurnsPerIteration = 4096;

// Exceptions must not unwind through libuv's C frames: log and carry on.
template <typename Fn>
void RunGuarded(const char* where, Fn&& fn) {
  KJ_IF_MAYBE (e, kj::runCatchingExceptions(kj::fwd<Fn>(fn))) {
    fprintf(stderr, "causeway: uncaught exception in %s: %s\n", where, e->getDescription().cStr());
  }
}

void ApplyFdFlags(int fd, uint flags) {
  if (!(flags & kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK)) {
    int fl;
    KJ_SYSCALL(fl = fcntl(fd, F_GETFL));
    if (!(fl & O_NONBLOCK)) {
      KJ_SYSCALL(fcntl(fd, F_SETFL, fl | O_NONBLOCK));
    }
  }
  if ((flags & kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP) &&
      !(flags & kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC)) {
    KJ_SYSCALL(fcntl(fd, F_SETFD, FD_CLOEXEC));
  }
}

// Watches one fd with a uv_poll_t and turns readiness into KJ promises (see the header for the
// arming policy). Owns the fd when TAKE_OWNERSHIP was passed.
class FdWatcher {
 public:
  FdWatcher(uv_loop_t* loop, int fd, uint flags)
      : fd_(fd), owned_(flags & kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP) {
    ApplyFdFlags(fd, flags);
    handle_ = new PollHandle;
    handle_->owner = this;
    int rc = uv_poll_init(loop, &handle_->poll, fd);
    if (rc != 0) {
      delete handle_;
      handle_ = nullptr;
      if (owned_) close(fd_);
      // NOLINTNEXTLINE(bugprone-suspicious-semicolon): the KJ macro's own if/else
      KJ_FAIL_REQUIRE("uv_poll_init failed", uv_strerror(rc), fd);
    }
  }

  ~FdWatcher() noexcept(false) {
    handle_->owner = nullptr;
    // uv_close stops polling at once (the fd leaves epoll), so closing the fd next is safe; the
    // handle's memory is freed by the close callback.
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_->poll),
             [](uv_handle_t* h) { delete reinterpret_cast<PollHandle*>(h); });
    if (owned_) close(fd_);
  }

  int fd() const { return fd_; }

  kj::Promise<void> OnReadable() {
    if (failed_) return kj::READY_NOW;
    KJ_REQUIRE(readable_ == nullptr, "two concurrent reads on one fd");
    auto paf = kj::newPromiseAndFulfiller<void>();
    readable_ = kj::mv(paf.fulfiller);
    want_read_ = true;
    UpdateArming();
    return kj::mv(paf.promise);
  }

  kj::Promise<void> OnWritable() {
    if (failed_) return kj::READY_NOW;
    KJ_REQUIRE(writable_ == nullptr, "two concurrent writes on one fd");
    auto paf = kj::newPromiseAndFulfiller<void>();
    writable_ = kj::mv(paf.fulfiller);
    UpdateArming();
    return kj::mv(paf.promise);
  }

 private:
  struct PollHandle {
    uv_poll_t poll;
    FdWatcher* owner = nullptr;
  };

  static void OnPoll(uv_poll_t* h, int status, int events) {
    auto* self = reinterpret_cast<PollHandle*>(h)->owner;
    if (self != nullptr) self->Fire(status, events);
  }

  void Fire(int status, int events) {
    if (status < 0) {
      // libuv reports POLLERR as an error and has stopped the handle. Wake everyone: the next
      // syscall on the fd reports the real error.
      failed_ = true;
      armed_ = 0;
      events = UV_READABLE | UV_WRITABLE;
    }
    if (events & UV_READABLE) {
      KJ_IF_MAYBE (r, readable_) {
        (*r)->fulfill();
        readable_ = nullptr;
      } else {
        want_read_ = false;  // nobody came back to read: stop level-triggered wake-ups
      }
    }
    if (events & UV_WRITABLE) {
      KJ_IF_MAYBE (w, writable_) {
        (*w)->fulfill();
        writable_ = nullptr;
      }
    }
    if (!failed_) UpdateArming();
  }

  // Changes the uv_poll event mask only when it differs: every uv_poll_start costs epoll_ctl.
  void UpdateArming() {
    if (failed_) return;
    int want = (want_read_ ? UV_READABLE : 0) | (writable_ != nullptr ? UV_WRITABLE : 0);
    if (want == armed_) return;
    armed_ = want;
    if (want == 0) {
      uv_poll_stop(&handle_->poll);
    } else {
      int rc = uv_poll_start(&handle_->poll, want, &FdWatcher::OnPoll);
      KJ_REQUIRE(rc == 0, "uv_poll_start failed", uv_strerror(rc), fd_);
    }
  }

  const int fd_;
  const bool owned_;
  PollHandle* handle_ = nullptr;
  int armed_ = 0;
  bool want_read_ = false;
  bool failed_ = false;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> readable_;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> writable_;
};

// The socket-option calls KJ's stream and listener interfaces share, forwarded to the fd that
// SocketFd() returns.
template <typename Base>
class FdSocketOptions : public Base {
 public:
  void getsockopt(int level, int option, void* value, uint* length) override {
    socklen_t len = *length;
    KJ_SYSCALL(::getsockopt(SocketFd(), level, option, value, &len));
    *length = len;
  }
  void setsockopt(int level, int option, const void* value, uint length) override {
    KJ_SYSCALL(::setsockopt(SocketFd(), level, option, value, length));
  }
  void getsockname(struct sockaddr* addr, uint* length) override {
    socklen_t len = *length;
    KJ_SYSCALL(::getsockname(SocketFd(), addr, &len));
    *length = len;
  }

 protected:
  virtual int SocketFd() const = 0;
};

class UvStream final : public FdSocketOptions<kj::AsyncIoStream> {
 public:
  UvStream(uv_loop_t* loop, int fd, uint flags) : watcher_(loop, fd, flags) {}

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override {
    return ReadSome(static_cast<kj::byte*>(buffer), min_bytes, max_bytes, 0);
  }

  kj::Promise<void> write(const void* buffer, size_t size) override {
    kj::ArrayPtr<const kj::byte> piece(static_cast<const kj::byte*>(buffer), size);
    return WritePieces(piece, nullptr);
  }

  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override {
    if (pieces.size() == 0) return kj::READY_NOW;
    return WritePieces(pieces[0], pieces.slice(1, pieces.size()));
  }

  // 0.9.2 makes this pure virtual. RPC does not depend on it; a disconnect surfaces as a failed
  // read or write instead.
  kj::Promise<void> whenWriteDisconnected() override { return kj::NEVER_DONE; }

  void shutdownWrite() override {
    // ENOTCONN: the peer is already gone, which is what shutting down was for.
    if (shutdown(watcher_.fd(), SHUT_WR) < 0 && errno != ENOTCONN) {
      // NOLINTNEXTLINE(bugprone-suspicious-semicolon): the KJ macro's own if/else
      KJ_FAIL_SYSCALL("shutdown", errno);
    }
  }

  void getpeername(struct sockaddr* addr, uint* length) override {
    socklen_t len = *length;
    KJ_SYSCALL(::getpeername(watcher_.fd(), addr, &len));
    *length = len;
  }
  kj::Maybe<int> getFd() const override { return watcher_.fd(); }

  // Completes a non-blocking connect(): waits for writability, then checks SO_ERROR.
  kj::Promise<void> WaitConnected() {
    return watcher_.OnWritable().then([this]() {
      int err = 0;
      socklen_t len = sizeof(err);
      // NOLINTNEXTLINE(bugprone-suspicious-semicolon): the KJ macro's own if/else
      KJ_SYSCALL(::getsockopt(watcher_.fd(), SOL_SOCKET, SO_ERROR, &err, &len));
      if (err != 0) {
        kj::throwFatalException(KJ_EXCEPTION(DISCONNECTED, "connect() failed", strerror(err)));
      }
      SetNoDelay(watcher_.fd());
    });
  }

 private:
  kj::Promise<size_t> ReadSome(kj::byte* buffer, size_t min_bytes, size_t max_bytes,
                               size_t already) {
    ssize_t n;
    KJ_NONBLOCKING_SYSCALL(n = ::read(watcher_.fd(), buffer, max_bytes)) { return already; }
    if (n < 0) {  // EAGAIN
      return watcher_.OnReadable().then(
          [=, this]() { return ReadSome(buffer, min_bytes, max_bytes, already); });
    }
    if (n == 0) return already;  // EOF
    size_t got = static_cast<size_t>(n);
    if (got >= min_bytes) return already + got;
    return watcher_.OnReadable().then([=, this]() {
      return ReadSome(buffer + got, min_bytes - got, max_bytes - got, already + got);
    });
  }

  kj::Promise<void> WritePieces(kj::ArrayPtr<const kj::byte> first,
                                kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> more) {
    constexpr size_t kIovMax = 1024;
    size_t count = std::min(kIovMax, 1 + more.size());
    struct iovec iov[kIovMax];
    iov[0].iov_base = const_cast<kj::byte*>(first.begin());
    iov[0].iov_len = first.size();
    for (size_t i = 1; i < count; ++i) {
      iov[i].iov_base = const_cast<kj::byte*>(more[i - 1].begin());
      iov[i].iov_len = more[i - 1].size();
    }
    ssize_t n;
    KJ_NONBLOCKING_SYSCALL(n = ::writev(watcher_.fd(), iov, count));
    size_t done = n < 0 ? 0 : static_cast<size_t>(n);
    // Drop what was written; what is left is (first, more).
    while (done >= first.size() && more.size() > 0) {
      done -= first.size();
      first = more[0];
      more = more.slice(1, more.size());
    }
    if (done >= first.size() && more.size() == 0) return kj::READY_NOW;
    first = first.slice(done, first.size());
    if (n > 0) return WritePieces(first, more);  // partial: the socket may take more right away
    return watcher_.OnWritable().then([=, this]() { return WritePieces(first, more); });
  }

  int SocketFd() const override { return watcher_.fd(); }
  FdWatcher watcher_;
};

class UvListener final : public FdSocketOptions<kj::ConnectionReceiver> {
 public:
  UvListener(uv_loop_t* loop, int fd, kj::LowLevelAsyncIoProvider::NetworkFilter& filter,
             uint flags)
      : loop_(loop), watcher_(loop, fd, flags), filter_(filter) {}

  kj::Promise<kj::Own<kj::AsyncIoStream>> accept() override {
    for (;;) {
      struct sockaddr_storage addr;
      socklen_t len = sizeof(addr);
      int fd = ::accept4(watcher_.fd(), reinterpret_cast<sockaddr*>(&addr), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        if (!filter_.shouldAllow(reinterpret_cast<sockaddr*>(&addr), len)) {
          close(fd);
          continue;
        }
        SetNoDelay(fd);
        constexpr uint kFlags = kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                                kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                                kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK;
        return kj::Own<kj::AsyncIoStream>(kj::heap<UvStream>(loop_, fd, kFlags));
      }
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        return watcher_.OnReadable().then([this]() { return accept(); });
      }
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      // EMFILE, ENFILE, ENOBUFS, ENOMEM: the caller backs off and retries.
      return KJ_EXCEPTION(OVERLOADED, "accept() failed", strerror(err));
    }
  }

  uint getPort() override {
    struct sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    KJ_SYSCALL(::getsockname(watcher_.fd(), reinterpret_cast<sockaddr*>(&addr), &len));
    if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) {
      return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    }
    return 0;
  }

 private:
  uv_loop_t* const loop_;
  int SocketFd() const override { return watcher_.fd(); }
  FdWatcher watcher_;
  kj::LowLevelAsyncIoProvider::NetworkFilter& filter_;
};

}  // namespace

void SetNoDelay(int fd) {
  int one = 1;
  // Fails with EOPNOTSUPP/ENOPROTOOPT on non-TCP sockets: that is fine.
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// ---- UvEventPort ------------------------------------------------------------------------------

struct UvEventPort::Handles {
  uv_prepare_t prepare;
  uv_check_t check;
  uv_idle_t idle;
  uv_timer_t timer;
  uv_async_t async;
  UvEventPort* port = nullptr;
  int open = 5;
};

UvEventPort::UvEventPort(uv_loop_t* loop)
    : loop_(loop),
      handles_(new Handles),
      timer_(MonotonicNow()),
      kj_loop_(*this),
      wait_scope_(kj_loop_) {
  signal(SIGPIPE, SIG_IGN);
  handles_->port = this;
  uv_prepare_init(loop, &handles_->prepare);
  uv_check_init(loop, &handles_->check);
  uv_idle_init(loop, &handles_->idle);
  uv_timer_init(loop, &handles_->timer);
  uv_async_init(loop, &handles_->async, &UvEventPort::OnAsync);
  handles_->prepare.data = handles_->check.data = handles_->idle.data = handles_->timer.data =
      handles_->async.data = handles_;
  uv_prepare_start(&handles_->prepare, &UvEventPort::OnPrepare);
  uv_check_start(&handles_->check, &UvEventPort::OnCheck);
  // Prepare and check alone must not keep uv_run alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->prepare));
  uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->check));
}

UvEventPort::~UvEventPort() noexcept(false) {
  handles_->port = nullptr;
  auto on_close = [](uv_handle_t* h) {
    auto* hs = static_cast<Handles*>(h->data);
    if (--hs->open == 0) delete hs;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&handles_->prepare), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&handles_->check), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&handles_->idle), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&handles_->timer), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&handles_->async), on_close);
}

kj::TimePoint UvEventPort::MonotonicNow() {
  return kj::origin<kj::TimePoint>() + uv_hrtime() * kj::NANOSECONDS;
}

// KJ-driven (a top-level Promise::wait() or poll()): one libuv turn, sleeping until an event
// arrives for UV_RUN_ONCE. Inside a libuv callback uv_run is not re-entrant, so only report wakes.
bool UvEventPort::RunUvOnce(uv_run_mode mode) {
  if (callback_depth_ == 0) {
    ++in_kj_wait_;
    ArmTimer();
    uv_run(loop_, mode);
    timer_.advanceTo(MonotonicNow());
    --in_kj_wait_;
  }
  bool woken = woken_;
  woken_ = false;
  return woken;
}

bool UvEventPort::wait() { return RunUvOnce(UV_RUN_ONCE); }

bool UvEventPort::poll() { return RunUvOnce(UV_RUN_NOWAIT); }

void UvEventPort::setRunnable(bool runnable) {
  runnable_ = runnable;
  // While KJ has work, an active idle handle makes uv_run poll without sleeping. Starting and
  // stopping it costs no syscall.
  if (runnable && !idle_active_) {
    uv_idle_start(&handles_->idle, &UvEventPort::OnIdle);
    idle_active_ = true;
  } else if (!runnable && idle_active_) {
    uv_idle_stop(&handles_->idle);
    idle_active_ = false;
  }
}

void UvEventPort::wake() const { uv_async_send(&handles_->async); }

void UvEventPort::RunKj() {
  timer_.advanceTo(MonotonicNow());
  if (in_kj_wait_ == 0 && runnable_) {
    ++callback_depth_;
    RunGuarded("kj event loop", [this]() { kj_loop_.run(kKjTurnsPerIteration); });
    --callback_depth_;
  }
  ArmTimer();
}

void UvEventPort::ArmTimer() {
  KJ_IF_MAYBE (next, timer_.nextEvent()) {
    KJ_IF_MAYBE (armed, armed_for_) {
      if (*armed == *next) return;
    }
    uint64_t delay_ms =
        KJ_ASSERT_NONNULL(timer_.timeoutToNextEvent(MonotonicNow(), kj::MILLISECONDS, INT_MAX));
    uv_timer_start(&handles_->timer, &UvEventPort::OnTimer, delay_ms, 0);
    armed_for_ = *next;
  } else {
    if (armed_for_ != nullptr) uv_timer_stop(&handles_->timer);
    armed_for_ = nullptr;
  }
}

// Code outside KJ callbacks (uv callbacks, top-level code) may have started a KJ timer: arm the
// uv timer for it before libuv decides how long to sleep. Cheap when nothing changed.
void UvEventPort::OnPrepare(uv_prepare_t* h) {
  auto* self = static_cast<Handles*>(h->data)->port;
  if (self != nullptr && self->in_kj_wait_ == 0) self->ArmTimer();
}

// Runs right after libuv's I/O callbacks, so KJ sees this iteration's reads and writes at once.
void UvEventPort::OnCheck(uv_check_t* h) {
  auto* self = static_cast<Handles*>(h->data)->port;
  if (self != nullptr && self->runnable_) self->RunKj();
}

void UvEventPort::OnIdle(uv_idle_t* h) {
  auto* self = static_cast<Handles*>(h->data)->port;
  if (self != nullptr) self->RunKj();
}

void UvEventPort::OnTimer(uv_timer_t* h) {
  auto* self = static_cast<Handles*>(h->data)->port;
  if (self == nullptr) return;
  self->armed_for_ = nullptr;
  self->RunKj();
}

void UvEventPort::OnAsync(uv_async_t* h) {
  auto* self = static_cast<Handles*>(h->data)->port;
  if (self == nullptr) return;
  self->woken_ = true;
  if (self->in_kj_wait_ > 0) return;  // the waiting KJ loop sees woken_ when wait() returns
  // Let the EventLoop take in cross-thread events (kj::Executor): WaitScope::poll() asks our
  // poll(), which reports the wake-up without re-entering uv_run.
  ++self->callback_depth_;
  RunGuarded("cross-thread wake", [self]() { self->wait_scope_.poll(); });
  --self->callback_depth_;
  self->ArmTimer();
}

// ---- UvIoProvider -----------------------------------------------------------------------------

kj::Own<kj::AsyncInputStream> UvIoProvider::wrapInputFd(int fd, uint flags) {
  return kj::heap<UvStream>(port_.uv_loop(), fd, flags);
}

kj::Own<kj::AsyncOutputStream> UvIoProvider::wrapOutputFd(int fd, uint flags) {
  return kj::heap<UvStream>(port_.uv_loop(), fd, flags);
}

kj::Own<kj::AsyncIoStream> UvIoProvider::wrapSocketFd(int fd, uint flags) {
  return kj::heap<UvStream>(port_.uv_loop(), fd, flags);
}

kj::Promise<kj::Own<kj::AsyncIoStream>> UvIoProvider::wrapConnectingSocketFd(
    int fd, const struct sockaddr* addr, uint addrlen, uint flags) {
  // 0.9.2's contract: this function calls connect() itself.
  auto stream = kj::heap<UvStream>(port_.uv_loop(), fd, flags);
  int rc;
  do {
    rc = ::connect(fd, addr, addrlen);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) {
    SetNoDelay(fd);
    return kj::Own<kj::AsyncIoStream>(kj::mv(stream));
  }
  if (errno != EINPROGRESS) {
    return KJ_EXCEPTION(DISCONNECTED, "connect() failed", strerror(errno));
  }
  auto connected = stream->WaitConnected();
  return connected.then(
      [stream = kj::mv(stream)]() mutable { return kj::Own<kj::AsyncIoStream>(kj::mv(stream)); });
}

kj::Own<kj::ConnectionReceiver> UvIoProvider::wrapListenSocketFd(int fd, NetworkFilter& filter,
                                                                 uint flags) {
  return kj::heap<UvListener>(port_.uv_loop(), fd, filter, flags);
}

}  // namespace causeway::rpc
