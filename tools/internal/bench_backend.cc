#include "tools/internal/bench_backend.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include <chrono>
#include <thread>
#include <utility>

#include "base/assert.h"
#include "base/strings.h"

namespace causeway::tools {
namespace {

using SteadyClock = std::chrono::steady_clock;

// ---- native -------------------------------------------------------------------------------

class NativeBackend final : public BenchBackend {
 public:
  NativeBackend(ClientOptions options, CallOptions read, CallOptions write, bool sessions)
      : client_(std::move(options)), read_(read), write_(write), sessions_(sessions) {}

  void StartRead(const std::string& key, BenchDone done) override {
    ForgetSession();
    client_.StartGet(key, read_, [done = std::move(done)](Result<ReadReply> r) {
      BenchReply reply;
      if (r.ok()) {
        reply.found = r->found;
      } else {
        reply.status = r.status();
      }
      done(reply);
    });
  }
  void StartWrite(const std::string& key, const std::string& value, BenchDone done) override {
    ForgetSession();
    client_.StartPut(key, value, write_, [done = std::move(done)](const Result<Version>& w) {
      BenchReply reply;
      if (!w.ok()) reply.status = w.status();
      done(reply);
    });
  }
  void StartPing(BenchDone done) override {
    client_.StartPing([done = std::move(done)](const Status& s) { done(BenchReply{s, false}); });
  }
  void Wait() override { client_.Wait(); }
  void WaitFor(uint64_t timeout_us) override { client_.WaitFor(timeout_us); }

 private:
  // Without sessions every call starts a new one: a thread touching thousands of keys would
  // otherwise send a token near kSessionTokenBytesMax with every call, and the benchmark would
  // measure token encoding rather than the store.
  void ForgetSession() {
    if (!sessions_) client_.set_session({});
  }

  Client client_;
  CallOptions read_, write_;
  bool sessions_;
};

// ---- RESP (hiredis on this thread's own libuv loop) ----------------------------------------

class RespBackend final : public BenchBackend {
 public:
  enum class Expect { kValue, kStatus };

  RespBackend() {
    uv_loop_init(&loop_);
    uv_timer_init(&loop_, &timer_);
    timer_.data = this;
  }
  ~RespBackend() override {
    for (redisAsyncContext* c : conns_) {
      if (c != nullptr) redisAsyncDisconnect(c);  // pending callbacks run with a null reply
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
    }
    (void)uv_loop_close(&loop_);
  }
  RespBackend(const RespBackend&) = delete;
  RespBackend& operator=(const RespBackend&) = delete;

  Status Connect(const std::vector<std::string>& endpoints, int connections,
                 const std::string& password, uint64_t timeout_ms) {
    for (int i = 0; i < connections; ++i) {
      const std::string& endpoint = endpoints[static_cast<size_t>(i) % endpoints.size()];
      const size_t colon = endpoint.rfind(':');
      if (colon == std::string::npos) {
        return Status::InvalidArgument("endpoint '" + endpoint + "' is not host:port");
      }
      const std::string host = endpoint.substr(0, colon);
      const int port = std::atoi(endpoint.c_str() + colon + 1);
      redisAsyncContext* c = redisAsyncConnect(host.c_str(), port);
      if (c == nullptr || c->err != 0) {
        Status s = Status::Unavailable("cannot connect to " + endpoint + ": " +
                                       (c != nullptr ? c->errstr : "out of memory"));
        if (c != nullptr) redisAsyncFree(c);
        return s;
      }
      c->data = this;
      redisLibuvAttach(c, &loop_);
      redisAsyncSetConnectCallback(c, &OnConnect);
      redisAsyncSetDisconnectCallback(c, &OnDisconnect);
      conns_.push_back(c);
    }
    const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
    while (connected_ + failed_ < connections && SteadyClock::now() < deadline) {
      WaitFor(10000);
    }
    if (connected_ < connections) {
      return Status::Unavailable(StrCat("RESP: ", connected_, " of ", connections,
                                        " connections came up: ", first_error_));
    }
    if (!password.empty()) {
      Status auth;
      for (redisAsyncContext* c : conns_) {
        const char* argv[] = {"AUTH", password.c_str()};
        const size_t lens[] = {4, password.size()};
        Send(c, 2, argv, lens, Expect::kStatus, [&auth](const BenchReply& r) {
          if (!r.status.ok() && auth.ok()) auth = r.status;
        });
      }
      Wait();
      if (!auth.ok()) return auth;
    }
    return Status::Ok();
  }

  void StartRead(const std::string& key, BenchDone done) override {
    const char* argv[] = {"GET", key.data()};
    const size_t lens[] = {3, key.size()};
    Send(Next(), 2, argv, lens, Expect::kValue, std::move(done));
  }
  void StartWrite(const std::string& key, const std::string& value, BenchDone done) override {
    const char* argv[] = {"SET", key.data(), value.data()};
    const size_t lens[] = {3, key.size(), value.size()};
    Send(Next(), 3, argv, lens, Expect::kStatus, std::move(done));
  }
  void StartPing(BenchDone done) override {
    const char* argv[] = {"PING"};
    const size_t lens[] = {4};
    Send(Next(), 1, argv, lens, Expect::kStatus, std::move(done));
  }

