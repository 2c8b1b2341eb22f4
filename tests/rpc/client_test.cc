// causeway::Client's fail-over within a call, against fake nodes over real loopback sockets.
//
// A FakeNode is a Cap'n Proto server of the client API on its own thread, with an in-memory map:
// it can answer with a chosen error, answer late, stop like a SIGSTOPped process (its loop
// blocks: the kernel still completes connections from the listen backlog, nothing is read or
// written) or go away (connections refused). Real `causeway serve` processes under SIGSTOP are
// tests/tools/cli_test.cc's (CliFailover). Addresses: 127.0.0.190..199, used nowhere else.
#include "rpc/client.h"

#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "base/hlc.h"
#include "base/limits.h"
#include "base/strings.h"
#include "cluster/session.h"
#include "rpc/internal/convert.h"
#include "rpc/internal/errors.h"
#include "schema/causeway.capnp.h"

namespace causeway {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

int64_t MsSince(SteadyClock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start).count();
}

int64_t Median(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

class FakeNode {
 public:
  // Serves on host:port (0: any free port) until destroyed.
  explicit FakeNode(std::string host, int port = 0) : host_(std::move(host)), port_(port) {
    std::unique_lock<std::mutex> lock(mu_);
    thread_ = std::thread([this]() { Run(); });
    started_.wait(lock, [this]() { return executor_ != nullptr || failed_; });
    EXPECT_FALSE(failed_) << "cannot listen on " << host_ << ":" << port_;
  }
  ~FakeNode() {
    Resume();
    if (executor_ != nullptr) executor_->executeSync([this]() { stop_->fulfill(); });
    thread_.join();
  }
  FakeNode(const FakeNode&) = delete;
  FakeNode& operator=(const FakeNode&) = delete;

  std::string endpoint() const { return StrCat(host_, ":", port_); }
  int port() const { return port_; }
  // Every get, put and delete fails with `code` from now on (kOk: they are served). Pings are
  // always answered, so the client's connection probe passes.
  void AnswerWith(ErrorCode code) { code_ = code; }
  void DelayAnswers(uint64_t ms) { delay_ms_ = ms; }
  // Like SIGSTOP: returns once the node's loop is blocked.
  void Pause() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      paused_ = true;
    }
    executor_->executeSync([this]() {  // not under mu_: the loop may be waiting for it
      tasks_->add(kj::evalLater([this]() {
        std::unique_lock<std::mutex> lock(mu_);
        stopped_in_loop_ = true;
        resumed_.notify_all();
        resumed_.wait(lock, [this]() { return !paused_; });
        stopped_in_loop_ = false;
      }));
    });
    std::unique_lock<std::mutex> lock(mu_);
    resumed_.wait(lock, [this]() { return stopped_in_loop_; });
  }
  void Resume() {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = false;
    resumed_.notify_all();
  }
  int calls() const { return calls_; }  // gets, puts and deletes received
  uint64_t last_timeout_ms() const { return last_timeout_ms_; }
  std::string last_session() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_session_;
  }

 private:
  class Api final : public wire::ClientApi::Server {
   public:
    explicit Api(FakeNode* node) : node_(node) {}
    kj::Promise<void> get(GetContext context) override {
      auto params = context.getParams();
      std::string key = Text(params.getKey());
      node_->Received(params.getOptions().getTimeoutMs(), Text(params.getOptions().getSession()));
      return node_->Answer().then([this, context, key]() mutable {
        std::optional<Version> v = node_->Read(key);
        rpc::GetResultToWire(v, "", context.getResults().initResult());
      });
    }
    kj::Promise<void> put(PutContext context) override {
      auto params = context.getParams();
      return Write(context, Text(params.getKey()), Text(params.getValue()), params.getOptions());
    }
    kj::Promise<void> delete_(DeleteContext context) override {
      auto params = context.getParams();
      return Write(context, Text(params.getKey()), "", params.getOptions());
    }
    kj::Promise<void> ping(PingContext) override { return kj::READY_NOW; }

   private:
    static std::string Text(capnp::Data::Reader d) { return {d.asChars().begin(), d.size()}; }
    template <typename Context>
    kj::Promise<void> Write(Context context, std::string key, std::string value,
                            wire::WriteOptions::Reader options) {
      std::string session = Text(options.getSession());
      node_->Received(options.getTimeoutMs(), session);
      return node_->Answer().then([this, context, key, value, session]() mutable {
        Version v = node_->Store(key, value);
        auto token = cluster::ObserveAll(session, {{key, cluster::Dot{v.timestamp, v.writer}}});
        if (!token.ok()) rpc::ThrowStatus(token.status());
        auto results = context.getResults();
        rpc::VersionMetaToWire(v, results.initVersion());
        results.setSession(rpc::BytesToWire(*token));
      });
    }
    FakeNode* node_;
  };

  class Bootstrap final : public wire::Bootstrap::Server {
   public:
    explicit Bootstrap(FakeNode* node) : node_(node) {}
    kj::Promise<void> client(ClientContext context) override {
      context.getResults().setClient(kj::heap<Api>(node_));
      return kj::READY_NOW;
    }

   private:
    FakeNode* node_;
  };

  class IgnoreErrors final : public kj::TaskSet::ErrorHandler {
   public:
    void taskFailed(kj::Exception&&) override {}
  };

  void Run() {
    auto io = kj::setupAsyncIo();
    kj::Own<kj::ConnectionReceiver> listener;
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                   listener = io.provider->getNetwork()
                                  .parseAddress(host_, port_)
                                  .wait(io.waitScope)
                                  ->listen();
                 })) {
      std::lock_guard<std::mutex> lock(mu_);
      failed_ = true;
      started_.notify_all();
      return;
    }
    IgnoreErrors ignore;
    kj::TaskSet tasks(ignore);
    capnp::TwoPartyServer server(kj::heap<Bootstrap>(this));
    auto stop = kj::newPromiseAndFulfiller<void>();
    timer_ = &io.provider->getTimer();
    {
      std::lock_guard<std::mutex> lock(mu_);
      port_ = static_cast<int>(listener->getPort());
      tasks_ = &tasks;
      stop_ = stop.fulfiller.get();
      executor_ = &kj::getCurrentThreadExecutor();
      started_.notify_all();
    }
    server.listen(*listener).exclusiveJoin(kj::mv(stop.promise)).wait(io.waitScope);
  }

  void Received(uint32_t timeout_ms, std::string session) {
    ++calls_;
    last_timeout_ms_ = timeout_ms;
    std::lock_guard<std::mutex> lock(mu_);
    last_session_ = std::move(session);
  }
  // Resolves when the answer is due, or fails with the chosen error.
  kj::Promise<void> Answer() {
    ErrorCode code = code_;
    kj::Promise<void> due = kj::READY_NOW;
    if (delay_ms_ > 0) due = timer_->afterDelay(static_cast<int64_t>(delay_ms_) * kj::MILLISECONDS);
    return due.then([code]() {
      if (code != ErrorCode::kOk) rpc::ThrowStatus(Status(code, "the fake node says so"));
    });
  }
  Version Store(const std::string& key, const std::string& value) {
    Version v;
    v.timestamp = HlcMake(1'700'000'000'000, ++writes_);
    v.writer = NodeIdFromName(endpoint());
    v.vv.Advance(v.writer, v.timestamp);
    v.tombstone = value.empty();
    v.value = value;
    data_[key] = v;
    return v;
  }
  std::optional<Version> Read(const std::string& key) const {
    auto it = data_.find(key);
    if (it == data_.end()) return std::nullopt;
    return it->second;
  }

  const std::string host_;
  int port_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable started_, resumed_;
  bool failed_ = false, paused_ = false, stopped_in_loop_ = false;
  std::string last_session_;
  const kj::Executor* executor_ = nullptr;  // set once serving
  kj::PromiseFulfiller<void>* stop_ = nullptr;
  kj::TaskSet* tasks_ = nullptr;
  kj::Timer* timer_ = nullptr;
  // Loop thread only:
  std::map<std::string, Version> data_;
  uint64_t writes_ = 0;
  // Set by the test thread, read by the loop:
  std::atomic<ErrorCode> code_{ErrorCode::kOk};
  std::atomic<uint64_t> delay_ms_{0};
  std::atomic<int> calls_{0};
  std::atomic<uint64_t> last_timeout_ms_{0};
};

