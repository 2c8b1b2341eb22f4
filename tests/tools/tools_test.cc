// Table tests of the CLI's own pieces: the latency histogram, the config layers and their
// precedence, and the small parsers and encoders behind the --json contract.
#include <gtest/gtest.h>

#include <random>
#include <tuple>

#include "tests/tools/harness.h"
#include "tools/internal/cli.h"
#include "tools/internal/config.h"
#include "tools/internal/histogram.h"

namespace causeway::tools {
namespace {

// Goal: every value lands in a bucket whose bounds contain it, and bucket bounds are monotonic,
// so percentiles are conservative and at most one sub-bucket (1/16) above the truth.
TEST(LatencyHistogram, BucketsContainTheirValues) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    uint64_t v = rng() >> (rng() % 64);
    int index = LatencyHistogram::Index(v);
    ASSERT_LT(index, LatencyHistogram::kBuckets);
    ASSERT_GE(LatencyHistogram::UpperBound(index), v);
    if (index > 0) {
      ASSERT_LT(LatencyHistogram::UpperBound(index - 1), v) << v;
    }
    ASSERT_LE(LatencyHistogram::UpperBound(index) - v, v / 16 + 1);
  }
}

// Goal: percentiles of a known distribution come out right within the bucket precision, and
// merging two histograms equals recording everything in one.
TEST(LatencyHistogram, PercentilesAndMerge) {
  LatencyHistogram a, b, all;
  for (uint64_t v = 1; v <= 10000; ++v) {
    (v % 2 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), 10000u);
  for (double q : {0.5, 0.99, 0.999}) {
    EXPECT_EQ(a.Percentile(q), all.Percentile(q));
    double truth = q * 10000;
    EXPECT_GE(static_cast<double>(all.Percentile(q)), truth);
    EXPECT_LE(static_cast<double>(all.Percentile(q)), truth * 1.07);
  }
  EXPECT_EQ(all.max(), 10000u);
  EXPECT_EQ(LatencyHistogram().Percentile(0.99), 0u);
}

ConfigLayer Layer(std::initializer_list<std::pair<const char*, const char*>> values,
                  const char* source) {
  ConfigLayer layer;
  for (const auto& [k, v] : values) layer[k] = RawValue{v, source};
  return layer;
}

// Goal: flags beat the environment, which beats the file, which beats the defaults -- key by key.
TEST(ServeConfig, PrecedenceFlagEnvFileDefault) {
  ConfigLayer file = Layer({{"node_id", "file"},
                            {"listen", "127.0.0.1:1"},
                            {"data_dir", "/d"},
                            {"rf", "1"},
                            {"sync", "none"}},
                           "file");
  ConfigLayer env = Layer({{"node_id", "env"}, {"sync", "always"}}, "env");
  ConfigLayer flags = Layer({{"node_id", "flag"}}, "flag");
  auto config = ResolveServeConfig({file, env, flags});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->node_id, "flag");
  EXPECT_EQ(config->sync, SyncMode::kAlways);
  EXPECT_EQ(config->rf, 1);
  EXPECT_EQ(config->w_default, 1);  // min(2, rf)
  EXPECT_EQ(config->tokens, kTokensPerNodeDefault);
  EXPECT_EQ(config->seeds, std::vector<std::string>{"127.0.0.1:1"});  // defaults to itself
}

// Goal: a bad value is rejected with a message naming the key, the value and where it came from.
TEST(ServeConfig, ErrorsNameTheSource) {
  ConfigLayer base = Layer({{"node_id", "n1"}, {"listen", "127.0.0.1:1"}, {"data_dir", "/d"}}, "f");
  struct Case {
    const char* key;
    const char* value;
    const char* expect;
  } cases[] = {
      {"rf", "99", "rf = '99' (from env CAUSEWAY_RF)"},
      {"rf", "x", "rf = 'x'"},
      {"sync", "sometimes", "sync = 'sometimes'"},
      {"listen", "nohost", "listen = 'nohost'"},
      {"seeds", "a:1,b", "seeds"},
      {"node_id", "bad name", "node_id"},
      {"w_default", "4", "w_default"},
      {"log_format", "xml", "log_format"},
      {"phi_convict", "0", "phi_convict"},
      {"tokens", "0", "tokens = '0' (from env CAUSEWAY_TOKENS) must be an integer 1..256"},
      {"tokens", "257", "tokens = '257'"},
      {"resp_listen", "nohost", "resp_listen = 'nohost'"},
      {"resp_listen", "10.1.2.3:6379",
       "resp_listen = '10.1.2.3:6379' (from env "
       "CAUSEWAY_RESP_LISTEN) is not a loopback address"},
      {"resp_requirepass_file", "/p",
       "resp_requirepass_file = '/p' (from env "
       "CAUSEWAY_RESP_REQUIREPASS_FILE) needs resp_listen"},
  };
  for (const auto& c : cases) {
    ConfigLayer env;
    env[c.key] = RawValue{c.value, "env " + EnvName(c.key)};
    auto config = ResolveServeConfig({base, env});
    ASSERT_FALSE(config.ok()) << c.key << "=" << c.value;
    EXPECT_EQ(config.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find(c.expect), std::string::npos)
        << config.status().message();
  }
  auto missing = ResolveServeConfig({});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--node-id"), std::string::npos);
}

