// The command table and the data commands (GET, SET, MGET, MSET, DEL, EXISTS) plus the
// connection commands (PING, ECHO, AUTH, QUIT, SELECT, CAUSEWAY.CONSISTENCY). Introspection
// (HELLO, CLIENT, COMMAND, CONFIG, INFO, DBSIZE) lives in server_commands.cc.
#include "rpc/resp/commands.h"

#include <kj/async.h>

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_map>

#include "base/limits.h"
#include "base/strings.h"
#include "rpc/internal/errors.h"
#include "rpc/internal/node_host.h"
#include "rpc/resp/reply.h"
#include "rpc/resp/server_commands.h"

namespace causeway::rpc::resp {
namespace {

using cluster::ClientResult;

std::string Ok() { return "+OK\r\n"; }

ClientResult FromFailure(kj::Exception&& e) { return ClientResult{FromException(e), {}, {}}; }

// One read through the coordinator in the connection's session; the version read is observed.
kj::Promise<ClientResult> ReadKey(const GatewayView& view, ClientState& client, std::string key) {
  cluster::ClientRead read;
  read.key = key;
  read.r = client.r;
  read.session = client.SessionFor(key);
  return view.host->Read(std::move(read), client.stats)
      .then(
          [&client, key = std::move(key)](ClientResult r) {
            if (r.status.ok() && r.version) client.Observe(key, *r.version);
            return r;
          },
          FromFailure);
}

kj::Promise<ClientResult> WriteKey(const GatewayView& view, ClientState& client, std::string key,
                                   std::string value, bool tombstone) {
  cluster::ClientWrite write;
  write.key = key;
  write.value = std::move(value);
  write.tombstone = tombstone;
  write.w = client.w;
  write.session = client.SessionFor(key);
  return view.host->Write(std::move(write), client.stats)
      .then(
          [&client, key = std::move(key)](ClientResult r) {
            if (r.status.ok() && r.version) client.Observe(key, *r.version);
            return r;
          },
          FromFailure);
}

bool Present(const ClientResult& r) { return r.version && !r.version->tombstone; }

Status ValueTooLarge(size_t bytes) {
  return Status::InvalidArgument(StrCat("value of ", bytes, " bytes exceeds the limit of ",
                                        kValueBytesMax, " bytes; nothing was written"));
}

Status CheckKeyCount(size_t keys) {
  if (keys <= kBatchKeysMax) return Status::Ok();
  return Status::InvalidArgument(
      StrCat(keys, " keys exceed the limit of ", kBatchKeysMax, " keys per command"));
}

// Distinct keys in first-seen order, and each argument's index among them.
struct Distinct {
  std::vector<std::string> keys;
  std::vector<size_t> index;
};
Distinct DistinctKeys(Args& args, size_t from) {
  Distinct d;
  std::unordered_map<std::string_view, size_t> seen;
  for (size_t i = from; i < args.size(); ++i) {
    auto [it, inserted] = seen.emplace(args[i], d.keys.size());
    if (inserted) d.keys.push_back(args[i]);
    d.index.push_back(it->second);
  }
  return d;
}

template <typename T>
kj::Promise<std::vector<T>> JoinAll(kj::Array<kj::Promise<T>> promises) {
  return kj::joinPromises(kj::mv(promises)).then([](kj::Array<T> all) {
    return std::vector<T>(std::make_move_iterator(all.begin()), std::make_move_iterator(all.end()));
  });
}

// The first failure of a multi-key command, naming how many keys failed.
std::optional<std::string> FirstFailure(const std::vector<ClientResult>& results,
                                        std::string_view command, bool writes) {
  size_t failed = 0;
  const Status* first = nullptr;
  for (const auto& r : results) {
    if (r.status.ok()) continue;
    ++failed;
    if (first == nullptr) first = &r.status;
  }
  if (first == nullptr) return std::nullopt;
  std::string message = StrCat(command, ": ", failed, " of ", results.size(), " keys failed",
                               writes ? " (the others were written)" : "", ": ", first->message());
  return Error(ErrorReply(Status(first->code(), message)));
}

// ---- data commands -----------------------------------------------------------------------

kj::Promise<std::string> Get(const GatewayView& view, ClientState& client, Args&& args) {
  return ReadKey(view, client, std::move(args[1])).then([](ClientResult r) {
    std::string out;
    if (!r.status.ok()) {
      AppendStatusError(&out, r.status);
    } else if (!Present(r)) {
      AppendNull(&out);
    } else {
      AppendBulk(&out, r.version->value);
    }
    return out;
  });
}

struct SetOptions {
  bool nx = false, xx = false, get = false;
};

// SET's options; EX/PX/EXAT/PXAT are refused: Causeway keys do not expire, and ignoring a TTL
// would keep data the client expects gone.
Result<SetOptions> ParseSetOptions(const Args& args) {
  SetOptions o;
  for (size_t i = 3; i < args.size(); ++i) {
    const std::string opt = Lower(args[i]);
    if (opt == "nx") {
      o.nx = true;
    } else if (opt == "xx") {
      o.xx = true;
    } else if (opt == "get") {
      o.get = true;
    } else if (opt == "keepttl") {
      // No key has a TTL, so keeping it is what always happens.
    } else if (opt == "ex" || opt == "px" || opt == "exat" || opt == "pxat") {
      return Status::InvalidArgument(
          StrCat("SET ", args[i],
                 " is not supported: Causeway keys do not expire (no TTL); nothing was written"));
    } else {
      return Status::InvalidArgument("syntax error");
    }
  }
  if (o.nx && o.xx) return Status::InvalidArgument("syntax error");
  return o;
}

// NX, XX and GET read the key first, then write in the same session: not atomic (another client
// may write in between), documented in docs/operations.md.
kj::Promise<std::string> Set(const GatewayView& view, ClientState& client, Args&& args) {
  Result<SetOptions> opts = ParseSetOptions(args);
  if (!opts.ok()) return Error(ErrorReply(opts.status()));
  if (args[2].size() > kValueBytesMax) return Error(ErrorReply(ValueTooLarge(args[2].size())));
  const SetOptions o = *opts;
  if (!o.nx && !o.xx && !o.get) {
    return WriteKey(view, client, std::move(args[1]), std::move(args[2]), false)
        .then([](const ClientResult& r) {
          return r.status.ok() ? Ok() : Error(ErrorReply(r.status));
        });
  }
  kj::Promise<ClientResult> read = ReadKey(view, client, args[1]);
  return read.then([&view, &client, o, key = std::move(args[1]), value = std::move(args[2])](
                       ClientResult old) mutable -> kj::Promise<std::string> {
    if (!old.status.ok()) return Error(ErrorReply(old.status));
    const bool present = Present(old);
    std::string old_reply;
    if (present) {
      AppendBulk(&old_reply, old.version->value);
    } else {
      AppendNull(&old_reply);
    }
    if ((o.nx && present) || (o.xx && !present)) {
      return o.get ? old_reply : std::string("$-1\r\n");
    }
    return WriteKey(view, client, std::move(key), std::move(value), false)
        .then([o, old_reply = std::move(old_reply)](const ClientResult& r) {
          if (!r.status.ok()) return Error(ErrorReply(r.status));
          return o.get ? old_reply : Ok();
        });
  });
}

kj::Promise<std::string> MGet(const GatewayView& view, ClientState& client, Args&& args) {
  Distinct d = DistinctKeys(args, 1);
  if (Status s = CheckKeyCount(d.keys.size()); !s.ok()) return Error(ErrorReply(s));
  auto reads = kj::heapArrayBuilder<kj::Promise<ClientResult>>(d.keys.size());
  for (auto& key : d.keys) reads.add(ReadKey(view, client, std::move(key)));
  return JoinAll(reads.finish()).then([index = std::move(d.index)](std::vector<ClientResult> rs) {
    if (auto failure = FirstFailure(rs, "MGET", false)) return *failure;
    // The reply is bounded as a native MultiGet's is (kBatchBytesMax): kBatchKeysMax values of
    // up to 1 MiB would otherwise make one reply of 1 GiB.
    size_t bytes = 0;
    for (size_t i : index) bytes += Present(rs[i]) ? rs[i].version->value.size() : 0;
    if (bytes > kBatchBytesMax) {
      return StrCat("-ERR MGET reply of ", bytes, " value bytes exceeds the limit of ",
                    kBatchBytesMax, ": ask for fewer keys\r\n");
    }
    std::string out;
    AppendArrayHeader(&out, index.size());
    for (size_t i : index) {
      if (Present(rs[i])) {
        AppendBulk(&out, rs[i].version->value);
      } else {
        AppendNull(&out);
      }
    }
    return out;
  });
}

kj::Promise<std::string> MSet(const GatewayView& view, ClientState& client, Args&& args) {
  if (args.size() % 2 == 0) return Error("ERR wrong number of arguments for 'mset' command");
  // A key given twice: its last value wins, as in Redis (one write per key).
  std::map<std::string_view, size_t> last;
  for (size_t i = 1; i < args.size(); i += 2) last[args[i]] = i;
  if (Status s = CheckKeyCount(last.size()); !s.ok()) return Error(ErrorReply(s));
  for (const auto& [key, i] : last) {
    if (args[i + 1].size() > kValueBytesMax) {
      return Error(ErrorReply(ValueTooLarge(args[i + 1].size())));
    }
  }
  auto writes = kj::heapArrayBuilder<kj::Promise<ClientResult>>(last.size());
  for (const auto& [key, i] : last) {
    writes.add(WriteKey(view, client, std::move(args[i]), std::move(args[i + 1]), false));
  }
  return JoinAll(writes.finish()).then([](const std::vector<ClientResult>& rs) {
    if (auto failure = FirstFailure(rs, "MSET", true)) return *failure;
    return Ok();
  });
}

// DEL reads each key (to count what existed) and then writes its tombstone, whatever the read
// said: a replica the read did not ask may still hold the key.
struct Deleted {
  ClientResult result;  // the tombstone's write (its status: the read's failure if that failed)
  bool existed = false;
};

kj::Promise<std::string> Del(const GatewayView& view, ClientState& client, Args&& args) {
  Distinct d = DistinctKeys(args, 1);
  if (Status s = CheckKeyCount(d.keys.size()); !s.ok()) return Error(ErrorReply(s));
  auto deletes = kj::heapArrayBuilder<kj::Promise<Deleted>>(d.keys.size());
  for (auto& key : d.keys) {
    kj::Promise<ClientResult> lookup = ReadKey(view, client, key);
    deletes.add(
        lookup.then([&view, &client, key = std::move(key)](const ClientResult& read) mutable {
          const bool existed = read.status.ok() && Present(read);
          return WriteKey(view, client, std::move(key), {}, true)
              .then([existed, read_status = read.status](ClientResult r) {
                if (r.status.ok() && !read_status.ok()) r.status = read_status;
                return Deleted{std::move(r), existed};
              });
        }));
  }
  return JoinAll(deletes.finish()).then([](std::vector<Deleted> ds) {
    std::vector<ClientResult> rs;
    int64_t removed = 0;
    for (auto& del : ds) {
      removed += del.existed ? 1 : 0;
      rs.push_back(std::move(del.result));
    }
    if (auto failure = FirstFailure(rs, "DEL", true)) return *failure;
    std::string out;
    AppendInteger(&out, removed);
    return out;
  });
}

kj::Promise<std::string> Exists(const GatewayView& view, ClientState& client, Args&& args) {
  Distinct d = DistinctKeys(args, 1);
  if (Status s = CheckKeyCount(d.keys.size()); !s.ok()) return Error(ErrorReply(s));
  auto reads = kj::heapArrayBuilder<kj::Promise<ClientResult>>(d.keys.size());
  for (auto& key : d.keys) reads.add(ReadKey(view, client, std::move(key)));
  return JoinAll(reads.finish()).then([index = std::move(d.index)](std::vector<ClientResult> rs) {
    if (auto failure = FirstFailure(rs, "EXISTS", false)) return *failure;
    int64_t n = 0;
    for (size_t i : index) n += Present(rs[i]) ? 1 : 0;
    std::string out;
    AppendInteger(&out, n);
    return out;
  });
}

// ---- connection commands ------------------------------------------------------------------

kj::Promise<std::string> Ping(const GatewayView&, ClientState&, Args&& args) {
  if (args.size() > 2) return Error("ERR wrong number of arguments for 'ping' command");
  if (args.size() == 1) return std::string("+PONG\r\n");
  std::string out;
  AppendBulk(&out, args[1]);
  return out;
}

kj::Promise<std::string> Echo(const GatewayView&, ClientState&, Args&& args) {
  std::string out;
  AppendBulk(&out, args[1]);
  return out;
}

kj::Promise<std::string> Auth(const GatewayView& view, ClientState& client, Args&& args) {
  if (args.size() > 3) return Error("ERR syntax error");
  if (!view.options.auth_required()) {
    return Error(
        "ERR AUTH <password> called without any password configured for the default user. Are "
        "you sure your configuration is correct?");
  }
  std::string user = args.size() == 3 ? args[1] : std::string("default");
  return AuthenticateClient(view, client, std::move(user), std::move(args.back()))
      .then([](std::string error) -> std::string {
        if (error.empty()) return Ok();
        return error;
      });
}

kj::Promise<std::string> Quit(const GatewayView&, ClientState& client, Args&&) {
  client.quit = true;
  return Ok();
}

kj::Promise<std::string> Select(const GatewayView&, ClientState&, Args&& args) {
  if (args[1] == "0") return Ok();
  for (char c : args[1]) {
    if (c < '0' || c > '9') return Error("ERR value is not an integer or out of range");
  }
  return Error("ERR DB index is out of range (Causeway has one keyspace: SELECT 0)");
}

Result<cluster::Consistency> ParseConsistency(std::string_view text, int rf) {
  const std::string t = Lower(text);
  if (t == "default") return cluster::Consistency{};
  if (t == "one") return cluster::Consistency::One();
  if (t == "quorum") return cluster::Consistency::Quorum();
  if (t == "all") return cluster::Consistency::All();
  int n = 0;
  for (char c : t) {
    if (c < '0' || c > '9' || n > kReplicationFactorMax) {
      n = -1;
      break;
    }
    n = n * 10 + (c - '0');
  }
  if (t.empty() || n < 1 || n > rf) {
    return Status::InvalidArgument(StrCat(
        "consistency '", text, "' must be default, one, quorum, all or 1..rf (rf = ", rf, ")"));
  }
  return cluster::Consistency::Number(n);
}

// CAUSEWAY.CONSISTENCY: the connection's R and W (no arguments: the current ones).
kj::Promise<std::string> SetConsistency(const GatewayView& view, ClientState& client, Args&& args) {
  if (args.size() == 1) {
    std::string out;
    AppendArrayHeader(&out, 2);
    AppendBulk(&out, ConsistencyName(client.r));
    AppendBulk(&out, ConsistencyName(client.w));
    return out;
  }
  if (args.size() != 3) {
    return Error("ERR wrong number of arguments for 'causeway.consistency' command");
  }
  const int rf = view.host->config().rf;
  auto r = ParseConsistency(args[1], rf);
  if (!r.ok()) return Error(ErrorReply(r.status()));
  auto w = ParseConsistency(args[2], rf);
  if (!w.ok()) return Error(ErrorReply(w.status()));
  client.r = *r;
  client.w = *w;
  return Ok();
}

std::string UnknownCommand(const Args& args) {
  std::string msg =
      "ERR unknown command '" + args[0].substr(0, 128) + "', with args beginning with:";
  for (size_t i = 1; i < args.size() && i < 8; ++i) msg += " '" + args[i].substr(0, 128) + "'";
  return Error(msg);
}

}  // namespace

std::string ConsistencyName(const cluster::Consistency& c) {
  switch (c.kind) {
    case cluster::Consistency::Kind::kDefault:
      return "default";
    case cluster::Consistency::Kind::kOne:
      return "one";
    case cluster::Consistency::Kind::kQuorum:
      return "quorum";
    case cluster::Consistency::Kind::kAll:
      return "all";
    case cluster::Consistency::Kind::kNumber:
      return std::to_string(c.n);
  }
  return "default";
}

void ClientState::Observe(std::string_view key, const Version& version) {
  session_.Observe(key, cluster::Dot{version.timestamp, version.writer});
}

cluster::SessionToken ClientState::SessionFor(std::string_view key) const {
  std::string_view keys[] = {key};
  return session_.ScopedTo(keys);
}

const std::vector<CommandSpec>& CommandTable() {
  static const std::vector<CommandSpec> kTable = {
      {"get", 2, "readonly fast", 1, 1, 1, false, "string", "Get the value of a key", "O(1)", Get},
      {"set", -3, "write denyoom", 1, 1, 1, false, "string",
       "Set the value of a key (NX/XX/GET read first: not atomic; EX/PX refused)", "O(1)", Set},
      {"mget", -2, "readonly fast", 1, -1, 1, false, "string", "Get the values of keys",
       "O(N) where N is the number of keys", MGet},
      {"mset", -3, "write denyoom", 1, -1, 2, false, "string", "Set several keys (not atomic)",
       "O(N) where N is the number of keys", MSet},
      {"del", -2, "write", 1, -1, 1, false, "keyspace", "Delete keys",
       "O(N) where N is the number of keys", Del},
      {"exists", -2, "readonly fast", 1, -1, 1, false, "keyspace", "Count the keys that exist",
       "O(N) where N is the number of keys", Exists},
      {"ping", -1, "fast", 0, 0, 0, false, "connection", "Ping the server", "O(1)", Ping},
      {"echo", 2, "fast", 0, 0, 0, false, "connection", "Echo the given string", "O(1)", Echo},
      {"auth", -2, "noscript loading stale fast no_auth", 0, 0, 0, true, "connection",
       "Authenticate the connection", "O(N) where N is the password length", Auth},
      {"quit", -1, "fast no_auth", 0, 0, 0, true, "connection", "Close the connection", "O(1)",
       Quit},
      {"select", 2, "loading stale fast", 0, 0, 0, false, "connection",
       "Select the database (only 0)", "O(1)", Select},
      {"hello", -1, "noscript loading stale fast no_auth", 0, 0, 0, true, "connection",
       "Handshake (protocol 2 only)", "O(1)", Hello},
      {"client", -2, "noscript loading stale", 0, 0, 0, false, "connection",
       "CLIENT SETNAME, GETNAME, SETINFO, ID", "O(1)", Client},
      {"command", -1, "loading stale", 0, 0, 0, false, "server",
       "COMMAND, COMMAND COUNT, COMMAND DOCS, COMMAND INFO", "O(N) where N is the commands",
       Command},
      {"config", -2, "admin noscript loading stale", 0, 0, 0, false, "server",
       "CONFIG GET (save, appendonly, appendfsync)", "O(N)", Config},
      {"info", -1, "loading stale", 0, 0, 0, false, "server",
       "Sections server, clients, keyspace, causeway", "O(1)", Info},
      {"dbsize", 1, "readonly fast", 0, 0, 0, false, "server",
       "An estimate of the number of keys (see docs/operations.md)", "O(1)", DbSize},
      {"causeway.consistency", -1, "fast", 0, 0, 0, false, "connection",
       "Set (r w) or get the connection's read and write consistency", "O(1)", SetConsistency},
  };
  return kTable;
}

const CommandSpec* FindCommand(std::string_view name) {
  static const auto* by_name = [] {
    auto* m = new std::unordered_map<std::string_view, const CommandSpec*>();
    for (const auto& spec : CommandTable()) (*m)[spec.name] = &spec;
    return m;
  }();
  if (name.size() > 32) return nullptr;
  const std::string lower = Lower(name);
  auto it = by_name->find(lower);
  return it == by_name->end() ? nullptr : it->second;
}

void KeysOf(const CommandSpec& spec, const Args& args, std::vector<std::string>* keys) {
  keys->clear();
  if (spec.first_key <= 0) return;
  const int n = static_cast<int>(args.size());
  const int last = spec.last_key < 0 ? n + spec.last_key : spec.last_key;
  for (int i = spec.first_key; i <= last && i < n; i += spec.step) keys->push_back(args[i]);
}

Absorbable AbsorbableAs(const Args& args) {
  // Case-insensitive, without allocating: this runs for every command a connection parses.
  auto is = [&args](std::string_view lower) {
    return args[0].size() == lower.size() &&
           std::equal(lower.begin(), lower.end(), args[0].begin(), [](char l, char c) {
             return l == std::tolower(static_cast<unsigned char>(c));
           });
  };
  if (args.size() == 3 && args[2].size() <= kValueBytesMax && is("set")) {
    return Absorbable::kPlainSet;
  }
  if (args.size() == 2 && is("get")) return Absorbable::kGet;
  return Absorbable::kNone;
}

bool Absorbs(const Args& earlier, Absorbable earlier_kind, const Args& later,
             Absorbable later_kind) {
  return earlier_kind != Absorbable::kNone && earlier_kind == later_kind && earlier[1] == later[1];
}

Role RoleNeeded(const CommandSpec& spec) {
  const auto has = [&spec](std::string_view flag) {
    std::string_view rest = spec.flags;
    while (!rest.empty()) {
      const size_t sp = rest.find(' ');
      if (rest.substr(0, sp) == flag) return true;
      rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    }
    return false;
  };
  if (has("admin")) return Role::kAdmin;
  if (has("write")) return Role::kWrite;
  if (has("readonly")) return Role::kRead;
  return Role::kNone;  // connection and introspection commands: any authenticated user
}

kj::Promise<std::string> Execute(const GatewayView& view, ClientState& client, Args args) {
  const CommandSpec* spec = FindCommand(args[0]);
  if (spec == nullptr) return UnknownCommand(args);
  if (view.options.auth_required() && !client.authenticated && !spec->before_auth) {
    return Error("NOAUTH Authentication required.");
  }
  if (!RoleAllows(client.role, RoleNeeded(*spec))) {
    return Error(StrCat("NOPERM User ", client.user, " has no permissions to run the '", spec->name,
                        "' command"));
  }
  const int n = static_cast<int>(args.size());
  if ((spec->arity > 0 && n != spec->arity) || (spec->arity < 0 && n < -spec->arity)) {
    return Error(StrCat("ERR wrong number of arguments for '", spec->name, "' command"));
  }
  return spec->handler(view, client, std::move(args)).catch_([](kj::Exception&& e) {
    return Error(ErrorReply(FromException(e)));
  });
}

}  // namespace causeway::rpc::resp
