// The node server and client library over real loopback sockets: a real Engine in a temp dir, a
// real Server on its own thread, causeway::Client (or raw capnp) on the test thread.
#include "rpc/server.h"

#include <arpa/inet.h>
#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <capnp/schema.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "base/hlc.h"
#include "base/strings.h"
#include "cluster/ceiling.h"
#include "engine/engine.h"
#include "rpc/client.h"
#include "rpc/internal/convert.h"
#include "rpc/internal/errors.h"
#include "schema/causeway.capnp.h"

namespace causeway {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// One node: engine in a temp dir, server on its own thread; stopped and cleaned up on exit.
class Node {
 public:
  explicit Node(uint64_t idle_timeout_ms = kIdleConnectionTimeoutMs, std::string name = "n1",
                int rf = 1, std::vector<std::string> seeds = {}) {
    dir_ = fs::temp_directory_path() /
           ("causeway_rpc_test_" + std::to_string(getpid()) + "_" + std::to_string(counter_++));
    fs::remove_all(dir_);
    EngineOptions eo;
    eo.dir = dir_.string();
    eo.sync = SyncMode::kNone;
    auto engine = Engine::Open(eo);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
    // As serve does: the clock's ceiling lives in the engine and the node driver renews it.
    ceiling_ = std::make_unique<cluster::CeilingStore>(engine_.get(), kMaxClockOffsetMsDefault);
    auto clock = HybridClock::Open(&physical_, ceiling_.get());
    EXPECT_TRUE(clock.ok()) << clock.status().ToString();
    clock_ = std::move(clock).value();
    ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.node.name = name;
    so.node.rf = rf;
    so.node.seeds = seeds;
    so.node.default_w = 1;
    so.node.default_r = 1;
    so.idle_connection_timeout_ms = idle_timeout_ms;
    auto server = Server::Create(so, engine_.get(), clock_.get(), nullptr, ceiling_.get());
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    thread_ = std::thread([this]() { run_status_ = server_->Run(); });
  }
  ~Node() {
    Stop().IgnoreError();
    server_.reset();
    clock_.reset();
    ceiling_.reset();
    engine_.reset();
    fs::remove_all(dir_);
  }
  // Returns Run()'s status.
  Status Stop() {
    if (thread_.joinable()) {
      server_->Stop();
      thread_.join();
    }
    return run_status_;
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  int port() const { return server_->port(); }

 private:
  static inline std::atomic<int> counter_{0};
  fs::path dir_;
  SystemClock physical_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<cluster::CeilingStore> ceiling_;
  std::unique_ptr<HybridClock> clock_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  Status run_status_;
};

ClientOptions Options(const std::string& endpoint) {
  ClientOptions o;
  o.endpoints = {endpoint};
  o.timeout_ms = 5000;
  return o;
}

// A port with nothing listening on it (bound, then closed).
int DeadPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// A raw TCP connection for sending arbitrary bytes.
int RawConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  return fd;
}

// Waits up to `timeout` for the server to close `fd`; true if it did.
bool ClosedByPeer(int fd, milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  char buf[4096];
  while (SteadyClock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) return true;
    }
  }
  return false;
}

void ExpectServesHere(const Node& node, const std::string& key);

// A Client owns its thread's KJ event loop, so each extra client runs on a thread of its own.
template <typename Fn>
void OnOwnThread(Fn fn) {
  std::thread t(fn);
  t.join();
}

void ExpectServes(const Node& node, const std::string& key) {
  OnOwnThread([&]() { ExpectServesHere(node, key); });
}

void ExpectServesHere(const Node& node, const std::string& key) {
  Client c(Options(node.endpoint()));
  auto put = c.Put(key, "still-here");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  auto got = c.Get(key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->found);
  ASSERT_TRUE(got->version.has_value());
  EXPECT_EQ(got->version->value, "still-here");
}