  void Wait() override {
    while (outstanding_ > 0) uv_run(&loop_, UV_RUN_ONCE);
  }

  // libuv timers have millisecond resolution: the last sub-millisecond is slept, after one
  // non-blocking turn of the loop.
  void WaitFor(uint64_t timeout_us) override {
    const auto end = SteadyClock::now() + std::chrono::microseconds(timeout_us);
    while (true) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      const auto now = SteadyClock::now();
      if (now >= end) return;
      const auto left_us = std::chrono::duration_cast<std::chrono::microseconds>(end - now).count();
      if (left_us < 1000) {
        std::this_thread::sleep_for(std::chrono::microseconds(left_us));
        continue;
      }
      timer_fired_ = false;
      uv_timer_start(
          &timer_, [](uv_timer_t* t) { static_cast<RespBackend*>(t->data)->timer_fired_ = true; },
          static_cast<uint64_t>(left_us / 1000), 0);
      while (!timer_fired_) uv_run(&loop_, UV_RUN_ONCE);
    }
  }

 private:
  struct Pending {
    RespBackend* backend;
    Expect expect;
    BenchDone done;
  };

  redisAsyncContext* Next() {
    redisAsyncContext* c = conns_[next_];
    next_ = (next_ + 1) % conns_.size();
    return c;
  }

  void Send(redisAsyncContext* c, int argc, const char** argv, const size_t* lens, Expect expect,
            BenchDone done) {
    ++outstanding_;
    auto* p = new Pending{this, expect, std::move(done)};  // NOLINT: freed in OnReply
    if (c == nullptr || redisAsyncCommandArgv(c, &OnReply, p, argc, argv, lens) != REDIS_OK) {
      OnReply(nullptr, nullptr, p);
    }
  }

  static void OnReply(redisAsyncContext* c, void* raw, void* privdata) {
    std::unique_ptr<Pending> p(static_cast<Pending*>(privdata));
    auto* reply = static_cast<redisReply*>(raw);
    BenchReply out;
    if (reply == nullptr) {
      out.status =
          Status::Unavailable(std::string("RESP connection lost: ") +
                              (c != nullptr && c->errstr[0] != '\0' ? c->errstr : "closed"));
    } else if (reply->type == REDIS_REPLY_ERROR) {
      out.status = Status::Internal("RESP error: " + std::string(reply->str, reply->len));
    } else if (p->expect == Expect::kValue) {
      if (reply->type == REDIS_REPLY_STRING) {
        out.found = true;
      } else if (reply->type != REDIS_REPLY_NIL) {
        out.status = Status::Internal(StrCat("RESP: unexpected reply type ", reply->type));
      }
    }
    --p->backend->outstanding_;
    p->done(out);
  }

  static void OnConnect(const redisAsyncContext* c, int status) {
    auto* self = static_cast<RespBackend*>(c->data);
    if (status == REDIS_OK) {
      ++self->connected_;
      return;
    }
    ++self->failed_;
    if (self->first_error_.empty()) self->first_error_ = c->errstr;
    self->Forget(c);  // hiredis frees a context whose connect failed
  }
  static void OnDisconnect(const redisAsyncContext* c, int /*status*/) {
    static_cast<RespBackend*>(c->data)->Forget(c);  // freed by hiredis after this returns
  }
  void Forget(const redisAsyncContext* c) {
    for (redisAsyncContext*& mine : conns_) {
      if (mine == c) mine = nullptr;
    }
  }

  uv_loop_t loop_{};
  uv_timer_t timer_{};
  bool timer_fired_ = false;
  std::vector<redisAsyncContext*> conns_;
  size_t next_ = 0;
  int connected_ = 0, failed_ = 0;
  std::string first_error_;
  uint64_t outstanding_ = 0;
};

}  // namespace

std::unique_ptr<BenchBackend> MakeNativeBackend(ClientOptions options, CallOptions read,
                                                CallOptions write, bool sessions) {
  return std::make_unique<NativeBackend>(std::move(options), read, write, sessions);
}

Result<std::unique_ptr<BenchBackend>> MakeRespBackend(const std::vector<std::string>& endpoints,
                                                      int connections, const std::string& password,
                                                      uint64_t timeout_ms) {
  CW_ASSERT(!endpoints.empty() && connections > 0, "RESP backend without endpoints");
  auto backend = std::make_unique<RespBackend>();
  if (Status s = backend->Connect(endpoints, connections, password, timeout_ms); !s.ok()) return s;
  return std::unique_ptr<BenchBackend>(std::move(backend));
}

}  // namespace causeway::tools
