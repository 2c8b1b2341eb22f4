#include "tools/internal/client_flags.h"

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "base/limits.h"
#include "rpc/tls.h"

namespace causeway::tools {

void AddClientFlags(CLI::App* cmd, ClientFlags* flags, bool session) {
  cmd->add_option("--endpoints", flags->endpoints,
                  "HOST:PORT[,HOST:PORT...] of nodes to talk to; a call moves on to the next "
                  "when one is down, paused or cannot serve it")
      ->envname("CAUSEWAY_ENDPOINTS")
      ->capture_default_str();
  cmd->add_option("--timeout-ms", flags->timeout_ms, "deadline of each call")
      ->check(CLI::Range(uint64_t{1}, kRequestTimeoutMsMax))
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "print JSON, one object per line");
  cmd->add_option("--user", flags->user,
                  "log in as this user (nodes started with a users file require it)")
      ->envname("CAUSEWAY_USER");
  cmd->add_option("--password-file", flags->password_file,
                  "file holding --user's password (its first line)")
      ->envname("CAUSEWAY_PASSWORD_FILE");
  cmd->add_option("--tls-ca", flags->tls_ca_file,
                  "connect with TLS, trusting the CA certificate(s) in this PEM file (nodes with "
                  "client_tls on require it)")
      ->envname("CAUSEWAY_TLS_CA");
  cmd->add_option("--tls-cert", flags->tls_cert_file,
                  "client certificate (PEM) to present, for nodes with client_tls = mutual")
      ->envname("CAUSEWAY_TLS_CERT");
  cmd->add_option("--tls-key", flags->tls_key_file, "private key (PEM) of --tls-cert")
      ->envname("CAUSEWAY_TLS_KEY");
  cmd->add_option("--tls-server-name", flags->tls_server_name,
                  "name the node's certificate must carry (every `causeway cert node` "
                  "certificate carries causeway and its --host names)")
      ->capture_default_str();
  if (session) {
    cmd->add_option("--session", flags->session_file,
                    "session token file: read before the call, written after, so separate "
                    "invocations read their own writes and never go back in time");
  }
}

void AddAttemptTimeoutFlag(CLI::App* cmd, ClientFlags* flags) {
  cmd->add_option("--attempt-timeout-ms", flags->attempt_timeout_ms,
                  "deadline of the call on one endpoint (the node is told it): when it passes, "
                  "or the node answers unavailable, overloaded or a disk or clock error, the call "
                  "moves on to the next endpoint; the last endpoint left gets the rest of "
                  "--timeout-ms")
      ->check(CLI::Range(uint64_t{1}, kRequestTimeoutMsMax))
      ->capture_default_str();
}

Result<std::vector<std::string>> ParseEndpoints(const std::string& text) {
  std::vector<std::string> endpoints = SplitList(text);
  if (endpoints.empty()) {
    return Status::InvalidArgument("--endpoints is empty: give HOST:PORT[,HOST:PORT...]");
  }
  for (const auto& e : endpoints) {
    if (Status s = ValidateHostPort(e); !s.ok()) {
      return Status::InvalidArgument("--endpoints: " + s.message());
    }
  }
  return endpoints;
}

namespace {

Status ApplyTls(const ClientFlags& flags, ClientOptions* options) {
  if (flags.tls_ca_file.empty()) {
    if (!flags.tls_cert_file.empty() || !flags.tls_key_file.empty()) {
      return Status::InvalidArgument("--tls-cert and --tls-key need --tls-ca");
    }
    return Status::Ok();
  }
  // Read now, so that a bad file is a usage error here rather than every call's failure.
  auto checked =
      rpc::NewClientTlsContext(flags.tls_ca_file, flags.tls_cert_file, flags.tls_key_file);
  if (!checked.ok()) return checked.status();
  options->tls_ca_file = flags.tls_ca_file;
  options->tls_cert_file = flags.tls_cert_file;
  options->tls_key_file = flags.tls_key_file;
  options->tls_server_name = flags.tls_server_name;
  return Status::Ok();
}

}  // namespace

Status ApplyCredentials(const ClientFlags& flags, ClientOptions* options) {
  if (Status s = ApplyTls(flags, options); !s.ok()) return s;
  if (flags.user.empty()) {
    if (!flags.password_file.empty()) {
      return Status::InvalidArgument("--password-file needs --user");
    }
    return Status::Ok();
  }
  if (flags.password_file.empty()) {
    return Status::InvalidArgument("--user needs --password-file FILE (the password's file)");
  }
  auto password = ReadFileBounded(flags.password_file, kPasswordBytesMax + 2);
  if (!password.ok()) return password.status();
  std::string text = std::move(password).value();
  if (size_t eol = text.find('\n'); eol != std::string::npos) text.resize(eol);
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty() || text.size() > kPasswordBytesMax) {
    return Status::InvalidArgument("--password-file " + flags.password_file +
                                   ": a password is 1.." + std::to_string(kPasswordBytesMax) +
                                   " bytes on its first line");
  }
  options->user = flags.user;
  options->password = std::move(text);
  return Status::Ok();
}

Result<std::unique_ptr<Client>> MakeClient(const ClientFlags& flags) {
  auto endpoints = ParseEndpoints(flags.endpoints);
  if (!endpoints.ok()) return endpoints.status();
  ClientOptions options;
  options.endpoints = std::move(*endpoints);
  options.timeout_ms = flags.timeout_ms;
  options.attempt_timeout_ms = flags.attempt_timeout_ms;
  options.connect_timeout_ms = std::min<uint64_t>(options.connect_timeout_ms, flags.timeout_ms);
  if (Status s = ApplyCredentials(flags, &options); !s.ok()) return s;
  auto client = std::make_unique<Client>(std::move(options));
  struct stat st {};
  if (!flags.session_file.empty() && ::stat(flags.session_file.c_str(), &st) == 0) {
    auto token = ReadFileBounded(flags.session_file, kSessionTokenBytesMax);
    if (!token.ok()) return token.status();
    if (token->size() > kSessionTokenBytesMax) {
      return Status::InvalidArgument("--session " + flags.session_file +
                                     " is larger than any session token: is it the right file?");
    }
    client->set_session(std::move(*token));
  }
  return client;
}

Status SaveSession(const ClientFlags& flags, const Client& client) {
  if (flags.session_file.empty()) return Status::Ok();
  return WriteFileAtomic(flags.session_file, client.session());
}

void SetBytes(nlohmann::json& object, const std::string& name, std::string_view bytes) {
  if (IsValidUtf8(bytes)) {
    object[name] = std::string(bytes);
  } else {
    object[name + "_base64"] = Base64Encode(bytes);
  }
}

std::string DescribeKey(std::string_view key) {
  constexpr size_t kShownBytesMax = 80;
  bool printable = key.size() <= kShownBytesMax;
  for (char c : key) printable = printable && c >= 0x20 && c < 0x7f;
  if (printable) return "'" + std::string(key) + "'";
  return "of " + std::to_string(key.size()) + " bytes";
}

}  // namespace causeway::tools