// Runs `fn(api, wait_scope)` on a fresh thread with its own KJ loop and a raw capnp connection.
template <typename Fn>
void WithRawApi(int port, Fn fn) {
  std::thread t([&]() {
    auto io = kj::setupAsyncIo();
    auto stream = io.provider->getNetwork()
                      .parseAddress("127.0.0.1", port)
                      .wait(io.waitScope)
                      ->connect()
                      .wait(io.waitScope);
    capnp::TwoPartyClient client(*stream);
    auto api = client.bootstrap().castAs<wire::Bootstrap>().clientRequest().send().getClient();
    fn(api, io.waitScope);
  });
  t.join();
}

TEST(Server, PutGetDeleteRoundTrip) {
  // Goal: put, get, delete and get-after-delete behave as the client contract says.
  Node node;
  Client c(Options(node.endpoint()));
  auto put = c.Put("k1", "hello");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_GT(put->timestamp, 0u);
  auto got = c.Get("k1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->found);
  EXPECT_EQ(got->version->value, "hello");
  EXPECT_EQ(got->version->timestamp, put->timestamp);
  auto missing = c.Get("nosuchkey");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->found);
  auto del = c.Delete("k1");
  ASSERT_TRUE(del.ok()) << del.status().ToString();
  EXPECT_GT(del->timestamp, put->timestamp);
  auto after = c.Get("k1");
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->found);
  EXPECT_TRUE(node.Stop().ok());
}

TEST(Server, OneMebibyteValueRoundTrips) {
  // Goal: a value at the 1 MiB limit is stored and read back byte for byte.
  Node node;
  Client c(Options(node.endpoint()));
  std::string value(kValueBytesMax, '\0');
  std::mt19937 rng(7);
  for (auto& ch : value) ch = static_cast<char>(rng());
  ASSERT_TRUE(c.Put("big", value).ok());
  auto got = c.Get("big");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->found);
  EXPECT_TRUE(got->version->value == value);
}

TEST(Server, RejectsOversizeAndEmptyInputAndKeepsServing) {
  // Goal: an empty key, a key over 64 KiB and a value over 1 MiB each get kInvalidArgument with
  // a message naming the limit; the node keeps serving.
  Node node;
  Client c(Options(node.endpoint()));
  auto empty = c.Put("", "x");
  EXPECT_EQ(empty.status().code(), ErrorCode::kInvalidArgument) << empty.status().ToString();
  auto long_key = c.Put(std::string(kKeyBytesMax + 1, 'k'), "x");
  EXPECT_EQ(long_key.status().code(), ErrorCode::kInvalidArgument);
  auto big = c.Put("k", std::string(kValueBytesMax + 1, 'v'));
  EXPECT_EQ(big.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("exceeds"), std::string::npos) << big.status().message();
  auto get_empty = c.Get("");
  EXPECT_EQ(get_empty.status().code(), ErrorCode::kInvalidArgument);
  ExpectServes(node, "after-bad-input");
}

