#include "rpc/resp/server_commands.h"

#include <unistd.h>

#include <algorithm>

#include "base/limits.h"
#include "base/strings.h"
#include "rpc/internal/node_host.h"
#include "rpc/resp/reply.h"

namespace causeway::rpc::resp {
namespace {

std::string UnknownSubcommand(std::string_view command, std::string_view sub) {
  return Error(
      StrCat("ERR unknown subcommand '", sub.substr(0, 128), "'. Try ", command, " HELP."));
}

// Redis's glob (stringmatch), case-insensitive: * ? and literal characters.
bool GlobMatch(std::string_view pattern, std::string_view text) {
  if (pattern.empty()) return text.empty();
  if (pattern[0] == '*') {
    for (size_t i = 0; i <= text.size(); ++i) {
      if (GlobMatch(pattern.substr(1), text.substr(i))) return true;
    }
    return false;
  }
  if (text.empty()) return false;
  const bool same = pattern[0] == '?' || std::tolower(static_cast<unsigned char>(pattern[0])) ==
                                             std::tolower(static_cast<unsigned char>(text[0]));
  return same && GlobMatch(pattern.substr(1), text.substr(1));
}

// Members of the ring (every status but left).
size_t RingMembers(const NodeHost& host) {
  size_t n = 0;
  for (const auto& m : host.core().Members(MonotonicMs())) {
    if (m.state.status != cluster::MemberStatus::kLeft) ++n;
  }
  return std::max<size_t>(n, 1);
}

// DBSIZE's estimate of the cluster's keys: RocksDB's estimate of the keys this node stores
// (replicas it holds, tombstones not yet purged included) scaled by members / min(rf, members),
// i.e. as if every node held as many. Documented as an estimate in docs/operations.md.
uint64_t KeysEstimate(const NodeHost& host) {
  const uint64_t local = host.engine().GetStats().keys_estimate;
  const size_t members = RingMembers(host);
  const size_t copies = std::min<size_t>(static_cast<size_t>(host.config().rf), members);
  return copies == 0 ? local : local * members / copies;
}

std::string_view AppendFsyncName(SyncMode mode) {
  switch (mode) {
    case SyncMode::kAlways:
      return "always";
    case SyncMode::kPeriodic:
      return "everysec";
    case SyncMode::kNone:
      return "no";
  }
  return "everysec";
}

void AppendCommandInfo(std::string* out, const CommandSpec& spec) {
  AppendArrayHeader(out, 10);
  AppendBulk(out, spec.name);
  AppendInteger(out, spec.arity);
  std::vector<std::string_view> flags;
  std::string_view rest = spec.flags;
  while (!rest.empty()) {
    const size_t space = rest.find(' ');
    flags.push_back(rest.substr(0, space));
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  }
  AppendArrayHeader(out, flags.size());
  for (auto f : flags) AppendSimple(out, f);
  AppendInteger(out, spec.first_key);
  AppendInteger(out, spec.last_key);
  AppendInteger(out, spec.step);
  for (int i = 0; i < 4; ++i) AppendArrayHeader(out, 0);  // ACL categories, tips, keys, subs
}

void AppendCommandDocs(std::string* out, const CommandSpec& spec) {
  AppendBulk(out, spec.name);
  AppendArrayHeader(out, 8);
  AppendBulk(out, "summary");
  AppendBulk(out, spec.summary);
  AppendBulk(out, "since");
  AppendBulk(out, "1.0.0");
  AppendBulk(out, "group");
  AppendBulk(out, spec.group);
  AppendBulk(out, "complexity");
  AppendBulk(out, spec.complexity);
}

void HelloReply(const GatewayView& view, const ClientState& client, std::string* out) {
  AppendArrayHeader(out, 14);
  AppendBulk(out, "server");
  AppendBulk(out, "causeway");
  AppendBulk(out, "version");
  AppendBulk(out, kRedisCompatVersion);
  AppendBulk(out, "proto");
  AppendInteger(out, 2);
  AppendBulk(out, "id");
  AppendInteger(out, static_cast<int64_t>(client.id));
  AppendBulk(out, "mode");
  AppendBulk(out, "standalone");
  AppendBulk(out, "role");
  AppendBulk(out, "master");
  AppendBulk(out, "modules");
  AppendArrayHeader(out, 0);
  (void)view;
}

bool ValidClientName(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c <= '~'; });
}

