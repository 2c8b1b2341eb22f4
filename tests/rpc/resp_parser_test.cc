// Table tests of the RESP2 request parser and the reply encoder (rpc/resp/parser.h, reply.h):
// framing, fragmentation down to one byte per Feed, pipelining, every limit, malformed frames.
#include <gtest/gtest.h>
#include <kj/async.h>

#include <string>
#include <vector>

#include "base/limits.h"
#include "rpc/resp/options.h"
#include "rpc/resp/parser.h"
#include "rpc/resp/reply.h"

namespace causeway::rpc::resp {
namespace {

using Args = std::vector<std::string>;
using namespace std::string_literals;

// Every command `input` holds, fed in pieces of `piece` bytes; `error` gets the parser's error.
std::vector<Args> ParseAll(const std::string& input, size_t piece, std::string* error = nullptr,
                           ParserLimits limits = {}) {
  Parser p(limits);
  std::vector<Args> out;
  Args args;
  for (size_t i = 0; i < input.size(); i += piece) {
    p.Feed(std::string_view(input).substr(i, piece));
    while (true) {
      Parser::Outcome o = p.Next(&args);
      if (o == Parser::Outcome::kCommand) {
        out.push_back(args);
        continue;
      }
      if (o == Parser::Outcome::kError && error != nullptr) *error = p.error();
      if (o == Parser::Outcome::kError) return out;
      break;
    }
  }
  return out;
}

std::string Multibulk(const Args& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

// Goal: multibulk and inline framing give the same argument vectors, whatever the pieces.
TEST(RespParser, ParsesMultibulkAndInlineInAnyFragmentation) {
  const std::string binary("a\0b\r\nc", 6);
  const std::string input = Multibulk({"SET", "k", binary}) + "PING\r\n" + "GET  k\n" +
                            Multibulk({"ECHO", ""}) + "\r\n" + "  \r\n" + "*0\r\n" + "*-1\r\n" +
                            Multibulk({"MGET", "a", "b"});
  const std::vector<Args> want = {
      {"SET", "k", binary}, {"PING"}, {"GET", "k"}, {"ECHO", ""}, {"MGET", "a", "b"}};
  for (size_t piece : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, input.size()}) {
    std::string error;
    EXPECT_EQ(ParseAll(input, piece, &error), want) << "piece " << piece;
    EXPECT_EQ(error, "") << "piece " << piece;
  }
}

// Goal: many pipelined commands in one read all come out, in order.
TEST(RespParser, PipelinedCommandsComeOutInOrder) {
  std::string input;
  for (int i = 0; i < 1000; ++i) input += Multibulk({"SET", "key" + std::to_string(i), "v"});
  auto got = ParseAll(input, input.size());
  ASSERT_EQ(got.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(got[i][1], "key" + std::to_string(i));
}

// Goal: a 1 MiB value fed one byte at a time parses in linear time and intact.
TEST(RespParser, LargeBulkFedByteByByte) {
  std::string value(kValueBytesMax, 'x');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7);
  const std::string input = Multibulk({"SET", "big", value}) + "PING\r\n";
  auto got = ParseAll(input, 1);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0][2], value);
  EXPECT_EQ(got[1], Args{"PING"});
}