TEST(Server, MultiPutAndMultiGet) {
  // Goal: batches fan out to single requests; each entry succeeds or fails on its own; an
  // oversize batch is refused as a whole.
  Node node;
  WithRawApi(node.port(), [](wire::ClientApi::Client& api, kj::WaitScope& ws) {
    auto put = api.multiPutRequest();
    auto entries = put.initEntries(3);
    for (int i = 0; i < 3; ++i) {
      std::string k = StrCat("mk", i), v = StrCat("mv", i);
      entries[i].setKey(kj::arrayPtr(reinterpret_cast<const kj::byte*>(k.data()), k.size()));
      entries[i].setValue(kj::arrayPtr(reinterpret_cast<const kj::byte*>(v.data()), v.size()));
    }
    entries[2].setKey(capnp::Data::Reader());  // empty key: this entry alone fails
    auto put_reply = put.send().wait(ws);
    ASSERT_EQ(put_reply.getResults().size(), 3u);
    EXPECT_TRUE(put_reply.getResults()[0].isVersion());
    EXPECT_TRUE(put_reply.getResults()[1].isVersion());
    ASSERT_TRUE(put_reply.getResults()[2].isError());
    EXPECT_EQ(put_reply.getResults()[2].getError().getCode(),
              static_cast<uint16_t>(ErrorCode::kInvalidArgument));
    EXPECT_GT(put_reply.getSession().size(), 0u);

    auto get = api.multiGetRequest();
    auto keys = get.initKeys(3);
    for (int i = 0; i < 3; ++i) {
      std::string k = i == 2 ? "absent" : StrCat("mk", i);
      keys.set(i, kj::arrayPtr(reinterpret_cast<const kj::byte*>(k.data()), k.size()));
    }
    auto get_reply = get.send().wait(ws);
    auto results = get_reply.getResults();
    ASSERT_EQ(results.size(), 3u);
    ASSERT_TRUE(results[0].isResult() && results[0].getResult().isFound());
    auto v = results[0].getResult().getFound().getValue();
    EXPECT_EQ(std::string(v.asChars().begin(), v.size()), "mv0");
    EXPECT_TRUE(results[1].getResult().isFound());
    EXPECT_TRUE(results[2].getResult().isAbsent());

    auto huge = api.multiGetRequest();
    huge.initKeys(kBatchKeysMax + 1);
    try {
      huge.send().wait(ws);
      ADD_FAILURE() << "oversize batch accepted";
    } catch (const kj::Exception& e) {
      EXPECT_EQ(rpc::FromException(e).code(), ErrorCode::kInvalidArgument);
    }

    // 17 x 1 MiB: over kBatchBytesMax by one value. Refused with the limit named, and the
    // connection stays usable (it used to be reset).
    auto heavy = api.multiPutRequest();
    auto heavy_entries = heavy.initEntries(17);
    const std::string value(kValueBytesMax, 'x');
    for (unsigned i = 0; i < 17; ++i) {
      std::string k = StrCat("heavy", i);
      heavy_entries[i].setKey(kj::arrayPtr(reinterpret_cast<const kj::byte*>(k.data()), k.size()));
      heavy_entries[i].setValue(
          kj::arrayPtr(reinterpret_cast<const kj::byte*>(value.data()), value.size()));
    }
    try {
      heavy.send().wait(ws);
      ADD_FAILURE() << "a 17 MiB batch was accepted";
    } catch (const kj::Exception& e) {
      Status s = rpc::FromException(e);
      EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.ToString();
      EXPECT_NE(s.message().find(std::to_string(kBatchBytesMax)), std::string::npos)
          << s.ToString();
    }
    auto again = api.multiGetRequest();
    again.initKeys(1).set(0, kj::arrayPtr(reinterpret_cast<const kj::byte*>("mk0"), 3));
    EXPECT_EQ(again.send().wait(ws).getResults().size(), 1u);
  });
}

