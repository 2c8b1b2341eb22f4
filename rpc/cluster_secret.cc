#include "rpc/cluster_secret.h"

#include <sodium.h>

#include <fstream>

#include "base/limits.h"
#include "base/strings.h"

namespace causeway::rpc {

Result<ClusterSecret> ClusterSecret::Parse(std::string_view text, std::string_view source) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  ClusterSecret out;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    if (line.empty() || line.front() == '#') continue;
    if (line.size() < kClusterSecretBytesMin) {
      return Status::InvalidArgument(StrCat("cluster secret file ", source, ": a secret of ",
                                            line.size(), " bytes; at least ",
                                            kClusterSecretBytesMin, " are needed"));
    }
    if (out.secrets_.size() >= kClusterSecretsMax) {
      return Status::InvalidArgument(
          StrCat("cluster secret file ", source, ": more than ", kClusterSecretsMax, " secrets"));
    }
    out.secrets_.emplace_back(line);
  }
  if (out.secrets_.empty()) {
    return Status::InvalidArgument(StrCat("cluster secret file ", source, " holds no secret"));
  }
  return out;
}

Result<ClusterSecret> ClusterSecret::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read cluster secret file " + path);
  std::string text(kClusterSecretFileBytesMax + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kClusterSecretFileBytesMax) {
    return Status::InvalidArgument(StrCat("cluster secret file ", path, " is larger than ",
                                          kClusterSecretFileBytesMax, " bytes"));
  }
  return Parse(text, path);
}

std::string ClusterSecret::NewNonce() {
  std::string nonce(kPeerAuthNonceBytes, '\0');
  randombytes_buf(nonce.data(), nonce.size());
  return nonce;
}

std::string ClusterSecret::Proof(size_t index, Direction direction, NodeId caller,
                                 std::string_view server_nonce,
                                 std::string_view client_nonce) const {
  static_assert(crypto_auth_hmacsha256_BYTES == kPeerAuthProofBytes);
  const std::string& secret = secrets_.at(index);
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size());
  auto feed = [&state](std::string_view bytes) {
    crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(bytes.data()),
                                  bytes.size());
  };
  // The label with its terminating NUL (docs/formats.md, "Cluster secret file").
  static constexpr char kClientLabel[] = "causeway-peer-client-v1";
  static constexpr char kServerLabel[] = "causeway-peer-server-v1";
  static_assert(sizeof(kClientLabel) == sizeof(kServerLabel));
  feed(direction == Direction::kClientToServer
           ? std::string_view(kClientLabel, sizeof(kClientLabel))
           : std::string_view(kServerLabel, sizeof(kServerLabel)));
  unsigned char id[8];
  for (int i = 0; i < 8; ++i) id[i] = static_cast<unsigned char>(caller >> (8 * i));
  feed(std::string_view(reinterpret_cast<const char*>(id), sizeof(id)));
  // Lengths first, so that no two (server, client) nonce pairs encode alike.
  unsigned char lens[2] = {static_cast<unsigned char>(server_nonce.size()),
                           static_cast<unsigned char>(client_nonce.size())};
  feed(std::string_view(reinterpret_cast<const char*>(lens), sizeof(lens)));
  feed(server_nonce);
  feed(client_nonce);
  std::string mac(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_final(&state, reinterpret_cast<unsigned char*>(mac.data()));
  sodium_memzero(&state, sizeof(state));
  return mac;
}

int ClusterSecret::Verify(std::string_view proof, Direction direction, NodeId caller,
                          std::string_view server_nonce, std::string_view client_nonce) const {
  if (proof.size() != kPeerAuthProofBytes) return -1;
  int found = -1;
  for (size_t i = 0; i < secrets_.size(); ++i) {
    std::string expected = Proof(i, direction, caller, server_nonce, client_nonce);
    if (sodium_memcmp(expected.data(), proof.data(), kPeerAuthProofBytes) == 0 && found < 0) {
      found = static_cast<int>(i);
    }
  }
  return found;
}

}  // namespace causeway::rpc