// Goal: TLS settings (rpc/tls.h) are validated: the modes' spelling, all three files once a mode
// is on, and peer_tls standing in for the cluster secret off loopback.
TEST(ServeConfig, TlsSettings) {
  ConfigLayer base = Layer({{"node_id", "n1"}, {"listen", "127.0.0.1:1"}, {"data_dir", "/d"}}, "f");
  auto off = ResolveServeConfig({base});
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->client_tls, "off");
  EXPECT_FALSE(off->peer_tls);
  for (const auto& [key, value, expect] :
       std::vector<std::tuple<const char*, const char*, const char*>>{
           {"client_tls", "yes",
            "client_tls = 'yes' (from env CAUSEWAY_CLIENT_TLS) must be off, "
            "on or mutual"},
           {"peer_tls", "mutual", "peer_tls = 'mutual'"},
           {"peer_tls", "on", "tls_cert_file is required with client_tls or peer_tls on"}}) {
    ConfigLayer env = Layer({{key, value}}, "");
    env[key].source = "env " + EnvName(key);
    auto config = ResolveServeConfig({base, env});
    ASSERT_FALSE(config.ok()) << key << "=" << value;
    EXPECT_NE(config.status().message().find(expect), std::string::npos)
        << config.status().message();
  }
  ConfigLayer tls = Layer({{"tls_cert_file", "/c"},
                           {"tls_key_file", "/k"},
                           {"tls_ca_file", "/ca"},
                           {"client_tls", "mutual"},
                           {"peer_tls", "on"},
                           {"listen", "10.1.2.3:7400"},
                           {"users_file", "/u"}},
                          "flag");
  auto on = ResolveServeConfig({base, tls});
  ASSERT_TRUE(on.ok()) << on.status().ToString();  // peer_tls authenticates peers off loopback
  EXPECT_EQ(on->client_tls, "mutual");
  EXPECT_TRUE(on->peer_tls);
  EXPECT_NE(ServeConfigToToml(*on).find("peer_tls = 'on'"), std::string::npos)
      << ServeConfigToToml(*on);
  tls.erase("tls_ca_file");
  auto no_ca = ResolveServeConfig({base, tls});
  ASSERT_FALSE(no_ca.ok());
  EXPECT_NE(no_ca.status().message().find("tls_ca_file is required"), std::string::npos);
}

// Goal: the environment layer reads exactly CAUSEWAY_<KEY>, and the TOML file layer rejects
// unknown keys (a typo must not be silently ignored) and accepts arrays for seeds.
TEST(ServeConfig, EnvironmentAndFileLayers) {
  ConfigLayer env = LoadEnvironment([](const std::string& name) -> std::optional<std::string> {
    if (name == "CAUSEWAY_W_DEFAULT") return "3";
    if (name == "CAUSEWAY_ENDPOINTS") return "ignored";
    return std::nullopt;
  });
  ASSERT_EQ(env.size(), 1u);
  EXPECT_EQ(env["w_default"].text, "3");
  EXPECT_EQ(env["w_default"].source, "env CAUSEWAY_W_DEFAULT");

  testing::TempDir dir;
  std::string good = dir.path() + "/good.toml", bad = dir.path() + "/bad.toml";
  testing::WriteFile(good,
                     "node_id = \"n1\"\nrf = 2\nseeds = [\"127.0.0.1:1\", \"127.0.0.2:2\"]\n");
  testing::WriteFile(bad, "node_id = \"n1\"\nrff = 2\n");
  auto layer = LoadConfigFile(good);
  ASSERT_TRUE(layer.ok()) << layer.status().ToString();
  EXPECT_EQ((*layer)["rf"].text, "2");
  EXPECT_EQ((*layer)["seeds"].text, "127.0.0.1:1,127.0.0.2:2");
  auto rejected = LoadConfigFile(bad);
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.status().message().find("unknown key 'rff'"), std::string::npos);
  EXPECT_FALSE(LoadConfigFile(dir.path() + "/missing.toml").ok());
}