TEST(Server, RandomBytesOnThePortCloseThatConnectionOnly) {
  // Goal: garbage and a malformed frame (a segment table claiming a huge message) get the
  // connection closed; the node keeps serving other clients.
  Node node;
  int fd = RawConnect(node.port());
  std::string junk(4096, '\0');
  std::mt19937 rng(1);
  for (auto& ch : junk) ch = static_cast<char>(rng());
  ASSERT_EQ(write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  EXPECT_TRUE(ClosedByPeer(fd, milliseconds(5000)));
  close(fd);

  // One segment whose size claims ~4 GiB words: over the traversal limit, refused unread.
  fd = RawConnect(node.port());
  uint32_t header[2] = {0, 0xfffffff0u};
  ASSERT_EQ(write(fd, header, sizeof(header)), static_cast<ssize_t>(sizeof(header)));
  EXPECT_TRUE(ClosedByPeer(fd, milliseconds(5000)));
  close(fd);
  ExpectServes(node, "after-garbage");
}

TEST(Server, ClientDisconnectingMidCallDoesNotHurtOthers) {
  // Goal: clients that drop their connection with calls outstanding (including a 1 MiB put in
  // transit) leave the node serving everyone else.
  Node node;
  for (int round = 0; round < 3; ++round) {
    WithRawApi(node.port(), [](wire::ClientApi::Client& api, kj::WaitScope& ws) {
      std::string value(kValueBytesMax, 'x');
      std::vector<kj::Promise<void>> calls;
      for (int i = 0; i < 8; ++i) {
        auto req = api.putRequest();
        std::string k = StrCat("drop", i);
        req.setKey(kj::arrayPtr(reinterpret_cast<const kj::byte*>(k.data()), k.size()));
        req.setValue(kj::arrayPtr(reinterpret_cast<const kj::byte*>(value.data()), value.size()));
        calls.push_back(req.send().ignoreResult());
      }
      // Leave with the calls outstanding: the connection closes when this thread's loop ends.
      ws.poll();
    });
  }
  ExpectServes(node, "after-disconnects");
}

TEST(Server, SilentClientIsClosedAfterIdleTimeout) {
  // Goal: a client that connects and sends nothing is disconnected after the idle timeout, and
  // a client with calls in flight is not.
  Node node(/*idle_timeout_ms=*/300);
  int fd = RawConnect(node.port());
  auto start = SteadyClock::now();
  EXPECT_TRUE(ClosedByPeer(fd, milliseconds(5000)));
  EXPECT_GE(SteadyClock::now() - start, milliseconds(250));
  close(fd);
  ExpectServes(node, "after-silent-client");
}

TEST(Server, TwoThousandConcurrentOutstandingRequests) {
  // Goal: 2000 calls outstanding at once on one connection all complete without error.
  Node node;
  Client c(Options(node.endpoint()));
  std::atomic<int> ok{0}, failed{0};
  std::string first_error;
  for (int i = 0; i < 2000; ++i) {
    auto done = [&](const Status& s) {
      if (s.ok()) {
        ++ok;
      } else if (failed++ == 0) {
        first_error = s.ToString();
      }
    };
    if (i % 2 == 0) {
      c.StartPut(StrCat("c", i), std::string(1024, 'v'), {},
                 [done](Result<Version> r) { done(r.status()); });
    } else {
      c.StartGet(StrCat("c", i - 1), {}, [done](Result<ReadReply> r) { done(r.status()); });
    }
  }
  c.Wait();
  EXPECT_EQ(ok.load(), 2000) << first_error;
  EXPECT_EQ(failed.load(), 0) << first_error;
}

TEST(Server, ThreeNodesReplicateOverPeerLinks) {
  // Goal: three nodes (rf=3) find each other through a seed and replicate over the peer links: a
  // W=all write through one node is read with R=all through another; after one node stops,
  // W=all fails (not enough replicas) while W=2 still succeeds.
  auto n1 = std::make_unique<Node>(kIdleConnectionTimeoutMs, "n1", 3);
  auto n2 = std::make_unique<Node>(kIdleConnectionTimeoutMs, "n2", 3,
                                   std::vector<std::string>{n1->endpoint()});
  auto n3 = std::make_unique<Node>(kIdleConnectionTimeoutMs, "n3", 3,
                                   std::vector<std::string>{n1->endpoint()});
  Client c1(Options(n1->endpoint()));
  CallOptions all;
  all.consistency = cluster::Consistency::All();
  all.timeout_ms = 1000;
  Status last;
  auto deadline = SteadyClock::now() + std::chrono::seconds(15);
  while (SteadyClock::now() < deadline) {  // until gossip has spread the membership
    auto put = c1.Put("rep", "v3", all);
    last = put.status();
    if (put.ok()) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(last.ok()) << last.ToString();
  OnOwnThread([&]() {
    Client c2(Options(n2->endpoint()));
    auto got = c2.Get("rep", all);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(got->found);
    EXPECT_EQ(got->version->value, "v3");
  });
  EXPECT_TRUE(n3->Stop().ok());
  CallOptions two;
  two.consistency = cluster::Consistency::Number(2);
  two.timeout_ms = 2000;
  auto put2 = c1.Put("rep2", "v", two);
  EXPECT_TRUE(put2.ok()) << put2.status().ToString();
  auto put_all = c1.Put("rep3", "v", all);
  EXPECT_FALSE(put_all.ok());
}

TEST(Client, FailsOverToTheNextEndpoint) {
  // Goal: with the first endpoint down, calls go to the second one and succeed.
  Node node;
  ClientOptions o;
  o.endpoints = {"127.0.0.1:" + std::to_string(DeadPort()), node.endpoint()};
  o.timeout_ms = 3000;
  Client c(o);
  auto put = c.Put("fo", "v");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(c.endpoint(), node.endpoint());
  auto got = c.Get("fo");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->found);
}

// A socket that listens but never accepts or answers: what a SIGSTOPped node looks like to a
// client (the kernel completes the handshake from its backlog).
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { close(fd_); }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(Client, SkipsAnEndpointThatAcceptsButNeverAnswers) {
  // Goal: a first endpoint that accepts connections but answers nothing (a paused node) costs
  // one probe, not the call's deadline: the call succeeds through the next endpoint in time.
  Node node;
  SilentListener silent;
  {
    ClientOptions o;
    o.endpoints = {silent.endpoint(), node.endpoint()};
    o.timeout_ms = 5000;
    Client c(o);  // one Client per thread at a time: each owns the thread's KJ event loop
    const auto start = SteadyClock::now();
    auto put = c.Put("paused-first", "v");
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    EXPECT_EQ(c.endpoint(), node.endpoint());
    EXPECT_LT(SteadyClock::now() - start, milliseconds(o.timeout_ms));  // not the call's deadline
  }
  ClientOptions only_silent;
  only_silent.endpoints = {silent.endpoint()};
  Client d(only_silent);
  auto got = d.Get("paused-first");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(got.status().message().find("did not answer"), std::string::npos)
      << got.status().ToString();
}

TEST(Client, AllEndpointsDownIsUnavailable) {
  // Goal: with every endpoint down the call fails fast with kUnavailable and a useful message.
  ClientOptions o;
  o.endpoints = {"127.0.0.1:" + std::to_string(DeadPort())};
  Client c(o);
  auto got = c.Get("k");
  EXPECT_EQ(got.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(got.status().message().find("cannot connect"), std::string::npos);
}

TEST(Client, SessionTokenRoundTrip) {
  // Goal: the token returned by a write, handed to another client (as --session FILE does),
  // carries the session: that client reads the write, and its token keeps growing.
  Node node;
  Client a(Options(node.endpoint()));
  EXPECT_TRUE(a.session().empty());
  auto put = a.Put("sess", "v1");
  ASSERT_TRUE(put.ok());
  std::string token = a.session();
  EXPECT_FALSE(token.empty());
  OnOwnThread([&]() {
    Client b(Options(node.endpoint()));
    b.set_session(token);
    auto got = b.Get("sess");
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(got->found);
    EXPECT_EQ(got->version->value, "v1");
    EXPECT_FALSE(b.session().empty());
  });
  OnOwnThread([&]() {
    // A garbage token is rejected, not trusted.
    Client bad(Options(node.endpoint()));
    bad.set_session("\xff garbage token");
    auto rejected = bad.Get("sess");
    EXPECT_EQ(rejected.status().code(), ErrorCode::kInvalidArgument)
        << rejected.status().ToString();
  });
}

TEST(Server, StatusReportsNodeAndKeys) {
  // Goal: the admin status call reports the node's identity, sync mode and membership.
  Node node;
  Client c(Options(node.endpoint()));
  ASSERT_TRUE(c.Put("s1", "v").ok());
  auto st = c.Status();
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->name, "n1");
  EXPECT_EQ(st->id, NodeIdFromName("n1"));
  EXPECT_EQ(st->sync_mode, "none");
  EXPECT_GE(st->members.size(), 1u);
}

TEST(Server, StopWithConnectionsOpenReturnsOk) {
  // Goal: Stop() with idle and busy client connections open makes Run() return Ok promptly.
  Node node;
  Client c(Options(node.endpoint()));
  ASSERT_TRUE(c.Put("x", "y").ok());
  int raw = RawConnect(node.port());
  auto start = SteadyClock::now();
  EXPECT_TRUE(node.Stop().ok());
  EXPECT_LT(SteadyClock::now() - start, milliseconds(5000));
  EXPECT_TRUE(ClosedByPeer(raw, milliseconds(2000)));
  close(raw);
  auto after = c.Get("x");
  EXPECT_EQ(after.status().code(), ErrorCode::kUnavailable) << after.status().ToString();
}

TEST(Server, OneMebibytePutReplyIsUnderOneKibibyte) {
  // Goal: a put's reply carries the written version without the value: for a 1 MiB put the reply
  // message is under 1 KiB, while a get of the same key does bring the 1 MiB back.
  Node node;
  WithRawApi(node.port(), [](wire::ClientApi::Client& api, kj::WaitScope& ws) {
    std::string value(kValueBytesMax, 'v');
    auto put = api.putRequest();
    put.setKey(rpc::BytesToWire("big-put"));
    put.setValue(rpc::BytesToWire(value));
    auto put_reply = put.send().wait(ws);
    uint64_t put_bytes = put_reply.totalSize().wordCount * sizeof(capnp::word);
    EXPECT_LT(put_bytes, 1024u);
    EXPECT_GT(put_reply.getVersion().getTimestamp(), 0u);
    EXPECT_EQ(put_reply.getVersion().getValue().size(), 0u);

    auto get = api.getRequest();
    get.setKey(rpc::BytesToWire("big-put"));
    auto get_reply = get.send().wait(ws);
    EXPECT_GT(get_reply.totalSize().wordCount * sizeof(capnp::word), kValueBytesMax);
  });
}

// A GetResult built by hand, as a node (or a corrupted frame) might send it.
struct HandBuiltGetResult {
  capnp::MallocMessageBuilder message;
  wire::GetResult::Builder result = message.initRoot<wire::GetResult>();
};

void FillVersion(wire::Version::Builder v, uint64_t node, uint64_t counter, bool tombstone) {
  v.setTimestamp(HlcMake(1'700'000'000'000, 0));
  v.setWriter(7);
  v.setTombstone(tombstone);
  v.setValue(rpc::BytesToWire(tombstone ? std::string() : std::string("value")));
  auto vv = v.initVv(1);
  vv[0].setNode(node);
  vv[0].setCounter(counter);
}

TEST(ClientDecode, CorruptGetReplyIsAnErrorNotFound) {
  // Goal: a get reply whose version does not decode (a version-vector entry of 0) is kInternal,
  // never `found`; so is a "found" tombstone. Well-formed found, notFound and absent still decode.
  {
    HandBuiltGetResult corrupt;
    FillVersion(corrupt.result.initFound(), /*node=*/7, /*counter=*/0, false);
    auto r = rpc::ReadReplyFromWire(corrupt.result.asReader());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInternal) << r.status().ToString();
  }
  {
    HandBuiltGetResult corrupt;
    FillVersion(corrupt.result.initNotFound(), /*node=*/0, /*counter=*/3, true);
    auto r = rpc::ReadReplyFromWire(corrupt.result.asReader());
    EXPECT_EQ(r.status().code(), ErrorCode::kInternal) << r.status().ToString();
  }
  {
    HandBuiltGetResult contradictory;
    FillVersion(contradictory.result.initFound(), 7, 1, /*tombstone=*/true);
    auto r = rpc::ReadReplyFromWire(contradictory.result.asReader());
    EXPECT_EQ(r.status().code(), ErrorCode::kInternal) << r.status().ToString();
  }
  {
    HandBuiltGetResult good;
    FillVersion(good.result.initFound(), 7, 1, false);
    auto r = rpc::ReadReplyFromWire(good.result.asReader());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->found);
    ASSERT_TRUE(r->version.has_value());
    EXPECT_EQ(r->version->value, "value");
  }
  {
    HandBuiltGetResult deleted;
    FillVersion(deleted.result.initNotFound(), 7, 2, true);
    auto r = rpc::ReadReplyFromWire(deleted.result.asReader());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(r->found);
    ASSERT_TRUE(r->version.has_value());
    EXPECT_TRUE(r->version->tombstone);
  }
  {
    HandBuiltGetResult absent;
    absent.result.setAbsent();
    auto r = rpc::ReadReplyFromWire(absent.result.asReader());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(r->found);
    EXPECT_FALSE(r->version.has_value());
  }
}

