// TLS for client and internode traffic (docs/design.md, "TLS: one port, two doors"), via kj-tls
// (OpenSSL 3), TLS 1.2 at least.
//
// Identities. Every certificate is signed by the cluster's CA (`tls_ca_file`; several CAs may be
// listed while one is rotated). A node's certificate has the common name
// "causeway-node-<node_id>" and DNS names "causeway-node-<node_id>", kPeerServerName and
// kClientServerName (plus any --host given to `causeway cert node`). A client certificate has the
// common name "causeway-client-<name>" and never a node's name, so it cannot pass for a peer.
//
// Doors. The node has one port for clients and peers; the listener sniffs each connection's first
// bytes: plaintext, or a TLS ClientHello whose server name (SNI) picks the door. A peer names
// kPeerServerName and must present a node certificate (mutual TLS); anything else (a client, or no
// SNI) gets the client door, which asks for a client certificate only with client_tls = mutual.
// Who may then call what is the bootstrap's decision (rpc/internal/bootstrap.h).
//
// TlsContexts are immutable once loaded and shared (std::shared_ptr): a reload (SIGHUP) builds new
// ones for new connections while open ones keep theirs. Loading reads files: call it off the loop.
#pragma once

#include <kj/compat/tls.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace causeway::rpc {

// The server name peers dial (SNI) and verify: every node certificate carries it.
inline constexpr std::string_view kPeerServerName = "causeway-node";
// The server name clients verify by default (--tls-server-name): every node certificate has it.
inline constexpr std::string_view kClientServerName = "causeway";
inline constexpr std::string_view kNodeCertPrefix = "causeway-node-";
inline constexpr std::string_view kClientCertPrefix = "causeway-client-";

// "n1" -> "causeway-node-n1".
std::string NodeCertName(std::string_view node_name);
// "causeway-node-n1" -> "n1"; nullopt for any other common name (a client's, a stranger's).
std::optional<std::string> NodeNameFromCertName(std::string_view common_name);

enum class ClientTls {
  kOff,     // clients connect in plaintext (TLS is accepted too, if the node has certificates)
  kOn,      // clients must use TLS; the node's certificate proves it to them
  kMutual,  // and must present a client certificate from the CA
};
std::string_view ClientTlsName(ClientTls mode);
Result<ClientTls> ParseClientTls(std::string_view text);

struct TlsFiles {
  std::string cert_file;  // PEM: this node's certificate (then any intermediates)
  std::string key_file;   // PEM: its private key, unencrypted (mode 0600)
  std::string ca_file;    // PEM: the CA certificate(s) trusted for peers and clients
};

struct TlsSettings {
  TlsFiles files;
  ClientTls client = ClientTls::kOff;
  bool peer = false;  // peers must use mutual TLS with a node certificate
  bool any() const { return client != ClientTls::kOff || peer; }
};

// The node's TLS contexts, built from its files.
// (mutable: kj's wrap calls are not const, but wrapping a stream leaves the context unchanged.)
struct TlsContexts {
  mutable kj::Own<kj::TlsContext> peer_door;    // verifies the other side's node certificate
  mutable kj::Own<kj::TlsContext> client_door;  // client certificates only with kMutual
  std::string cert_file;                        // where our certificate came from, for the log
};

// The node's current TLS contexts (null: no TLS; connections are plaintext). Called per new
// connection (accepted or dialled), so that a reload reaches new connections.
using TlsSource = std::function<std::shared_ptr<const TlsContexts>()>;

// Reads and checks the files (kInvalidArgument naming the file on any problem).
Result<std::shared_ptr<const TlsContexts>> LoadTlsContexts(const TlsSettings& settings);

// A client's context: trusts `ca_file`; presents `cert_file`/`key_file` when both are given.
Result<kj::Own<kj::TlsContext>> NewClientTlsContext(const std::string& ca_file,
                                                    const std::string& cert_file,
                                                    const std::string& key_file);

// The certificates of a PEM file, one per BEGIN CERTIFICATE block (a CA bundle).
Result<std::vector<kj::TlsCertificate>> LoadCertificates(const std::string& path);

}  // namespace causeway::rpc