ClientOptions Endpoints(std::vector<std::string> endpoints) {
  ClientOptions o;
  o.endpoints = std::move(endpoints);
  return o;  // the defaults under test: 2000 ms per call, 500 ms per attempt
}

TEST(ClientFailover, PausedFirstEndpointEveryCallSucceedsInTime) {
  // Goal: with the first endpoint paused (it accepts connections, answers nothing), every put
  // and get succeeds through the next one, each well under the call's deadline: a fresh client
  // pays one probe (500 ms), a client that met the pause already pays nothing.
  FakeNode paused("127.0.0.190"), live("127.0.0.191");
  paused.Pause();
  std::vector<int64_t> fresh_ms;
  for (int i = 0; i < 10; ++i) {
    for (bool write : {true, false}) {
      Client c(Endpoints({paused.endpoint(), live.endpoint()}));
      auto start = SteadyClock::now();
      Status s = write ? c.Put(StrCat("k", i), "v").status() : c.Get(StrCat("k", i)).status();
      fresh_ms.push_back(MsSince(start));
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_LT(fresh_ms.back(), 1200) << "call " << i;  // the deadline is 2000 (+250)
      EXPECT_EQ(c.endpoint(), live.endpoint());
    }
  }
  Client c(Endpoints({paused.endpoint(), live.endpoint()}));
  std::vector<int64_t> later_ms;
  for (int i = 0; i < 10; ++i) {
    auto start = SteadyClock::now();
    auto got = c.Get(StrCat("k", i));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(got->found);
    if (i > 0) later_ms.push_back(MsSince(start));
  }
  EXPECT_LT(Median(later_ms), 100);
  EXPECT_EQ(paused.calls(), 0);
  std::cout << "paused first endpoint: median call " << Median(fresh_ms) << " ms (fresh client), "
            << Median(later_ms) << " ms (same client, later calls)\n";
  RecordProperty("median_fresh_ms", static_cast<int>(Median(fresh_ms)));
}