// Goal: inline quoting follows Redis (sdssplitargs); unbalanced quotes are a protocol error.
TEST(RespParser, InlineQuoting) {
  Args args;
  ASSERT_TRUE(SplitInline(R"(SET "a b" 'c d' "\x41\n\"")", &args));
  EXPECT_EQ(args, (Args{"SET", "a b", "c d", "A\n\""}));
  ASSERT_TRUE(SplitInline(R"(x 'it\'s')", &args));
  EXPECT_EQ(args, (Args{"x", "it's"}));
  EXPECT_FALSE(SplitInline(R"(SET "open)", &args));
  EXPECT_FALSE(SplitInline(R"(SET "a"b)", &args));
  std::string error;
  EXPECT_TRUE(ParseAll("SET \"open\r\n", 1, &error).empty());
  EXPECT_EQ(error, "Protocol error: unbalanced quotes in request");
}

struct Malformed {
  std::string input;
  std::string error;  // a prefix of the parser's error
};

// Goal: each malformed or oversize frame is a protocol error naming the problem, the commands
// before it still come out, and nothing after it is parsed.
TEST(RespParser, MalformedFramesAreErrors) {
  const std::vector<Malformed> cases = {
      {"*x\r\n", "Protocol error: invalid multibulk length"},
      {"*-5\r\n", "Protocol error: invalid multibulk length -5"},
      {"*1\r\n$x\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$-1\r\n", "Protocol error: invalid bulk length -1"},
      {"*1\r\n:1\r\n", "Protocol error: expected '$', got ':'"},
      {"*1\r\n*1\r\n$1\r\na\r\n", "Protocol error: expected '$', got '*'"},
      {"*1\r\n$1\r\nab\r\n", "Protocol error: expected CRLF after a bulk string"},
      {"*1\n", "Protocol error: expected CRLF"},
      {"*3\r\n$3\r\nSET\r\n$999999999999\r\nx\r\n", "Protocol error: invalid bulk length"},
      {"*" + std::string(40, '1') + "\r\n", "Protocol error: too big multibulk count string"},
      // 19 digits: v * 10 overflowed a long long (UBSan, tests/fuzz/fuzz_resp).
      {"*1111111111111111111\r\n", "Protocol error: invalid multibulk length"},
      {"*1\r\n$1111111111111111111\r\n", "Protocol error: invalid bulk length"},
      {"*" + std::to_string(kRespArgsMax + 1) + "\r\n", "Protocol error: invalid multibulk length"},
      {"*1\r\n$" + std::to_string(kRespBulkBytesMax + 1) + "\r\n",
       "Protocol error: invalid bulk length"},
      {std::string(kRespInlineBytesMax + 1, 'a'), "Protocol error: too big inline request"},
  };
  for (const auto& c : cases) {
    for (size_t piece : {size_t{1}, c.input.size() + 6}) {
      std::string error;
      auto got = ParseAll("PING\r\n" + c.input + "PING\r\n", piece, &error);
      EXPECT_EQ(got, std::vector<Args>{{"PING"}}) << c.input.substr(0, 40);
      EXPECT_EQ(error.substr(0, c.error.size()), c.error) << c.input.substr(0, 40);
    }
  }
}

// Goal: the error state is sticky: once failed, more input yields no command.
TEST(RespParser, ErrorIsSticky) {
  Parser p;
  Args args;
  p.Feed("*1\r\n$x\r\n");
  EXPECT_EQ(p.Next(&args), Parser::Outcome::kError);
  p.Feed("PING\r\n");
  EXPECT_EQ(p.Next(&args), Parser::Outcome::kError);
  EXPECT_TRUE(p.failed());
}

// Goal: a bulk of exactly the limit is accepted; the command byte limit counts framing too.
TEST(RespParser, LimitsAreInclusive) {
  ParserLimits limits;
  limits.bulk_bytes_max = 10;
  limits.args_max = 3;
  limits.command_bytes_max = 60;
  std::string error;
  EXPECT_EQ(ParseAll(Multibulk({"SET", "k", std::string(10, 'v')}), 1, &error, limits).size(), 1u);
  EXPECT_EQ(error, "");
  EXPECT_TRUE(ParseAll(Multibulk({"SET", "k", std::string(11, 'v')}), 1, &error, limits).empty());
  EXPECT_EQ(error.substr(0, 36), "Protocol error: invalid bulk length ");
  EXPECT_TRUE(ParseAll(Multibulk({"MGET", "a", "b", "c"}), 1, &error, limits).empty());
  EXPECT_EQ(error.substr(0, 39), "Protocol error: invalid multibulk lengt");
  limits.command_bytes_max = 30;
  EXPECT_TRUE(
      ParseAll(Multibulk({"SET", "kkkk", std::string(10, 'v')}), 1, &error, limits).empty());
  EXPECT_EQ(error.substr(0, 36), "Protocol error: command larger than ");
  EXPECT_TRUE(ParseAll("MGET a b c\r\n", 1, &error, limits).empty());
  EXPECT_EQ(error.substr(0, 34), "Protocol error: inline request of ");
}

// Goal: before AUTH the limits are tiny: a long password line or a big bulk is refused.
TEST(RespParser, PreAuthLimitsAreTiny) {
  const ParserLimits pre = ParserLimits::PreAuth();
  std::string error;
  EXPECT_EQ(ParseAll(Multibulk({"AUTH", "default", "secret"}), 1, &error, pre).size(), 1u);
  EXPECT_TRUE(ParseAll(Multibulk({"SET", "k", std::string(kRespPreAuthBulkBytesMax + 1, 'v')}),
                       4096, &error, pre)
                  .empty());
  EXPECT_EQ(error.substr(0, 35), "Protocol error: invalid bulk length");
  EXPECT_TRUE(
      ParseAll("*" + std::to_string(kRespPreAuthArgsMax + 1) + "\r\n", 1, &error, pre).empty());
  EXPECT_TRUE(
      ParseAll(std::string(kRespPreAuthCommandBytesMax + 1, 'a'), 512, &error, pre).empty());
  EXPECT_EQ(error, "Protocol error: too big inline request");
}

// Goal: the encoder's bytes are exact RESP2, single-line texts stay single lines, and every
// status maps to a code word a client can branch on.
TEST(RespReply, EncodesRespTwo) {
  std::string out;
  AppendSimple(&out, "OK");
  AppendError(&out, "ERR bad\r\nline");
  AppendInteger(&out, -42);
  AppendBulk(&out, std::string("a\0b", 3));
  AppendNull(&out);
  AppendArrayHeader(&out, 2);
  AppendBulk(&out, "");
  AppendInteger(&out, 0);
  EXPECT_EQ(out, "+OK\r\n-ERR bad  line\r\n:-42\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n$0\r\n\r\n:0\r\n"s);
  EXPECT_EQ(ErrorReply(Status::InvalidArgument("x")), "ERR x");
  EXPECT_EQ(ErrorReply(Status::Unavailable("y")), "UNAVAILABLE y");
  EXPECT_EQ(ErrorReply(Status::Timeout("z")), "TIMEOUT z");
  EXPECT_EQ(ErrorReply(Status::Overloaded("o")), "OVERLOADED o");
}

// Goal: the default authenticator accepts only the configured password, for "default" or no
// user, and the comparison does not stop at the first difference.
TEST(RespAuth, PasswordAuthenticator) {
  kj::EventLoop loop;
  kj::WaitScope wait(loop);
  Authenticator auth = PasswordAuthenticator("s3cret");
  const auto check = [&](const char* user, const char* password) {
    return auth(user, password).wait(wait);
  };
  auto who = check("", "s3cret");
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->user, "default");
  EXPECT_EQ(who->role, causeway::rpc::Role::kAdmin);  // the single password: every command
  EXPECT_TRUE(check("default", "s3cret").ok());
  EXPECT_FALSE(check("alice", "s3cret").ok());
  EXPECT_FALSE(check("default", "s3cre").ok());
  EXPECT_FALSE(check("default", "s3cret!").ok());
  EXPECT_FALSE(check("default", "").ok());
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("a", ""));
  EXPECT_FALSE(ConstantTimeEquals("ab", "ac"));
}

}  // namespace
}  // namespace causeway::rpc::resp