// Goal: the parsers behind --r/--w and --endpoints accept what the docs promise and nothing else.
TEST(CliParsers, ConsistencyAndAddresses) {
  EXPECT_EQ(ParseConsistency("one", "--r")->kind, cluster::Consistency::Kind::kOne);
  EXPECT_EQ(ParseConsistency("quorum", "--r")->kind, cluster::Consistency::Kind::kQuorum);
  EXPECT_EQ(ParseConsistency("all", "--r")->kind, cluster::Consistency::Kind::kAll);
  EXPECT_EQ(ParseConsistency("2", "--r")->n, 2);
  EXPECT_EQ(ParseConsistency("", "--r")->kind, cluster::Consistency::Kind::kDefault);
  for (const char* bad : {"0", "8", "two", "-1", "1x"}) {
    EXPECT_FALSE(ParseConsistency(bad, "--w").ok()) << bad;
  }
  for (const char* good :
       {"127.0.0.1:7400", "node-1.example_b.org:1", "[::1]:7400", "[fe80::1%eth0]:9"}) {
    EXPECT_TRUE(ValidateHostPort(good).ok()) << good;
  }
  // The last three were found by fuzz_config: a host with ',' or ':' passed as `listen` and then
  // broke the seeds list made from it.
  for (const char* bad : {"127.0.0.1", ":80", "h:0", "h:65536", "h:x", "127..0,1:7400:7480",
                          "a b:1", "::1:80", "[]:1"}) {
    EXPECT_FALSE(ValidateHostPort(bad).ok()) << bad;
  }
  EXPECT_EQ(SplitList(" a, b,,c "), (std::vector<std::string>{"a", "b", "c"}));
}

// Goal: `repair --range` takes tokens in decimal or 0x hex, both ends included, and a range that
// wraps past the top of the ring becomes its two spans; anything else is refused with the text.
TEST(CliParsers, TokenRanges) {
  using Spans = std::vector<TokenSpan>;
  EXPECT_EQ(*ParseTokenRange("0..18446744073709551615"), (Spans{{0, ~Token{0}}}));
  EXPECT_EQ(*ParseTokenRange("0x10..0X20"), (Spans{{16, 32}}));
  EXPECT_EQ(*ParseTokenRange("7..7"), (Spans{{7, 7}}));
  EXPECT_EQ(*ParseTokenRange("0xffffffffffffff00..255"),
            (Spans{{0xffffffffffffff00, ~Token{0}}, {0, 255}}));
  for (const char* bad : {"", "5", "5.6", "..5", "5..", "a..b", "0x..1", "-1..5", "1..2..3",
                          "18446744073709551616..1", "0x1ffffffffffffffff..1", " 1..2"}) {
    Result<std::vector<TokenSpan>> r = ParseTokenRange(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseTokenRange("1..zz").status().message().find("'zz'"), std::string::npos);
}

// Goal: --json prints "value" only for valid UTF-8 and base64 otherwise, exactly (RFC 4648).
TEST(CliParsers, Utf8AndBase64) {
  EXPECT_TRUE(IsValidUtf8("hello"));
  EXPECT_TRUE(IsValidUtf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
  for (std::string bad : {std::string("\xff"), std::string("\xc3"), std::string("\xc0\xaf"),
                          std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80")}) {
    EXPECT_FALSE(IsValidUtf8(bad));
  }
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xff\x00\x01", 3)), "/wAB");
}

// Goal: exit codes follow the contract for each error code a node can return.
TEST(CliParsers, ExitCodes) {
  EXPECT_EQ(ExitCodeFor(Status::InvalidArgument("x")), kExitUsage);
  EXPECT_EQ(ExitCodeFor(Status::Unavailable("x")), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(Status::Timeout("x")), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(Status::Overloaded("x")), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(Status::Corruption("x")), kExitError);
  EXPECT_EQ(ExitCodeFor(Status::Internal("x")), kExitError);
}

}  // namespace
}  // namespace causeway::tools