TEST(ClientFailover, ErrorsThatMeanAnotherNodeMayServeMoveOnInTheSameCall) {
  // Goal: an attempt answered Unavailable, Timeout, Overloaded, ClockSkew, IoError or NoSpace is
  // repeated on the next endpoint within the same call, which succeeds; InvalidArgument,
  // Corruption and Internal end the call at once, and the next endpoint never sees it.
  FakeNode failing("127.0.0.192"), live("127.0.0.193");
  for (ErrorCode code : {ErrorCode::kUnavailable, ErrorCode::kTimeout, ErrorCode::kOverloaded,
                         ErrorCode::kClockSkew, ErrorCode::kIoError, ErrorCode::kNoSpace}) {
    failing.AnswerWith(code);
    int before = failing.calls();
    Client c(Endpoints({failing.endpoint(), live.endpoint()}));
    auto put = c.Put("moved", "v");
    ASSERT_TRUE(put.ok()) << ErrorCodeName(code) << ": " << put.status().ToString();
    EXPECT_EQ(failing.calls(), before + 1) << ErrorCodeName(code);
    EXPECT_EQ(c.endpoint(), live.endpoint()) << ErrorCodeName(code);
  }
  for (ErrorCode code :
       {ErrorCode::kInvalidArgument, ErrorCode::kCorruption, ErrorCode::kInternal}) {
    failing.AnswerWith(code);
    int live_before = live.calls();
    Client c(Endpoints({failing.endpoint(), live.endpoint()}));
    auto got = c.Get("moved");
    ASSERT_FALSE(got.ok()) << ErrorCodeName(code);
    EXPECT_EQ(got.status().code(), code) << got.status().ToString();
    EXPECT_EQ(live.calls(), live_before) << ErrorCodeName(code);
    EXPECT_EQ(c.endpoint(), failing.endpoint()) << ErrorCodeName(code);
  }
}

