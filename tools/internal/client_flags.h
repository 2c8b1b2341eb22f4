// Flags shared by every command that talks to nodes (put, get, del, status, explain, bench):
// --endpoints, --timeout-ms, --session, --json (and --attempt-timeout-ms for put, get, del); and
// the session file round trip.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/limits.h"  // before rpc/client.h, which uses kRequestTimeoutMsDefault
#include "nlohmann/json_fwd.hpp"
#include "rpc/client.h"
#include "tools/internal/cli.h"

namespace causeway::tools {

inline constexpr std::string_view kDefaultEndpoint = "127.0.0.1:7400";

struct ClientFlags {
  std::string endpoints{kDefaultEndpoint};
  uint64_t timeout_ms = kRequestTimeoutMsDefault;
  uint64_t attempt_timeout_ms = kClientAttemptTimeoutMsDefault;
  std::string session_file;  // empty: no session carried across invocations
  bool json = false;
  // Credentials for a node with users (--user, --password-file): empty user, no login.
  std::string user;
  std::string password_file;
  // TLS (--tls-ca, --tls-cert, --tls-key, --tls-server-name): empty CA, plaintext.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_server_name = "causeway";
};

// Adds --endpoints (env CAUSEWAY_ENDPOINTS), --timeout-ms and --json; --session when `session`.
void AddClientFlags(CLI::App* cmd, ClientFlags* flags, bool session);
// Adds --attempt-timeout-ms (ClientOptions::attempt_timeout_ms).
void AddAttemptTimeoutFlag(CLI::App* cmd, ClientFlags* flags);

// Sets options->user and ->password from --user and --password-file (the file's first line, at
// most kPasswordBytesMax; a trailing newline is not part of it), and the TLS files (checked).
Status ApplyCredentials(const ClientFlags& flags, ClientOptions* options);

// Validates the flags and returns a client; loads the session token when --session FILE exists.
Result<std::unique_ptr<Client>> MakeClient(const ClientFlags& flags);
Result<std::vector<std::string>> ParseEndpoints(const std::string& text);
// Writes the client's session token back to --session FILE (atomically), if one was given.
Status SaveSession(const ClientFlags& flags, const Client& client);

// Sets object[name] to the bytes, or object[name + "_base64"] when they are not valid UTF-8.
void SetBytes(nlohmann::json& object, const std::string& name, std::string_view bytes);
// A key for messages: quoted when short and printable, else its length.
std::string DescribeKey(std::string_view key);

}  // namespace causeway::tools