// The INFO sections, each "# Name\r\nkey:value\r\n...".
std::string InfoSection(const GatewayView& view, const ClientState& client,
                        std::string_view section) {
  const NodeHost& host = *view.host;
  std::string s;
  auto line = [&s](std::string_view key, const std::string& value) {
    s += StrCat(key, ":", value, "\r\n");
  };
  if (section == "server") {
    s += "# Server\r\n";
    line("redis_version", std::string(kRedisCompatVersion));
    line("redis_mode", "standalone");
    line("causeway_version", "0.1");
    line("process_id", std::to_string(::getpid()));
    line("tcp_port", std::to_string(view.port));
    line("uptime_in_seconds", std::to_string((MonotonicMs() - view.started_ms) / 1000));
  } else if (section == "clients") {
    s += "# Clients\r\n";
    line("connected_clients", std::to_string(view.clients ? view.clients() : 0));
    line("maxclients", std::to_string(kClientConnectionsMax));
  } else if (section == "keyspace") {
    s += "# Keyspace\r\n";
    line("db0", StrCat("keys=", KeysEstimate(host), ",expires=0,avg_ttl=0"));
  } else if (section == "causeway") {
    s += "# Causeway\r\n";
    line("node", host.config().name);
    line("address", host.config().address);
    line("members", std::to_string(RingMembers(host)));
    line("rf", std::to_string(host.config().rf));
    line("r_default", std::to_string(host.config().default_r));
    line("w_default", std::to_string(host.config().default_w));
    line("connection_r", ConsistencyName(client.r));
    line("connection_w", ConsistencyName(client.w));
    line("sync", std::string(SyncModeName(host.engine().sync_mode())));
    line("keys_estimate_local", std::to_string(host.engine().GetStats().keys_estimate));
    line("client_calls_in_flight", std::to_string(host.client_calls()));
    line("resp_absorbed_sets", std::to_string(view.absorbed->sets));
    line("resp_absorbed_gets", std::to_string(view.absorbed->gets));
  }
  return s;
}

}  // namespace

kj::Promise<std::string> AuthenticateClient(const GatewayView& view, ClientState& client,
                                            std::string user, std::string password) {
  std::string wrong = Error("WRONGPASS invalid username-password pair or user is disabled.");
  if (!view.options.authenticator) return wrong;
  ClientState* c = &client;
  return view.options.authenticator(std::move(user), std::move(password))
      .then([c, wrong](Result<Identity> who) -> std::string {
        if (who.ok() && who->role != Role::kNone) {
          c->authenticated = true;
          c->user = who->user;
          c->role = who->role;
          return std::string();
        }
        if (++c->failed_logins >= kLoginFailuresPerConnectionMax) c->quit = true;
        if (!who.ok() && who.status().code() != ErrorCode::kInvalidArgument) {
          return ErrorReply(who.status());  // e.g. kOverloaded: too many logins at once
        }
        return wrong;
      });
}

kj::Promise<std::string> Hello(const GatewayView& view, ClientState& client, Args&& args) {
  if (args.size() >= 2) {
    const std::string& proto = args[1];
    if (proto != "2") {
      const bool number = !proto.empty() && std::all_of(proto.begin(), proto.end(), [](char c) {
        return c >= '0' && c <= '9';
      });
      if (!number) return Error("ERR Protocol version is not an integer or out of range");
      return Error("NOPROTO sorry, this protocol version is not supported (RESP2 only)");
    }
  }
  // Options are checked first; a SETNAME applies only once the whole HELLO succeeds.
  const std::string* user = nullptr;
  const std::string* password = nullptr;
  const std::string* name = nullptr;
  for (size_t i = 2; i < args.size(); ++i) {
    const std::string opt = Lower(args[i]);
    if (opt == "auth" && i + 2 < args.size()) {
      user = &args[i + 1];
      password = &args[i + 2];
      i += 2;
    } else if (opt == "setname" && i + 1 < args.size()) {
      if (!ValidClientName(args[i + 1])) {
        return Error("ERR Client names cannot contain spaces, newlines or special characters.");
      }
      name = &args[++i];
    } else {
      return Error(StrCat("ERR Syntax error in HELLO option '", args[i].substr(0, 64), "'"));
    }
  }
  std::string new_name = name != nullptr ? *name : client.name;
  const GatewayView* v = &view;
  ClientState* c = &client;
  auto finish = [v, c, new_name](std::string auth_error) -> std::string {
    if (!auth_error.empty()) return auth_error;
    if (v->options.auth_required() && !c->authenticated) {
      return Error(
          "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
          "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
          "select the RESP protocol version at the same time");
    }
    c->name = new_name;
    std::string out;
    HelloReply(*v, *c, &out);
    return out;
  };
  if (user == nullptr) return finish(std::string());
  return AuthenticateClient(view, client, *user, *password).then(kj::mv(finish));
}