TEST(ClientFailover, AFailedAttemptLeavesTheSessionAlone) {
  // Goal: the retry carries the session the call started with (its scope for the call's key),
  // the successful reply's version is folded into it, and a call that fails everywhere leaves it
  // as it was.
  FakeNode failing("127.0.0.194"), live("127.0.0.195");
  failing.AnswerWith(ErrorCode::kUnavailable);
  std::string after_first;
  {
    Client first(Endpoints({failing.endpoint(), live.endpoint()}));
    ASSERT_TRUE(first.Put("first", "v").ok());
    after_first = first.session();
  }
  ASSERT_FALSE(after_first.empty());
  // A new Client starts at the failing endpoint again, with the session handed over.
  Client c(Endpoints({failing.endpoint(), live.endpoint()}));
  c.set_session(after_first);
  ASSERT_TRUE(c.Put("second", "v").ok());
  auto handed = cluster::SessionToken::Decode(after_first);
  ASSERT_TRUE(handed.ok()) << handed.status().ToString();
  std::string_view second[] = {"second"};
  const std::string scope = handed->ScopedTo(second).Encode();
  EXPECT_TRUE(live.last_session() == scope);
  EXPECT_TRUE(failing.last_session() == scope);
  const std::string after_second = c.session();
  EXPECT_NE(after_second, after_first);

  live.AnswerWith(ErrorCode::kUnavailable);
  auto put = c.Put("third", "v");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), ErrorCode::kUnavailable) << put.status().ToString();
  EXPECT_TRUE(c.session() == after_second);
}

TEST(ClientFailover, NodeThatStopsAnsweringMidConnectionCostsOneAttempt) {
  // Goal: an established connection whose node then stops (SIGSTOP-like) holds a call only
  // until the attempt's deadline (500 ms + 250 ms grace), not the call's (2000 ms): the call
  // succeeds on the next endpoint. Pipelined calls on the stopped connection move on too.
  FakeNode first("127.0.0.196"), second("127.0.0.197");
  {
    Client c(Endpoints({first.endpoint(), second.endpoint()}));  // one Client per thread at once
    ASSERT_TRUE(c.Put("k", "v1").ok());
    ASSERT_EQ(c.endpoint(), first.endpoint());
    first.Pause();
    auto start = SteadyClock::now();
    auto put = c.Put("k", "v2");
    int64_t took_ms = MsSince(start);
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    EXPECT_EQ(c.endpoint(), second.endpoint());
    EXPECT_GE(took_ms, static_cast<int64_t>(kClientAttemptTimeoutMsDefault));
    EXPECT_LT(took_ms, static_cast<int64_t>(kRequestTimeoutMsDefault));
    std::cout << "stopped mid-connection: the call took " << took_ms << " ms\n";
  }

  // Pipelined: the stopped endpoint is first again, with an open connection.
  first.Resume();
  Client p(Endpoints({first.endpoint(), second.endpoint()}));
  ASSERT_TRUE(p.Ping().ok());
  ASSERT_EQ(p.endpoint(), first.endpoint());
  first.Pause();
  int ok = 0;
  std::string error;
  for (int i = 0; i < 50; ++i) {
    p.StartPut(StrCat("pipe", i), "v", {}, [&](Result<Version> r) {
      if (r.ok()) {
        ++ok;
      } else {
        error = r.status().ToString();
      }
    });
  }
  auto start = SteadyClock::now();
  p.Wait();
  EXPECT_EQ(ok, 50) << error;
  EXPECT_LT(MsSince(start), static_cast<int64_t>(kRequestTimeoutMsDefault));
}

TEST(ClientFailover, TheNodeIsToldTheAttemptsTimeoutAndTheLastChanceGetsTheRest) {
  // Goal: the node hears the attempt's timeout (500 ms) when another endpoint is left, and the
  // whole call's when it is the last: a single slow endpoint (800 ms) still answers in time,
  // while with another endpoint to try the call moves on after one attempt.
  FakeNode slow("127.0.0.198"), other("127.0.0.199");
  slow.DelayAnswers(800);
  {
    Client alone(Endpoints({slow.endpoint()}));
    auto put = alone.Put("k", "v");
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    EXPECT_GT(slow.last_timeout_ms(), kClientAttemptTimeoutMsDefault);
    EXPECT_LE(slow.last_timeout_ms(), kRequestTimeoutMsDefault);
  }
  Client c(Endpoints({slow.endpoint(), other.endpoint()}));
  auto start = SteadyClock::now();
  auto put = c.Put("k", "v");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_LE(slow.last_timeout_ms(), kClientAttemptTimeoutMsDefault);
  EXPECT_GT(slow.last_timeout_ms(), kClientAttemptTimeoutMsDefault - 100);
  EXPECT_GT(other.last_timeout_ms(), kRequestTimeoutMsDefault - kClientAttemptTimeoutMsDefault -
                                         kClientDeadlineGraceMs - 200);
  EXPECT_EQ(c.endpoint(), other.endpoint());
  EXPECT_LT(MsSince(start), 800 + 100);
}

