#include "tools/internal/config.h"

#include <toml++/toml.h>

#include <cstdlib>
#include <sstream>

#include "base/limits.h"
#include "base/strings.h"
#include "tools/internal/cli.h"

namespace causeway::tools {
namespace {

// Defaults are spelled as text so that they go through the same validation as user input.
const std::string kDefaultPeriodicSyncMs = std::to_string(kPeriodicSyncMsDefault);
const std::string kDefaultTokens = std::to_string(kTokensPerNodeDefault);
const std::string kDefaultRequestTimeoutMs = std::to_string(kRequestTimeoutMsDefault);
const std::string kDefaultPeerTimeoutMs = std::to_string(kPeerCallTimeoutMsDefault);
const std::string kDefaultGossipIntervalMs = std::to_string(kGossipIntervalMs);
const std::string kDefaultTickIntervalMs = std::to_string(kTickIntervalMsDefault);
const std::string kDefaultMaxClockOffsetMs = std::to_string(kMaxClockOffsetMsDefault);

// Every key is present in the merged layer (the defaults seed it).
const RawValue& At(const ConfigLayer& merged, std::string_view key) {
  return merged.find(key)->second;
}

Status Invalid(std::string_view key, const RawValue& raw, std::string_view expected) {
  return Status::InvalidArgument(std::string(key) + " = '" + raw.text + "' (from " + raw.source +
                                 ") " + std::string(expected));
}

// Parses an integer setting within [lo, hi].
Status ParseBounded(const ConfigLayer& merged, std::string_view key, uint64_t lo, uint64_t hi,
                    uint64_t* out) {
  const RawValue& raw = At(merged, key);
  auto value = ParseUint(raw.text, key);
  if (!value.ok() || *value < lo || *value > hi) {
    return Invalid(key, raw,
                   "must be an integer " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  *out = *value;
  return Status::Ok();
}

bool IsValidNodeName(std::string_view name) {
  if (name.empty() || name.size() > kNodeNameBytesMax) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> TomlValueText(const toml::node& node) {
  if (auto s = node.value<std::string>(); s && node.is_string()) return *s;
  if (node.is_integer()) return std::to_string(*node.value<int64_t>());
  if (node.is_floating_point()) {
    std::ostringstream out;
    out << *node.value<double>();
    return out.str();
  }
  if (node.is_boolean()) return std::string(*node.value<bool>() ? "true" : "false");
  if (const auto* array = node.as_array()) {
    std::string joined;
    for (const auto& item : *array) {
      if (!item.is_string()) return Status::InvalidArgument("arrays may hold only strings");
      if (!joined.empty()) joined += ',';
      joined += *item.value<std::string>();
    }
    return joined;
  }
  return Status::InvalidArgument("tables are not supported; use top-level key = value pairs");
}

std::string KnownKeys() {
  std::string out;
  for (const auto& key : ServeConfigKeys())
    out += (out.empty() ? "" : ", ") + std::string(key.name);
  return out;
}

// Fills the identity and addressing part of `config` from the merged layer.
Status ResolveIdentity(const ConfigLayer& merged, ServeConfig* config) {
  auto text = [&](std::string_view key) -> const std::string& { return At(merged, key).text; };
  config->node_id = text("node_id");
  if (!IsValidNodeName(config->node_id)) {
    return config->node_id.empty() ? Status::InvalidArgument(
                                         "node_id is required: pass --node-id NAME (or set "
                                         "CAUSEWAY_NODE_ID, or node_id in the config file)")
                                   : Invalid("node_id", At(merged, "node_id"),
                                             "must be 1.." + std::to_string(kNodeNameBytesMax) +
                                                 " characters of A-Z a-z 0-9 . _ -");
  }
  config->replace = text("replace");
  if (!config->replace.empty() && config->replace != config->node_id) {
    return Invalid("replace", At(merged, "replace"),
                   StrCat("names the node being replaced, which must be this node_id (",
                          config->node_id, "): a replacement takes the dead node's name"));
  }
  config->data_dir = text("data_dir");
  if (config->data_dir.empty()) {
    return Status::InvalidArgument("data_dir is required: pass --data-dir DIR");
  }
  config->listen = text("listen");
  if (config->listen.empty()) {
    return Status::InvalidArgument("listen is required: pass --listen HOST:PORT");
  }
  for (std::string_view key : {"listen", "advertise"}) {
    if (key == "advertise" && text(key).empty()) continue;
    if (Status s = ValidateHostPort(text(key)); !s.ok()) {
      return Invalid(key, At(merged, key), "is not HOST:PORT");
    }
  }
  config->advertise = text("advertise").empty() ? config->listen : text("advertise");
  config->resp_listen = text("resp_listen");
  if (!config->resp_listen.empty() && !ValidateHostPort(config->resp_listen).ok()) {
    return Invalid("resp_listen", At(merged, "resp_listen"), "is not HOST:PORT");
  }
  config->resp_requirepass_file = text("resp_requirepass_file");
  if (!config->resp_requirepass_file.empty() && config->resp_listen.empty()) {
    return Invalid("resp_requirepass_file", At(merged, "resp_requirepass_file"),
                   "needs resp_listen (there is no RESP gateway to protect)");
  }
  config->http_listen = text("http_listen");
  // Port 0 (any free port) is allowed here, unlike `listen`: nothing needs to find it but a
  // scraper told by the log line.
  const std::string probe =
      config->http_listen.ends_with(":0")
          ? config->http_listen.substr(0, config->http_listen.size() - 1) + "1"
          : config->http_listen;
  if (config->http_listen != "off" && !ValidateHostPort(probe).ok()) {
    return Invalid("http_listen", At(merged, "http_listen"), "is not HOST:PORT or off");
  }
  config->seeds = SplitList(text("seeds"));
  if (config->seeds.empty()) config->seeds.push_back(config->advertise);
  for (const auto& seed : config->seeds) {
    if (!ValidateHostPort(seed).ok()) {
      return Invalid("seeds", At(merged, "seeds"), "must be a list of HOST:PORT");
    }
  }
  return Status::Ok();
}

// Fills replication and consistency settings.
Status ResolveReplication(const ConfigLayer& merged, ServeConfig* config) {
  uint64_t v = 0;
  if (Status s = ParseBounded(merged, "rf", 1, kReplicationFactorMax, &v); !s.ok()) return s;
  config->rf = static_cast<int>(v);
  for (std::string_view key : {"w_default", "r_default"}) {
    const RawValue& raw = At(merged, key);
    int* out = key == "w_default" ? &config->w_default : &config->r_default;
    if (raw.text.empty()) {
      *out = key == "w_default" ? std::min(2, config->rf) : 1;
      continue;
    }
    if (Status s = ParseBounded(merged, key, 1, config->rf, &v); !s.ok()) {
      return Invalid(key, raw, "must be 1..rf (rf = " + std::to_string(config->rf) + ")");
    }
    *out = static_cast<int>(v);
  }
  if (Status s = ParseBounded(merged, "tokens", 1, kTokensPerNodeMax, &v); !s.ok()) return s;
  config->tokens = static_cast<int>(v);
  return Status::Ok();
}

// Fills durability, timing and logging settings.
Status ResolveTuning(const ConfigLayer& merged, ServeConfig* config) {
  auto sync = ParseSyncMode(At(merged, "sync").text);
  if (!sync.ok()) return Invalid("sync", At(merged, "sync"), "must be always, periodic or none");
  config->sync = *sync;
  struct Bounded {
    std::string_view key;
    uint64_t lo, hi;
    uint64_t* out;
  };
  const Bounded bounded[] = {
      {"periodic_sync_ms", 1, 60000, &config->periodic_sync_ms},
      {"request_timeout_ms", 1, kRequestTimeoutMsMax, &config->request_timeout_ms},
      {"peer_timeout_ms", 1, kRequestTimeoutMsMax, &config->peer_timeout_ms},
      {"gossip_interval_ms", 10, 10000, &config->gossip_interval_ms},
      {"tick_interval_ms", kTickIntervalMsMin, kTickIntervalMsMax, &config->tick_interval_ms},
      {"max_clock_offset_ms", 1, 3600000, &config->max_clock_offset_ms},
      {"aae_interval_ms", 10, 3600000, &config->aae_interval_ms},
      {"aae_mb_per_s", 1, 10240, &config->aae_mb_per_s},
      {"hint_replay_mb_per_s", 1, 10240, &config->hint_replay_mb_per_s},
      {"stream_mb_per_s", 1, 10240, &config->stream_mb_per_s},
  };
  for (const auto& b : bounded) {
    if (Status s = ParseBounded(merged, b.key, b.lo, b.hi, b.out); !s.ok()) return s;
  }
  if (config->tick_interval_ms > config->gossip_interval_ms) {
    return Invalid("tick_interval_ms", At(merged, "tick_interval_ms"),
                   StrCat("must be at most gossip_interval_ms (", config->gossip_interval_ms, ")"));
  }
  struct Real {
    std::string_view key;
    double lo, hi;  // lo excluded when open_lo
    bool open_lo;
    double* out;
  };
  const Real reals[] = {
      {"phi_convict", 1, 100, false, &config->phi_convict},
      {"clock_fence_fraction", 0, 1, true, &config->clock_fence_fraction},
  };
  for (const auto& r : reals) {
    const RawValue& raw = At(merged, r.key);
    char* end = nullptr;
    *r.out = std::strtod(raw.text.c_str(), &end);
    const bool above_lo = r.open_lo ? *r.out > r.lo : *r.out >= r.lo;
    if (raw.text.empty() || *end != '\0' || !(above_lo && *r.out <= r.hi)) {
      return Invalid(r.key, raw,
                     StrCat("must be a number ", r.open_lo ? "above " : "", static_cast<int>(r.lo),
                            r.open_lo ? " up to " : "..", static_cast<int>(r.hi)));
    }
  }
  auto profile = ParseStorageProfile(At(merged, "storage_profile").text);
  if (!profile.ok()) {
    return Invalid("storage_profile", At(merged, "storage_profile"), "must be default or small");
  }
  config->storage_profile = *profile;
  if (At(merged, "block_cache_mb").text.empty()) {
    config->block_cache_mb =
        *profile == StorageProfile::kSmall ? kBlockCacheMbSmall : kBlockCacheMbDefault;
  } else if (Status s = ParseBounded(merged, "block_cache_mb", 1, kBlockCacheMbMax,
                                     &config->block_cache_mb);
             !s.ok()) {
    return s;
  }
  // "auto" (min(256 MiB, 5% of the file system)) or 0..kDiskReserveMbMax MiB (0: no reserve).
  const RawValue& reserve = At(merged, "disk_reserve_mb");
  if (reserve.text == "auto") {
    config->disk_reserve_bytes = kDiskReserveAuto;
  } else {
    uint64_t mb = 0;
    if (Status s = ParseBounded(merged, "disk_reserve_mb", 0, kDiskReserveMbMax, &mb); !s.ok()) {
      return Invalid("disk_reserve_mb", reserve, StrCat("must be auto or 0..", kDiskReserveMbMax));
    }
    config->disk_reserve_bytes = mb << 20;
  }
  const std::string& format = At(merged, "log_format").text;
  if (format != "text" && format != "json") {
    return Invalid("log_format", At(merged, "log_format"), "must be text or json");
  }
  config->log_format = format == "json" ? LogFormat::kJson : LogFormat::kText;
  config->log_level = At(merged, "log_level").text;
  for (std::string_view level : {"trace", "debug", "info", "warn", "error"}) {
    if (config->log_level == level) return Status::Ok();
  }
  return Invalid("log_level", At(merged, "log_level"), "must be trace, debug, info, warn or error");
}

// A host that only this machine can reach: 127.0.0.0/8, ::1 or localhost.
bool IsLoopbackHost(const std::string& host_port) {
  std::string host = host_port.substr(0, host_port.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host.starts_with("127.") || host == "::1" || host == "localhost";
}

// Fills the TLS settings (rpc/tls.h): with client_tls or peer_tls on, all three files.
Status ResolveTls(const ConfigLayer& merged, ServeConfig* config) {
  config->tls_cert_file = At(merged, "tls_cert_file").text;
  config->tls_key_file = At(merged, "tls_key_file").text;
  config->tls_ca_file = At(merged, "tls_ca_file").text;
  const RawValue& client = At(merged, "client_tls");
  if (client.text != "off" && client.text != "on" && client.text != "mutual") {
    return Invalid("client_tls", client, "must be off, on or mutual");
  }
  config->client_tls = client.text;
  const RawValue& peer = At(merged, "peer_tls");
  if (peer.text != "off" && peer.text != "on")
    return Invalid("peer_tls", peer, "must be off or on");
  config->peer_tls = peer.text == "on";
  if (config->client_tls == "off" && !config->peer_tls) return Status::Ok();
  for (std::string_view key : {"tls_cert_file", "tls_key_file", "tls_ca_file"}) {
    if (At(merged, key).text.empty()) {
      return Status::InvalidArgument(
          StrCat(key,
                 " is required with client_tls or peer_tls on (`causeway cert` makes the "
                 "files; docs/operations.md, \"TLS\")"));
    }
  }
  return Status::Ok();
}

// Fills the security settings; off loopback they are required unless insecure (Redis' protected
// mode): a node reachable from the network must not serve strangers by default.
Status ResolveSecurity(const ConfigLayer& merged, ServeConfig* config) {
  config->cluster_secret_file = At(merged, "cluster_secret_file").text;
  config->users_file = At(merged, "users_file").text;
  const RawValue& insecure = At(merged, "insecure");
  if (insecure.text != "true" && insecure.text != "false") {
    return Invalid("insecure", insecure, "must be true or false");
  }
  config->insecure = insecure.text == "true";
  if (Status s = ResolveTls(merged, config); !s.ok()) return s;
  // Peers are authenticated by the cluster secret or by mutual TLS.
  const bool peers_secured = !config->cluster_secret_file.empty() || config->peer_tls;
  const bool secured = peers_secured && !config->users_file.empty();
  if (!IsLoopbackHost(config->listen) && !secured && !config->insecure) {
    return Invalid("listen", At(merged, "listen"),
                   "is not a loopback address, and the node has no cluster_secret_file (or "
                   "peer_tls) and users_file: anyone who can reach it could read, write and join. "
                   "Configure both (docs/operations.md, \"Security\"), or pass --insecure true");
  }
  // The same for Redis clients: a RESP listener off loopback needs a password (users or
  // requirepass), as Redis' protected mode.
  const bool resp_secured = !config->users_file.empty() || !config->resp_requirepass_file.empty();
  if (!config->resp_listen.empty() && !IsLoopbackHost(config->resp_listen) && !resp_secured &&
      !config->insecure) {
    return Invalid("resp_listen", At(merged, "resp_listen"),
                   "is not a loopback address, and Redis clients would need no password: set "
                   "users_file or resp_requirepass_file (docs/operations.md, \"Security\"), or "
                   "pass --insecure true");
  }
  return Status::Ok();
}

}  // namespace

const std::vector<ConfigKey>& ServeConfigKeys() {
  static const std::vector<ConfigKey> kKeys = {
      {"node_id", "", "this node's name (n1); must stay the same for its data dir"},
      {"listen", "", "HOST:PORT to bind for clients and peers"},
      {"advertise", "", "HOST:PORT others use to reach this node (default: listen)"},
      {"http_listen", "127.0.0.1:0",
       "HOST:PORT of the internal HTTP endpoint (/metrics, /livez, /readyz), or off; port 0 picks "
       "a free port (logged with event=serving)"},
      {"data_dir", "", "folder of the node's RocksDB data"},
      {"seeds", "", "comma-separated HOST:PORT of seed nodes (default: this node)"},
      {"rf", "3", "replication factor: replicas of each key"},
      {"w_default", "", "W when a request does not say (default: min(2, rf))"},
      {"r_default", "", "R when a request does not say (default: 1)"},
      {"sync", "periodic", "durability: always (fsync per write), periodic, none"},
      {"periodic_sync_ms", kDefaultPeriodicSyncMs, "WAL sync interval for sync = periodic"},
      {"tokens", kDefaultTokens, "virtual nodes (ring tokens) on first start"},
      {"request_timeout_ms", kDefaultRequestTimeoutMs, "deadline of a client request"},
      {"peer_timeout_ms", kDefaultPeerTimeoutMs, "deadline of a call to another node"},
      {"gossip_interval_ms", kDefaultGossipIntervalMs, "gossip round interval"},
      {"tick_interval_ms", kDefaultTickIntervalMs,
       "how often the node loop advances timeouts, gossip and pacing (at most gossip_interval_ms; "
       "`local up` uses 100: an idle tick costs CPU)"},
      {"phi_convict", "8", "phi-accrual threshold to consider a peer down"},
      {"max_clock_offset_ms", kDefaultMaxClockOffsetMs, "reject timestamps this far ahead"},
      {"clock_fence_fraction", "0.8",
       "stamp no writes while this node's clock is more than this fraction of "
       "max_clock_offset_ms off the majority of its peers"},
      {"storage_profile", "default",
       "RocksDB sizing: default (one node per machine) or small (many nodes per machine: 4 MiB "
       "memtables, no WAL/MANIFEST preallocation, one background job; `local up` uses it)"},
      {"block_cache_mb", "",
       "RocksDB block cache size in MiB (default: 256, or 8 with storage_profile = small)"},
      {"aae_interval_ms", "10000",
       "anti-entropy: start one exchange of a range with one of its replicas this often"},
      {"aae_mb_per_s", "8", "anti-entropy: MiB/s of versions an exchange may send or fetch"},
      {"hint_replay_mb_per_s", "8", "hinted handoff: MiB/s of hints replayed to each target"},
      {"stream_mb_per_s", "128",
       "streaming (bootstrap, rebuild, a leaver's ranges): MiB/s of pages this node pulls"},
      {"replace", "",
       "this node's data dir was lost: take back the tokens peers remember for NAME (this "
       "node_id) and rebuild its ranges before serving reads"},
      {"disk_reserve_mb", "auto",
       "refuse data writes (NoSpace) below this much free space on the data dir, keeping room for "
       "the node's meta writes: MiB, 0 (off) or auto (min(256 MiB, 5% of the file system))"},
      {"log_format", "text", "log lines as text or json"},
      {"log_level", "info", "trace, debug, info, warn or error"},
      {"resp_listen", "",
       "HOST:PORT to also serve Redis clients on (RESP2; docs/operations.md, \"Redis clients\")"},
      {"resp_requirepass_file", "",
       "file holding the password RESP clients must AUTH with (first line; never a flag value)"},
      {"cluster_secret_file", "",
       "file of the cluster secret(s), one per line: peers must prove the first or another one "
       "(HMAC challenge) before any peer call"},
      {"users_file", "",
       "users file (`causeway users add`): clients must log in (--user, --password-file) and "
       "their role decides what they may call"},
      {"insecure", "false",
       "allow a listen address off loopback without cluster_secret_file and users_file"},
      {"tls_cert_file", "",
       "this node's TLS certificate (PEM, `causeway cert node`; common name "
       "causeway-node-<node_id>)"},
      {"tls_key_file", "", "the private key (PEM) of tls_cert_file"},
      {"tls_ca_file", "",
       "CA certificate(s) (PEM) trusted for peers and client certificates; list the old and new CA "
       "while rotating"},
      {"client_tls", "off",
       "off, on (clients and Redis clients must use TLS) or mutual (and present a client "
       "certificate from the CA)"},
      {"peer_tls", "off",
       "off or on: peers must use mutual TLS with a node certificate naming the node they claim"},
  };
  return kKeys;
}

std::string FlagName(std::string_view key) {
  std::string out = "--" + std::string(key);
  for (char& c : out) c = c == '_' ? '-' : c;
  return out;
}

std::string EnvName(std::string_view key) {
  std::string out = "CAUSEWAY_" + std::string(key);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

namespace {

Status ParseError(const std::string& origin, const toml::parse_error& e) {
  std::ostringstream where;
  where << e.source().begin;
  return Status::InvalidArgument(origin + ": " + std::string(e.description()) + " at " +
                                 where.str());
}

// Top-level keys of a parsed file: every one must be a known setting with a scalar (or seeds'
// array) value. Errors begin with `origin`; each value is tagged with `source` ("file PATH").
Result<ConfigLayer> LayerFromTable(const toml::table& table, const std::string& origin,
                                   const std::string& source) {
  ConfigLayer layer;
  for (auto&& [key, node] : table) {
    std::string name(key.str());
    bool known = false;
    for (const auto& k : ServeConfigKeys()) known = known || k.name == name;
    if (!known) {
      std::string message = origin;
      message += ": unknown key '" + name + "' (known keys: ";
      message += KnownKeys();
      message += ")";
      return Status::InvalidArgument(message);
    }
    auto text = TomlValueText(node);
    if (!text.ok()) {
      std::string message = origin;
      message += ", key " + name + ": ";
      message += text.status().message();
      return Status::InvalidArgument(message);
    }
    layer[name] = RawValue{*text, source};
  }
  return layer;
}

}  // namespace

Result<ConfigLayer> LoadConfigFile(const std::string& path) {
  const std::string origin = "config file " + path;
  try {
    return LayerFromTable(toml::parse_file(path), origin, "file " + path);
  } catch (const toml::parse_error& e) {
    return ParseError(origin, e);
  }
}

Result<ConfigLayer> ParseConfigText(std::string_view text, const std::string& origin) {
  try {
    return LayerFromTable(toml::parse(text, origin), origin, origin);
  } catch (const toml::parse_error& e) {
    return ParseError(origin, e);
  }
}

ConfigLayer LoadEnvironment(const GetEnvFn& getenv) {
  ConfigLayer layer;
  for (const auto& key : ServeConfigKeys()) {
    std::string name = EnvName(key.name);
    if (auto value = getenv(name)) layer[std::string(key.name)] = RawValue{*value, "env " + name};
  }
  return layer;
}

GetEnvFn ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<ServeConfig> ResolveServeConfig(const std::vector<ConfigLayer>& layers) {
  ConfigLayer merged;
  for (const auto& key : ServeConfigKeys()) {
    merged[std::string(key.name)] = RawValue{std::string(key.default_value), "default"};
  }
  for (const auto& layer : layers) {
    for (const auto& [key, raw] : layer) merged[key] = raw;
  }
  ServeConfig config;
  if (Status s = ResolveIdentity(merged, &config); !s.ok()) return s;
  if (Status s = ResolveReplication(merged, &config); !s.ok()) return s;
  if (Status s = ResolveTuning(merged, &config); !s.ok()) return s;
  if (Status s = ResolveSecurity(merged, &config); !s.ok()) return s;
  return config;
}

std::string ServeConfigToToml(const ServeConfig& c) {
  toml::array seeds;
  for (const auto& seed : c.seeds) seeds.push_back(seed);
  auto u = [](uint64_t v) { return static_cast<int64_t>(v); };
  toml::table table{
      {"node_id", c.node_id},
      {"listen", c.listen},
      {"advertise", c.advertise},
      {"http_listen", c.http_listen},
      {"data_dir", c.data_dir},
      {"seeds", seeds},
      {"rf", c.rf},
      {"w_default", c.w_default},
      {"r_default", c.r_default},
      {"sync", std::string(SyncModeName(c.sync))},
      {"periodic_sync_ms", u(c.periodic_sync_ms)},
      {"tokens", c.tokens},
      {"request_timeout_ms", u(c.request_timeout_ms)},
      {"peer_timeout_ms", u(c.peer_timeout_ms)},
      {"gossip_interval_ms", u(c.gossip_interval_ms)},
      {"tick_interval_ms", u(c.tick_interval_ms)},
      {"phi_convict", c.phi_convict},
      {"max_clock_offset_ms", u(c.max_clock_offset_ms)},
      {"clock_fence_fraction", c.clock_fence_fraction},
      {"storage_profile", std::string(StorageProfileName(c.storage_profile))},
      {"block_cache_mb", u(c.block_cache_mb)},
      {"aae_interval_ms", u(c.aae_interval_ms)},
      {"aae_mb_per_s", u(c.aae_mb_per_s)},
      {"hint_replay_mb_per_s", u(c.hint_replay_mb_per_s)},
      {"stream_mb_per_s", u(c.stream_mb_per_s)},
      {"replace", c.replace},
      {"log_format", std::string(c.log_format == LogFormat::kJson ? "json" : "text")},
      {"log_level", c.log_level},
      {"resp_listen", c.resp_listen},
      {"resp_requirepass_file", c.resp_requirepass_file},
      {"cluster_secret_file", c.cluster_secret_file},
      {"users_file", c.users_file},
      {"insecure", c.insecure},
      {"tls_cert_file", c.tls_cert_file},
      {"tls_key_file", c.tls_key_file},
      {"tls_ca_file", c.tls_ca_file},
      {"client_tls", c.client_tls},
      {"peer_tls", std::string(c.peer_tls ? "on" : "off")},
  };
  if (c.disk_reserve_bytes == kDiskReserveAuto) {
    table.insert("disk_reserve_mb", "auto");
  } else {
    table.insert("disk_reserve_mb", u(c.disk_reserve_bytes >> 20));
  }
  std::ostringstream out;
  out << table << "\n";
  return out.str();
}

}  // namespace causeway::tools