kj::Promise<std::string> Client(const GatewayView&, ClientState& client, Args&& args) {
  const std::string sub = Lower(args[1]);
  std::string out;
  if (sub == "setname" && args.size() == 3) {
    if (!ValidClientName(args[2])) {
      return Error("ERR Client names cannot contain spaces, newlines or special characters.");
    }
    client.name = args[2];
    return std::string("+OK\r\n");
  }
  if (sub == "getname" && args.size() == 2) {
    if (client.name.empty()) {
      AppendNull(&out);
    } else {
      AppendBulk(&out, client.name);
    }
    return out;
  }
  if (sub == "setinfo" && args.size() == 4) {
    const std::string attr = Lower(args[2]);
    if (!ValidClientName(args[3])) {
      return Error(
          "ERR lib-name and lib-ver cannot contain spaces, newlines or special "
          "characters.");
    }
    if (attr == "lib-name") {
      client.lib_name = args[3];
    } else if (attr == "lib-ver") {
      client.lib_ver = args[3];
    } else {
      return Error(StrCat("ERR Unrecognized option '", args[2].substr(0, 64), "'"));
    }
    return std::string("+OK\r\n");
  }
  if (sub == "id" && args.size() == 2) {
    AppendInteger(&out, static_cast<int64_t>(client.id));
    return out;
  }
  return UnknownSubcommand("CLIENT", args[1]);
}

kj::Promise<std::string> Command(const GatewayView&, ClientState&, Args&& args) {
  const auto& table = CommandTable();
  std::string out;
  if (args.size() == 1) {
    AppendArrayHeader(&out, table.size());
    for (const auto& spec : table) AppendCommandInfo(&out, spec);
    return out;
  }
  const std::string sub = Lower(args[1]);
  if (sub == "count" && args.size() == 2) {
    AppendInteger(&out, static_cast<int64_t>(table.size()));
    return out;
  }
  if (sub == "docs") {
    std::vector<const CommandSpec*> specs;
    if (args.size() == 2) {
      for (const auto& spec : table) specs.push_back(&spec);
    } else {
      for (size_t i = 2; i < args.size(); ++i) {
        if (const CommandSpec* spec = FindCommand(args[i])) specs.push_back(spec);
      }
    }
    AppendArrayHeader(&out, 2 * specs.size());
    for (const CommandSpec* spec : specs) AppendCommandDocs(&out, *spec);
    return out;
  }
  if (sub == "info") {
    AppendArrayHeader(&out, args.size() - 2);
    for (size_t i = 2; i < args.size(); ++i) {
      if (const CommandSpec* spec = FindCommand(args[i])) {
        AppendCommandInfo(&out, *spec);
      } else {
        AppendNull(&out);
      }
    }
    return out;
  }
  return UnknownSubcommand("COMMAND", args[1]);
}

kj::Promise<std::string> Config(const GatewayView& view, ClientState&, Args&& args) {
  const std::string sub = Lower(args[1]);
  if (sub != "get") {
    if (sub == "set" || sub == "resetstat" || sub == "rewrite") {
      return Error(StrCat("ERR CONFIG ", args[1],
                          " is not supported: Causeway is configured by `causeway serve` "
                          "settings (docs/operations.md)"));
    }
    return UnknownSubcommand("CONFIG", args[1]);
  }
  if (args.size() < 3) return Error("ERR wrong number of arguments for 'config|get' command");
  const std::pair<std::string_view, std::string> params[] = {
      {"save", ""},  // no RDB snapshots: every write goes to the WAL
      {"appendonly", "yes"},
      {"appendfsync", std::string(AppendFsyncName(view.host->engine().sync_mode()))},
      {"databases", "1"},
  };
  std::vector<const std::pair<std::string_view, std::string>*> hits;
  for (const auto& p : params) {
    for (size_t i = 2; i < args.size(); ++i) {
      if (GlobMatch(args[i], p.first)) {
        hits.push_back(&p);
        break;
      }
    }
  }
  std::string out;
  AppendArrayHeader(&out, 2 * hits.size());
  for (const auto* p : hits) {
    AppendBulk(&out, p->first);
    AppendBulk(&out, p->second);
  }
  return out;
}

kj::Promise<std::string> Info(const GatewayView& view, ClientState& client, Args&& args) {
  static constexpr std::string_view kSections[] = {"server", "clients", "keyspace", "causeway"};
  std::vector<std::string> wanted;
  for (size_t i = 1; i < args.size(); ++i) wanted.push_back(Lower(args[i]));
  const bool all =
      wanted.empty() || std::any_of(wanted.begin(), wanted.end(), [](const std::string& w) {
        return w == "all" || w == "everything" || w == "default";
      });
  std::string text;
  for (std::string_view section : kSections) {
    if (!all && std::find(wanted.begin(), wanted.end(), section) == wanted.end()) continue;
    if (!text.empty()) text += "\r\n";
    text += InfoSection(view, client, section);
  }
  std::string out;
  AppendBulk(&out, text);
  return out;
}

kj::Promise<std::string> DbSize(const GatewayView& view, ClientState&, Args&&) {
  std::string out;
  AppendInteger(&out, static_cast<int64_t>(KeysEstimate(*view.host)));
  return out;
}

}  // namespace causeway::rpc::resp
