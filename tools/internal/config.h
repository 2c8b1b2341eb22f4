// The node's configuration: every `causeway serve` setting, from four layers.
//
// Precedence: command-line flags > environment (CAUSEWAY_<KEY>) > TOML file (--config FILE or
// CAUSEWAY_CONFIG) > defaults. Each setting has one key name used in all three places: the TOML
// key `w_default`, the variable CAUSEWAY_W_DEFAULT and the flag --w-default (docs/
// operations.md lists them). Values arrive as text from every layer and are validated once, after
// merging, with messages that name where the bad value came from.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/engine.h"

namespace causeway::tools {

struct ConfigKey {
  std::string_view name;           // TOML key; flag is --name-with-dashes, env CAUSEWAY_NAME
  std::string_view default_value;  // "" = required or derived (see help)
  std::string_view help;
};
// Every key `serve` accepts, in documentation order.
const std::vector<ConfigKey>& ServeConfigKeys();
std::string FlagName(std::string_view key);  // "w_default" -> "--w-default"
std::string EnvName(std::string_view key);   // "w_default" -> "CAUSEWAY_W_DEFAULT"

struct RawValue {
  std::string text;
  std::string source;  // "flag --rf", "env CAUSEWAY_RF", "file node.toml", "default"
};
using ConfigLayer = std::map<std::string, RawValue, std::less<>>;

// Reads a TOML file of top-level `key = value` pairs. Unknown keys and tables are errors (a typo
// must not be silently ignored). Arrays of strings (seeds) become comma-separated text.
Result<ConfigLayer> LoadConfigFile(const std::string& path);
// The same for TOML text; errors begin with `origin` (e.g. "config file /etc/causeway.toml").
// What the config fuzz target (tests/fuzz/fuzz_config.cc) drives.
Result<ConfigLayer> ParseConfigText(std::string_view text, const std::string& origin);
// The CAUSEWAY_<KEY> variables that are set. `getenv` is injected so tests need not touch the
// process environment.
using GetEnvFn = std::function<std::optional<std::string>(const std::string& name)>;
ConfigLayer LoadEnvironment(const GetEnvFn& getenv);
GetEnvFn ProcessEnvironment();

enum class LogFormat { kText, kJson };

struct ServeConfig {
  std::string node_id;
  std::string listen;
  std::string advertise;    // address peers and clients use; default: listen
  std::string http_listen;  // /metrics, /livez, /readyz; "off": none
  std::string data_dir;
  std::vector<std::string> seeds;  // default: {advertise}
  int rf = 3;
  int w_default = 2;  // default: min(2, rf)
  int r_default = 1;
  SyncMode sync = SyncMode::kPeriodic;
  uint64_t periodic_sync_ms = 0;
  int tokens = 0;
  uint64_t request_timeout_ms = 0;
  uint64_t peer_timeout_ms = 0;
  uint64_t gossip_interval_ms = 0;
  uint64_t tick_interval_ms = kTickIntervalMsDefault;
  double phi_convict = 8.0;
  uint64_t max_clock_offset_ms = 0;
  double clock_fence_fraction = kClockFenceFractionDefault;
  StorageProfile storage_profile = StorageProfile::kDefault;
  uint64_t block_cache_mb = 0;  // default: by profile (kBlockCacheMbDefault, kBlockCacheMbSmall)
  uint64_t aae_interval_ms = kAaeIntervalMsDefault;  // anti-entropy: one exchange per interval
  uint64_t aae_mb_per_s = kAaeBytesPerSDefault >> 20;
  uint64_t hint_replay_mb_per_s = kHintReplayBytesPerSDefault >> 20;
  uint64_t stream_mb_per_s = kStreamBytesPerSDefault >> 20;  // streaming's pace (join, rebuild)
  // `--replace NAME`: the data dir was lost; rebuild as NAME (== node_id) before serving reads.
  std::string replace;
  uint64_t disk_reserve_bytes = kDiskReserveAuto;  // EngineOptions::disk_reserve_bytes
  LogFormat log_format = LogFormat::kText;
  std::string log_level;
  std::string resp_listen;  // RESP2 gateway ("": none)
  // The RESP password's file ("": no AUTH). Read by `serve` at start; never the password itself,
  // so that it shows neither in `ps` nor in --print-config.
  std::string resp_requirepass_file;
  // Security (docs/operations.md, "Security: auth, roles, TLS, rotating the secret and
  // certificates"): empty files, not required. A listen address off loopback needs both, or
  // insecure.
  std::string cluster_secret_file;
  std::string users_file;
  bool insecure = false;
  // TLS (rpc/tls.h): the files are required when client_tls or peer_tls is on.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_ca_file;
  std::string client_tls = "off";  // off, on, mutual
  bool peer_tls = false;
};

// Merges `layers` (lowest precedence first) over the defaults and validates the result.
// Errors are kInvalidArgument with a message naming the key, the value and its source.
Result<ServeConfig> ResolveServeConfig(const std::vector<ConfigLayer>& layers);
// The resolved settings as TOML text (`serve --print-config`): a valid config file.
std::string ServeConfigToToml(const ServeConfig& config);

}  // namespace causeway::tools