TEST(Client, GarbageSessionTokenIsRefusedWithInvalidArgument) {
  // Goal: a session token of 200 random bytes is refused by a real node with kInvalidArgument
  // naming the session, for a get, a put and pipelined gets; it is never dropped or replaced.
  Node node;
  std::string garbage(200, '\0');
  std::mt19937 rng(200);
  for (auto& ch : garbage) ch = static_cast<char>(rng());
  garbage[0] = '\x7f';  // never the token's magic byte
  Client c(Options(node.endpoint()));
  c.set_session(garbage);
  auto got = c.Get("k");
  EXPECT_EQ(got.status().code(), ErrorCode::kInvalidArgument) << got.status().ToString();
  EXPECT_NE(got.status().message().find("session"), std::string::npos) << got.status().message();
  auto put = c.Put("k", "v");
  EXPECT_EQ(put.status().code(), ErrorCode::kInvalidArgument) << put.status().ToString();
  EXPECT_NE(put.status().message().find("session"), std::string::npos) << put.status().message();
  std::vector<Status> pipelined;
  for (int i = 0; i < 3; ++i) {
    c.StartGet(StrCat("k", i), {}, [&](Result<ReadReply> r) { pipelined.push_back(r.status()); });
  }
  c.Wait();
  ASSERT_EQ(pipelined.size(), 3u);
  for (const Status& s : pipelined) {
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.ToString();
  }
  EXPECT_TRUE(c.session() == garbage);
}

