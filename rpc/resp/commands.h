// The RESP command table (docs/operations.md, "Redis clients (RESP)"): which Redis commands the
// gateway answers and how each maps onto the node's coordinator (rpc::NodeHost's Read and
// Write, no Cap'n Proto hop).
//
// A command runs on the node's loop thread. Execute() checks the arity and, when a password is
// set, that the connection authenticated, then runs the handler; the reply is encoded RESP.
// Data commands run through NodeHost with the connection's causal session (ClientState): every
// version a command read or wrote is observed into it, so the session guarantees (read your
// writes, monotonic reads and writes) hold per connection, whichever node coordinates. Several
// keys of one command (MGET, MSET, DEL, EXISTS) run concurrently; the connection orders commands
// that touch the same key (connection.h).
//
// Lifetime: the promise Execute() returns borrows `client` and `view`; the connection owns the
// promise and destroys it (cancelling the command) before the client state goes.
#pragma once

#include <kj/async.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/version.h"
#include "cluster/messages.h"
#include "cluster/session.h"
#include "rpc/internal/listener.h"
#include "rpc/resp/options.h"

namespace causeway::rpc {
class NodeHost;
}

namespace causeway::rpc::resp {

// One connection's state, read and changed by its commands.
class ClientState {
 public:
  uint64_t id = 0;
  std::shared_ptr<ConnStats> stats;
  cluster::Consistency r;  // kDefault: the node's default (CAUSEWAY.CONSISTENCY changes them)
  cluster::Consistency w;
  bool authenticated = false;
  Role role = Role::kNone;  // what the connection may run (kAdmin when no AUTH is required)
  size_t failed_logins = 0;
  std::string user;
  std::string name;               // CLIENT SETNAME
  std::string lib_name, lib_ver;  // CLIENT SETINFO
  bool quit = false;              // QUIT: close once this reply is written

  // The causal session: every version the connection's commands saw or wrote.
  void Observe(std::string_view key, const Version& version);
  // The session to send with a request for `key`: the part of it the request depends on
  // (cluster::SessionToken::ScopedTo), at most one entry however many keys the session holds.
  cluster::SessionToken SessionFor(std::string_view key) const;

 private:
  cluster::SessionToken session_;
};

// What commands see of the node and its gateway. Owned by the gateway; outlives connections.
struct GatewayView {
  NodeHost* host = nullptr;
  RespOptions options;
  std::function<size_t()> clients;  // RESP connections open now
  uint64_t started_ms = 0;          // MonotonicMs() at start
  int port = 0;                     // the bound RESP port
  // Commands answered by another command's write or read (absorption, connection.h); INFO
  // causeway reports them. Loop-thread only.
  struct Absorbed {
    uint64_t sets = 0;
    uint64_t gets = 0;
  };
  std::shared_ptr<Absorbed> absorbed = std::make_shared<Absorbed>();
};

using Args = std::vector<std::string>;
using Handler = kj::Promise<std::string> (*)(const GatewayView& view, ClientState& client,
                                             Args&& args);

struct CommandSpec {
  std::string_view name;          // lower case, as COMMAND reports it
  int arity;                      // Redis's: n exactly n arguments (name included), -n at least n
  std::string_view flags;         // Redis's command flags, space-separated ("write denyoom")
  int first_key, last_key, step;  // Redis's key positions (last -1: to the end), 0: none
  bool before_auth;               // allowed before AUTH when a password is set
  std::string_view group, summary, complexity;
  Handler handler;
};

const std::vector<CommandSpec>& CommandTable();
// Case-insensitive; null when unknown.
const CommandSpec* FindCommand(std::string_view name);
// The keys `args` of `spec` touch (duplicates included), by the spec's key positions.
void KeysOf(const CommandSpec& spec, const Args& args, std::vector<std::string>* keys);

// Which commands a connection may absorb into a neighbour (connection.h, docs/design.md "Write
// and read absorption"): a plain `SET k v` (exactly three arguments, so no NX/XX/GET option,
// and a value within kValueBytesMax, so its reply cannot be a per-command error) and `GET k`.
// Everything else is kNone and is never absorbed, nor absorbed across.
enum class Absorbable { kNone, kPlainSet, kGet };
Absorbable AbsorbableAs(const Args& args);
// `later` may share `earlier`'s write or read: both the same absorbable kind on the same key.
bool Absorbs(const Args& earlier, Absorbable earlier_kind, const Args& later,
             Absorbable later_kind);

// "default", "one", "quorum", "all" or the number (CAUSEWAY.CONSISTENCY, INFO).
std::string ConsistencyName(const cluster::Consistency& c);

// The role a connection needs to run `spec`, by its Redis flags: "admin" admin, "write" write,
// "readonly" read, else none (any authenticated connection).
Role RoleNeeded(const CommandSpec& spec);

// Runs one command (args[0] its name); the encoded reply. Unknown commands, wrong arity and
// missing authentication are answered with their errors.
kj::Promise<std::string> Execute(const GatewayView& view, ClientState& client, Args args);

}  // namespace causeway::rpc::resp
