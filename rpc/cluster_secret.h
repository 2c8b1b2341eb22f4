// The cluster secret: what a node proves to its peers, and they to it, before any peer call
// (docs/design.md, "Threat model"; the exchange: schema Bootstrap.peerChallenge/peerAuth).
//
// The secret file holds 1..kClusterSecretsMax secrets, one per line (blank lines and `#` lines
// are skipped; each at least kClusterSecretBytesMin bytes, used as written, e.g. base64 text).
// The first secret proves; any of them is accepted. Rotating: add the new secret as a second line
// on every node (rolling restart), move it first everywhere, then drop the old one.
//
// Proofs are HMAC-SHA256 (libsodium) over a direction label, the caller's node id and both
// nonces, so a proof is bound to one connection and one direction and replaying or reflecting it
// fails. Comparison is constant-time. Immutable after Load; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/version.h"

namespace causeway::rpc {

class ClusterSecret {
 public:
  enum class Direction { kClientToServer, kServerToClient };

  static Result<ClusterSecret> Parse(std::string_view text, std::string_view source);
  static Result<ClusterSecret> Load(const std::string& path);

  // kPeerAuthNonceBytes of the OS's CSPRNG.
  static std::string NewNonce();

  // The proof with secret number `index` (0: the one that proves).
  std::string Proof(size_t index, Direction direction, NodeId caller, std::string_view server_nonce,
                    std::string_view client_nonce) const;
  // The index of the secret `proof` was made with, or -1 (constant-time per secret).
  int Verify(std::string_view proof, Direction direction, NodeId caller,
             std::string_view server_nonce, std::string_view client_nonce) const;

  size_t size() const { return secrets_.size(); }

 private:
  std::vector<std::string> secrets_;
};

}  // namespace causeway::rpc
