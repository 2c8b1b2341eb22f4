// The RESP2 gateway against real Redis clients (issue 12, "RESP2 gateway"): a 3-node cluster of
// real `causeway serve --resp-listen` processes on 127.0.5.x, driven by Debian's redis-cli and
// redis-benchmark (redis-tools) and Python's redis client (python3-redis), plus raw sockets for
// malformed frames and a client that hangs up mid-command. Every external program runs with a
// timeout and is killed after it.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "tests/cluster_proc/proc_cluster.h"
#include "tools/internal/process.h"

extern char** environ;

namespace causeway::cluster_proc {
namespace {

using tools::testing::ReadFile;
using tools::testing::RunResult;
using tools::testing::TempDir;
using tools::testing::WriteFile;

constexpr uint64_t kProgramTimeoutMs = 30000;

// Debian's interpreter: python3-redis is installed for it (a pyenv python3 first on PATH would
// not have it).
std::string Python() {
  return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

// Runs `argv` (looked up on PATH) with `stdin_bytes`, killed after `timeout_ms`.
RunResult RunProgram(const std::vector<std::string>& argv, const std::string& stdin_bytes = "",
                     uint64_t timeout_ms = kProgramTimeoutMs) {
  TempDir io;
  const std::string in = io.path() + "/in", out = io.path() + "/out", err = io.path() + "/err";
  WriteFile(in, stdin_bytes);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> args = argv;
  std::vector<char*> raw;
  raw.reserve(args.size() + 1);
  for (auto& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  pid_t pid = -1;
  RunResult result;
  if (::posix_spawnp(&pid, raw[0], &actions, nullptr, raw.data(), environ) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    result.err = "cannot start " + argv[0];
    return result;
  }
  posix_spawn_file_actions_destroy(&actions);
  const uint64_t deadline = tools::MonotonicMs() + timeout_ms;
  int status = 0;
  while (true) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      break;
    }
    if (tools::MonotonicMs() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  result.out = ReadFile(out);
  result.err = ReadFile(err);
  return result;
}

struct RespNode {
  Node node;
  std::string resp_host;
  int resp_port = 0;
};

// Three nodes, rf=3, each with a RESP listener; node i on 127.0.5.<first_host + i>.
class RespCluster : public ::testing::Test {
 protected:
  void Start(int first_host, const std::vector<std::string>& extra = {}) {
    std::string seed;
    for (int i = 0; i < 3; ++i) {
      auto n = std::make_unique<RespNode>();
      const std::string ip = "127.0.5." + std::to_string(first_host + i);
      n->node.name = std::string(1, static_cast<char>('a' + i));
      n->node.address = ip + ":" + std::to_string(*tools::FreePort(ip));
      n->resp_host = ip;
      n->resp_port = *tools::FreePort(ip);
      if (seed.empty()) seed = n->node.address;
      n->node.log = dir_.path() + "/" + n->node.name + ".log";
      n->node.flags = {"--node-id",     n->node.name,
                       "--listen",      n->node.address,
                       "--data-dir",    dir_.path() + "/" + n->node.name,
                       "--seeds",       seed,
                       "--rf",          "3",
                       "--resp-listen", ip + ":" + std::to_string(n->resp_port)};
      n->node.flags.insert(n->node.flags.end(), extra.begin(), extra.end());
      nodes_.push_back(std::move(n));
    }
    for (auto& n : nodes_) n->node.process.Start(n->node.flags, n->node.log);
    for (auto& n : nodes_) {
      ASSERT_TRUE(tools::testing::WaitServing(n->node.address, kFormMs)) << n->node.name;
      ASSERT_TRUE(tools::testing::WaitMembersUp(n->node.address, 3, kFormMs)) << n->node.name;
    }
  }
  void TearDown() override {
    for (auto& n : nodes_) {
      if (n->node.process.running()) n->node.process.Signal(SIGKILL, 10000);
    }
    if (!HasFailure()) return;
    for (auto& n : nodes_) {
      std::cerr << "---- tail of node " << n->node.name << " log ----\n"
                << Tail(ReadFile(n->node.log), kLogTailLines);
    }
  }
  RunResult Cli(size_t i, std::vector<std::string> args, const std::string& in = "") {
    std::vector<std::string> argv = {"redis-cli", "-h", nodes_[i]->resp_host, "-p",
                                     std::to_string(nodes_[i]->resp_port)};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, in);
  }
  // Runs a Python script with `redis` imported and HOST, PORTS (list) defined.
  RunResult Py(const std::string& body) {
    std::string script = "import redis, socket, sys, time\nHOST=[";
    for (auto& n : nodes_) script += "'" + n->resp_host + "',";
    script += "]\nPORT=[";
    for (auto& n : nodes_) script += std::to_string(n->resp_port) + ",";
    script += "]\n" + body + "\nprint('py-ok')\n";
    return RunProgram({Python(), "-"}, script);
  }

  TempDir dir_;
  std::vector<std::unique_ptr<RespNode>> nodes_;
};

// Goal: redis-cli's everyday commands work through any node: a write through one is read
// through another; errors are errors; the introspection redis tools ask for is answered.
TEST_F(RespCluster, RedisCliCommands) {
  Start(1);
  EXPECT_EQ(Cli(0, {"PING"}).out, "PONG\n");
  EXPECT_EQ(Cli(0, {"SET", "foo", "bar"}).out, "OK\n");
  EXPECT_EQ(Cli(1, {"GET", "foo"}).out, "bar\n");
  EXPECT_EQ(Cli(2, {"MSET", "a", "1", "b", "2"}).out, "OK\n");
  EXPECT_EQ(Cli(0, {"MGET", "a", "b", "nope"}).out, "1\n2\n\n");
  EXPECT_EQ(Cli(0, {"EXISTS", "a", "b", "nope", "a"}).out, "3\n");
  EXPECT_EQ(Cli(1, {"DEL", "foo", "nope"}).out, "1\n");
  EXPECT_EQ(Cli(2, {"GET", "foo"}).out, "\n");
  EXPECT_EQ(Cli(0, {"ECHO", "hi there"}).out, "hi there\n");
  EXPECT_EQ(Cli(0, {"SELECT", "0"}).out, "OK\n");
  EXPECT_NE(Cli(0, {"SELECT", "1"}).out.find("ERR"), std::string::npos);
  EXPECT_NE(Cli(0, {"NOSUCHCOMMAND", "x"}).out.find("ERR unknown command 'NOSUCHCOMMAND'"),
            std::string::npos);
  EXPECT_NE(Cli(0, {"SET", "t", "v", "EX", "10"}).out.find("not supported"), std::string::npos);
  EXPECT_EQ(Cli(0, {"GET", "t"}).out, "\n") << "a SET EX must write nothing";
  EXPECT_EQ(Cli(0, {"SET", "nx", "1", "NX"}).out, "OK\n");
  EXPECT_EQ(Cli(0, {"SET", "nx", "2", "NX"}).out, "\n");
  EXPECT_EQ(Cli(0, {"SET", "nx", "3", "XX", "GET"}).out, "1\n");
  EXPECT_EQ(Cli(1, {"GET", "nx"}).out, "3\n");
  EXPECT_NE(Cli(0, {"INFO", "server"}).out.find("redis_version:"), std::string::npos);
  EXPECT_NE(Cli(0, {"INFO"}).out.find("# Causeway"), std::string::npos);
  EXPECT_EQ(Cli(0, {"CONFIG", "GET", "appendonly"}).out, "appendonly\nyes\n");
  EXPECT_NE(Cli(0, {"HELLO", "3"}).out.find("NOPROTO"), std::string::npos);
  EXPECT_NE(Cli(0, {"HELLO", "2"}).out.find("proto"), std::string::npos);
  EXPECT_NE(Cli(0, {"COMMAND", "COUNT"}).out, "0\n");
  EXPECT_NE(Cli(0, {"COMMAND", "DOCS", "get"}).out.find("summary"), std::string::npos);
  const int64_t keys = std::stoll(Cli(0, {"DBSIZE"}).out);
  EXPECT_GE(keys, 3);  // a, b, nx (an estimate: tombstones and probes may count too)
  // Binary-safe values through stdin (-x): every byte value.
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  EXPECT_EQ(Cli(0, {"-x", "SET", "bin"}, bytes).out, "OK\n");
  EXPECT_EQ(Cli(1, {"GET", "bin"}).out, bytes + "\n");
}

// Goal: Python's redis client: binary and 1 MiB values, an oversize value refused with nothing
// stored, read-your-writes through one connection (a session) across many writes, pipelines,
// MGET/MSET, the per-connection consistency command; then malformed frames and a client hanging
// up in the middle of a 1 MiB command harm nobody: PING still works.
TEST_F(RespCluster, PythonClientAndMalformedFrames) {
  Start(4);
  RunResult r = Py(R"PY(
r = redis.Redis(host=HOST[2], port=PORT[2])
v = b"\x00\x01binary\r\n" * 1000
r.set("py", v); assert r.get("py") == v
big = bytes(range(256)) * 4096
r.set("big", big); assert redis.Redis(host=HOST[0], port=PORT[0]).get("big") == big
try:
    r.set("toobig", big + b"x"); sys.exit("a value over 1 MiB was accepted")
except redis.ResponseError as e:
    assert "exceeds the limit" in str(e), str(e)
assert r.get("toobig") is None, "a value over 1 MiB was stored"
assert r.ping()
for i in range(200):
    r.set("ryw", str(i)); assert r.get("ryw") == str(i).encode()
assert r.execute_command("CAUSEWAY.CONSISTENCY", "all", "quorum") in (b"OK", "OK", True)
assert r.execute_command("CAUSEWAY.CONSISTENCY") == [b"all", b"quorum"]
r.set("strong", "1"); assert r.get("strong") == b"1"
try:
    r.execute_command("CAUSEWAY.CONSISTENCY", "9", "1"); sys.exit("r=9 accepted with rf=3")
except redis.ResponseError:
    pass
p = r.pipeline(transaction=False)
for i in range(100): p.set(f"pl{i}", i)
for i in range(100): p.get(f"pl{i}")
out = p.execute()
assert out[:100] == [True] * 100 and out[100:] == [str(i).encode() for i in range(100)], out
assert r.mget([f"pl{i}" for i in range(100)]) == [str(i).encode() for i in range(100)]
r.mset({"m1": "x", "m2": "y"}); assert r.mget("m1", "m2", "m3") == [b"x", b"y", None]
assert r.delete("m1", "m2", "m3") == 2 and r.exists("m1", "m2") == 0
assert r.client_setname("tester") and r.client_getname() in ("tester", b"tester")
for i in range(17): r.set(f"mb{i}", big)
try:
    r.mget([f"mb{i}" for i in range(17)]); sys.exit("an MGET reply over 16 MiB was sent")
except redis.ResponseError as e:
    assert "exceeds the limit" in str(e), str(e)
assert r.mget([f"mb{i}" for i in range(16)]) == [big] * 16

def raw(host, port, data, want_reply=True):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(data)
    got = b""
    try:
        while want_reply:
            chunk = s.recv(65536)
            if not chunk: break
            got += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return got
got = raw(HOST[0], PORT[0], b"PING\r\n*3\r\n$3\r\nSET\r\n$999999999999\r\nx\r\n")
assert got.startswith(b"+PONG\r\n-ERR Protocol error: invalid bulk length"), got
got = raw(HOST[0], PORT[0], b"garbage\r\n*-5\r\n$x\r\n")
assert got.startswith(b"-ERR unknown command 'garbage'"), got
assert b"-ERR Protocol error" in got, got
got = raw(HOST[0], PORT[0], b"*2\r\n*1\r\n$4\r\nPING\r\n")
assert got.startswith(b"-ERR Protocol error: expected '$', got '*'"), got
# A client that hangs up half way through a 1 MiB SET, and one with commands in flight.
raw(HOST[1], PORT[1], b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$1048576\r\n" + b"x" * 500000, False)
raw(HOST[1], PORT[1], b"*3\r\n$3\r\nSET\r\n$3\r\ngone\r\n$1\r\nv\r\n" * 500, False)
assert redis.Redis(host=HOST[1], port=PORT[1]).get("half") is None
for h, p in zip(HOST, PORT):
    assert redis.Redis(host=h, port=p).ping()
)PY");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("py-ok"), std::string::npos) << r.out << r.err;
}

// Goal: redis-benchmark runs PING (inline and multibulk), SET, GET and MSET to completion,
// without and with pipelining (-P 16), and every reply it got was right (it fails on errors).
TEST_F(RespCluster, RedisBenchmark) {
  Start(7);
  for (const std::string pipeline : {"1", "16"}) {
    RunResult r = RunProgram(
        {"redis-benchmark", "-h", nodes_[0]->resp_host, "-p", std::to_string(nodes_[0]->resp_port),
         "-t", "ping,set,get,mset", "-n", "3000", "-c", "10", "-d", "1024", "-P", pipeline, "-q"},
        "", 50000);
    std::string out = r.out;
    for (char& c : out) c = c == '\r' ? '\n' : c;
    for (const char* test :
         {"PING_INLINE: ", "PING_MBULK: ", "SET: ", "GET: ", "MSET (10 keys): "}) {
      EXPECT_NE(out.find(test), std::string::npos) << test << " -P " << pipeline << "\n"
                                                   << out << r.err;
    }
    EXPECT_EQ(out.find("ERR"), std::string::npos) << out;
  }
  // What the benchmark wrote is there, through another node.
  EXPECT_EQ(Cli(1, {"GET", "key:__rand_int__"}).out.size(), 1024u + 1);
}

// Goal: with a password file, nothing but AUTH/HELLO/QUIT runs before AUTH, a wrong password is
// WRONGPASS, the right one (redis-cli -a, python AUTH) unlocks the connection, and an
// unauthenticated peer cannot make the node buffer more than the tiny pre-AUTH limits.
TEST_F(RespCluster, RequirePass) {
  WriteFile(dir_.path() + "/pass", "s3cret\n");
  Start(10, {"--resp-requirepass-file", dir_.path() + "/pass"});
  EXPECT_NE(Cli(0, {"GET", "x"}).out.find("NOAUTH"), std::string::npos);
  RunResult wrong = Cli(0, {"--no-auth-warning", "-a", "wrong", "GET", "x"});
  EXPECT_NE((wrong.out + wrong.err).find("WRONGPASS"), std::string::npos) << wrong.out << wrong.err;
  EXPECT_EQ(Cli(0, {"--no-auth-warning", "-a", "s3cret", "SET", "x", "1"}).out, "OK\n");
  EXPECT_EQ(Cli(1, {"--no-auth-warning", "-a", "s3cret", "GET", "x"}).out, "1\n");
  RunResult r = Py(R"PY(
try:
    redis.Redis(host=HOST[0], port=PORT[0]).get("x"); sys.exit("GET before AUTH worked")
except (redis.AuthenticationError, redis.ResponseError) as e:
    assert "NOAUTH" in str(e) or "uthentication" in str(e), str(e)
assert redis.Redis(host=HOST[0], port=PORT[0], password="s3cret").get("x") == b"1"
assert redis.Redis(host=HOST[0], port=PORT[0], username="default", password="s3cret").ping()
s = socket.create_connection((HOST[0], PORT[0]), timeout=5)
s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n" + b"v" * 100000)
got = b""
try:
    while True:
        c = s.recv(65536)
        if not c: break
        got += c
except (socket.timeout, ConnectionResetError):
    pass
assert got.startswith(b"-ERR Protocol error: invalid bulk length 100000 (at most 512"), got
)PY");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("py-ok"), std::string::npos) << r.out << r.err;
}

// Goal: write and read absorption (connection.h) keeps a connection's sequential semantics:
// pipelined SETs of one key then a GET return the last value, every SET its own +OK in order;
// a GET between two SETs sees the first; options, MSET, DEL and an oversize value are not
// absorbed; INFO counts what was absorbed, and redis-benchmark -P 16 on its one key absorbs.
TEST_F(RespCluster, PipelinedSameKeyAbsorption) {
  Start(41);
  RunResult r = Py(R"PY(
def pipeline(host, port, commands, want):
    # Sends every command in one write, reads until len(want) bytes or 10 s.
    s = socket.create_connection((host, port), timeout=10)
    data = b""
    for c in commands:
        data += b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in c)
    s.sendall(data)
    got = b""
    deadline = time.time() + 10
    while len(got) < len(want) and time.time() < deadline:
        chunk = s.recv(1 << 20)
        if not chunk: break
        got += chunk
    s.close()
    assert got == want, (got[:400], want[:400])

N = 300
pipeline(HOST[0], PORT[0], [[b"SET", b"hot", b"%d" % i] for i in range(1, N + 1)] + [[b"GET", b"hot"]],
         b"+OK\r\n" * N + b"$3\r\n300\r\n")
pipeline(HOST[0], PORT[0], [[b"SET", b"k", b"a"], [b"GET", b"k"], [b"SET", b"k", b"b"], [b"GET", b"k"]],
         b"+OK\r\n$1\r\na\r\n+OK\r\n$1\r\nb\r\n")
pipeline(HOST[1], PORT[1], [[b"SET", b"k", b"b"]] + [[b"GET", b"k"]] * 50 + [[b"set", b"k", b"c"]] + [[b"get", b"k"]] * 50,
         b"+OK\r\n" + b"$1\r\nb\r\n" * 50 + b"+OK\r\n" + b"$1\r\nc\r\n" * 50)
# Not absorbed: options, MSET, DEL, another key in between, an oversize value.
pipeline(HOST[2], PORT[2],
         [[b"SET", b"o", b"1"], [b"SET", b"o", b"2", b"XX", b"GET"], [b"SET", b"o", b"3"], [b"GET", b"o"],
          [b"MSET", b"o", b"4"], [b"SET", b"o", b"5"], [b"GET", b"o"], [b"SET", b"o", b"6"],
          [b"DEL", b"o"], [b"GET", b"o"], [b"SET", b"o", b"7"], [b"SET", b"x", b"y"],
          [b"SET", b"o", b"8"], [b"GET", b"o"]],
         b"+OK\r\n$1\r\n1\r\n+OK\r\n$1\r\n3\r\n+OK\r\n+OK\r\n$1\r\n5\r\n+OK\r\n:1\r\n$-1\r\n"
         b"+OK\r\n+OK\r\n+OK\r\n$1\r\n8\r\n")
s = socket.create_connection((HOST[2], PORT[2]), timeout=10)
s.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1048577\r\n"
          + b"x" * 1048577 + b"\r\n*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n")
got = b""
deadline = time.time() + 10
while got.count(b"\r\n") < 4 and time.time() < deadline:
    chunk = s.recv(65536)
    if not chunk: break
    got += chunk
assert got.startswith(b"+OK\r\n-ERR ") and b"exceeds the limit" in got and got.endswith(b"$1\r\na\r\n"), got
# The counters are per node: node 0 absorbed 299 of the 300 SETs, node 1 98 of the 100 GETs.
info = [redis.Redis(host=h, port=p).info("causeway") for h, p in zip(HOST, PORT)]
assert info[0]["resp_absorbed_sets"] >= 1 and info[1]["resp_absorbed_gets"] >= 1, info
print("absorbed", [(i["resp_absorbed_sets"], i["resp_absorbed_gets"]) for i in info])
)PY");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("py-ok"), std::string::npos) << r.out << r.err;

  // redis-benchmark's one key, 16 SETs per batch on one connection: most of them absorbed.
  RunResult bench = RunProgram(
      {"redis-benchmark", "-h", nodes_[1]->resp_host, "-p", std::to_string(nodes_[1]->resp_port),
       "-t", "set,get", "-n", "3200", "-c", "1", "-P", "16", "-q"},
      "", 50000);
  EXPECT_NE(bench.out.find("GET: "), std::string::npos) << bench.out << bench.err;
  const std::string info = Cli(1, {"INFO", "causeway"}).out;
  auto counter = [&info](const std::string& name) -> int64_t {
    const size_t at = info.find(name + ":");
    return at == std::string::npos ? -1 : std::stoll(info.substr(at + name.size() + 1));
  };
  // 200 batches of 16 each way: at least half of each batch absorbed even if batches split.
  EXPECT_GE(counter("resp_absorbed_sets"), 1600) << info;
  EXPECT_GE(counter("resp_absorbed_gets"), 1600) << info;
}

}  // namespace
}  // namespace causeway::cluster_proc