TEST(Errors, EveryCodeRoundTripsThroughItsWireNumber) {
  // Goal: every causeway::ErrorCode has the schema enum's number of the same value, and survives
  // both wire forms (Error value, exception prefix "causeway:E<n>:"); unknown numbers and the old
  // name-only prefix are not trusted.
  auto schema = capnp::Schema::from<wire::ErrorCode>();
  ASSERT_EQ(schema.getEnumerants().size(), static_cast<size_t>(ErrorCode::kInternal) + 1);
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i) {
    auto code = static_cast<ErrorCode>(i);
    uint16_t number = rpc::ErrorCodeToWire(code);
    EXPECT_EQ(number, static_cast<uint16_t>(i));
    EXPECT_EQ(schema.getEnumerants()[number].getOrdinal(), number);
    if (code == ErrorCode::kOk) {
      EXPECT_EQ(rpc::ErrorCodeFromWire(number), ErrorCode::kInternal);  // never sent
      continue;
    }
    EXPECT_EQ(rpc::ErrorCodeFromWire(number), code);

    capnp::MallocMessageBuilder message;
    auto error = message.initRoot<wire::Error>();
    rpc::ErrorToWire(Status(code, "why: this"), error);
    EXPECT_EQ(error.getCode(), number);
    Status from_value = rpc::ErrorFromWire(error.asReader());
    EXPECT_EQ(from_value.code(), code);
    EXPECT_EQ(from_value.message(), "why: this");

    kj::Exception e = rpc::ToException(Status(code, "why: this"));
    std::string description = e.getDescription().cStr();
    std::string expected_prefix = "causeway:E" + std::to_string(number) + ":";
    EXPECT_EQ(description.rfind(expected_prefix, 0), 0u) << description;
    kj::Exception remote(e.getType(), "x", 1, kj::str("remote exception: ", e.getDescription()));
    Status from_exception = rpc::FromException(remote);
    EXPECT_EQ(from_exception.code(), code) << description;
    EXPECT_EQ(from_exception.message(), "why: this");
  }
  EXPECT_EQ(rpc::ErrorCodeFromWire(999), ErrorCode::kInternal);
  EXPECT_EQ(rpc::FromException(KJ_EXCEPTION(FAILED, "causeway:E999:Future: x")).code(),
            ErrorCode::kInternal);
  // The number decides, not the name.
  EXPECT_EQ(rpc::FromException(KJ_EXCEPTION(FAILED, "causeway:E6:Timeout: x")).code(),
            ErrorCode::kCorruption);
  // Text alone is never recognised: the old name-only form, or the prefix inside a message.
  EXPECT_EQ(rpc::FromException(KJ_EXCEPTION(FAILED, "causeway:Unavailable: x")).code(),
            ErrorCode::kInternal);
  EXPECT_EQ(rpc::FromException(KJ_EXCEPTION(FAILED, "disk says causeway:E2:Unavailable: x")).code(),
            ErrorCode::kInternal);
  EXPECT_EQ(rpc::FromException(KJ_EXCEPTION(DISCONNECTED, "causeway:Unavailable: x")).code(),
            ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace causeway