// The calls of SkipWindowSparesLaterCallsTheWaitButNeverFailsACall, on one Client; `a` is
// paused, `b` and `c` answer.
void SkipWindowCalls(FakeNode& a, FakeNode& b, FakeNode& c) {
  Client client(Endpoints({a.endpoint(), b.endpoint(), c.endpoint()}));
  auto start = SteadyClock::now();
  ASSERT_TRUE(client.Put("k", "1").ok());  // a: the probe times out (500 ms); b answers
  EXPECT_GE(MsSince(start), static_cast<int64_t>(kClientProbeTimeoutMsDefault) - 50);
  ASSERT_EQ(client.endpoint(), b.endpoint());

  // b refuses quickly: the next call goes on to c; the one after that, when c refuses too, would
  // start at a (the next after c) but passes it over for b.
  b.AnswerWith(ErrorCode::kUnavailable);
  ASSERT_TRUE(client.Put("k", "2").ok());
  ASSERT_EQ(client.endpoint(), c.endpoint());
  b.AnswerWith(ErrorCode::kOk);
  c.AnswerWith(ErrorCode::kUnavailable);
  start = SteadyClock::now();
  ASSERT_TRUE(client.Put("k", "3").ok());
  int64_t took_ms = MsSince(start);
  EXPECT_EQ(client.endpoint(), b.endpoint());
  EXPECT_LT(took_ms, static_cast<int64_t>(kClientProbeTimeoutMsDefault) - 100);
  EXPECT_EQ(a.calls(), 0);
  std::cout << "skip window: a call that passed over the paused endpoint took " << took_ms
            << " ms\n";

  // Only the paused endpoint is left (b and c unavailable): it is tried, in vain; once it is
  // back, the call that has nothing else succeeds through it although it is in the window.
  b.AnswerWith(ErrorCode::kUnavailable);
  start = SteadyClock::now();
  auto failed = client.Put("k", "4");
  EXPECT_FALSE(failed.ok());
  EXPECT_GE(MsSince(start), static_cast<int64_t>(kClientProbeTimeoutMsDefault) - 50);
  a.Resume();
  auto put = client.Put("k", "5");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(client.endpoint(), a.endpoint());
  EXPECT_EQ(a.calls(), 1);
}

TEST(ClientFailover, SkipWindowSparesLaterCallsTheWaitButNeverFailsACall) {
  // Goal: an endpoint that just timed out is passed over by later calls while an untried
  // endpoint outside the window remains (a call that would otherwise start there does not wait
  // on it again), and is still tried when nothing else is left, so that a call never fails only
  // because its endpoints are in the window. An endpoint that went away costs no wait at all.
  FakeNode a("127.0.0.190"), b("127.0.0.191");
  auto c = std::make_unique<FakeNode>("127.0.0.192");
  a.Pause();
  ASSERT_NO_FATAL_FAILURE(SkipWindowCalls(a, b, *c));

  int port = c->port();
  c.reset();  // refused from now on
  Client client(Endpoints({StrCat("127.0.0.192:", port), b.endpoint(), a.endpoint()}));
  auto start = SteadyClock::now();
  ASSERT_TRUE(client.Put("k", "6").ok());
  EXPECT_EQ(client.endpoint(), a.endpoint());
  EXPECT_LT(MsSince(start), 200);
}

TEST(ClientFailover, AReusedConnectionTheNodeClosedIsReopenedOnce) {
  // Goal: a single endpoint whose node closed our idle connection (it restarted, or its idle
  // timeout) costs the call one fresh connection, not a failure.
  auto node = std::make_unique<FakeNode>("127.0.0.193");
  int port = node->port();
  Client c(Endpoints({node->endpoint()}));
  ASSERT_TRUE(c.Put("k", "v").ok());
  node.reset();  // closes our connection
  node = std::make_unique<FakeNode>("127.0.0.193", port);
  auto put = c.Put("k", "v2");
  EXPECT_TRUE(put.ok()) << put.status().ToString();
}

}  // namespace
}  // namespace causeway
