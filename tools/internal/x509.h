// Development certificates for `causeway cert` (tools/cert_command.cc), with OpenSSL 3: EC P-256
// keys, X.509 v3 certificates signed with SHA-256 (docs/operations.md, "TLS").
//
//   ca      self-signed, CA:TRUE, keyCertSign
//   node    CN causeway-node-<id>; DNS causeway-node-<id>, causeway-node, causeway and each host
//           (an IP address as an IP SAN); serverAuth and clientAuth (it dials peers too)
//   client  CN causeway-client-<name>; clientAuth only, no DNS name (it cannot serve as a node)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace causeway::tools {

struct Pem {
  std::string cert;  // PEM certificate
  std::string key;   // PEM private key (PKCS#8, unencrypted)
};

enum class CertKind { kCa, kNode, kClient };

struct CertRequest {
  CertKind kind = CertKind::kNode;
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  uint32_t days = 825;
};

// Makes a key and a certificate; signed by `issuer` (ignored for kCa, which signs itself).
Result<Pem> MakeCertificate(const CertRequest& request, const Pem* issuer);

}  // namespace causeway::tools
