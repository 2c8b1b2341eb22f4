// The listener's look at a new connection's first bytes (rpc/tls.h, "Doors"): TLS or plaintext,
// and for TLS the server name (SNI) of its ClientHello, which picks the door. The bytes read are
// replayed to whoever reads the returned stream next (kj-tls or Cap'n Proto), so nothing is lost.
//
// Reads at most kTlsClientHelloBytesMax; the caller bounds the time (the handshake deadline).
#pragma once

#include <kj/async-io.h>

#include <string>
#include <string_view>

namespace causeway::rpc {

// A TLS handshake record starts with this byte (ContentType handshake); Cap'n Proto's first word
// is a segment count minus one, which is never 22 for a client's first message.
inline constexpr unsigned char kTlsHandshakeByte = 0x16;

struct Sniffed {
  kj::Own<kj::AsyncIoStream> stream;  // the connection, its first bytes replayed
  bool tls = false;
  std::string server_name;  // "" when not TLS, no SNI, or a ClientHello we do not parse
};

kj::Promise<Sniffed> SniffTls(kj::Own<kj::AsyncIoStream> stream);

// The host_name of the server_name extension of a TLS record holding a ClientHello (`record`
// starts with the 5-byte record header); "" if there is none or the record is malformed.
std::string ClientHelloServerName(std::string_view record);

// The PeerIdentity kj-tls wants under a server stream: the source address, for its toString().
class SourceIdentity final : public kj::PeerIdentity {
 public:
  explicit SourceIdentity(std::string source) : source_(std::move(source)) {}
  kj::String toString() override { return kj::str(source_.c_str()); }

 private:
  std::string source_;
};

}  // namespace causeway::rpc
