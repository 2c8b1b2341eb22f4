#include "rpc/tls.h"

#include <fstream>
#include <sstream>

#include "base/limits.h"
#include "base/strings.h"

namespace causeway::rpc {
namespace {

Result<std::string> ReadPem(const std::string& path, std::string_view what) {
  if (path.empty()) return Status::InvalidArgument(StrCat(what, " is not set"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(StrCat("cannot open ", what, " '", path, "'"));
  std::string text(kTlsFileBytesMax + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kTlsFileBytesMax) {
    return Status::InvalidArgument(
        StrCat(what, " '", path, "' is larger than ", kTlsFileBytesMax, " bytes"));
  }
  if (text.find("-----BEGIN ") == std::string::npos) {
    return Status::InvalidArgument(StrCat(what, " '", path, "' holds no PEM block"));
  }
  return text;
}

// Runs `make` (kj-tls throws on a bad PEM or key) and turns a throw into kInvalidArgument.
template <typename T, typename F>
Result<T> Catching(std::string_view what, F make) {
  std::optional<T> out;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { out.emplace(make()); })) {
    return Status::InvalidArgument(StrCat(what, ": ", e->getDescription().cStr()));
  }
  return std::move(*out);
}

kj::TlsContext::Options BaseOptions(const std::vector<kj::TlsCertificate>& cas) {
  kj::TlsContext::Options options;
  options.useSystemTrustStore = false;  // only the cluster's CA vouches for its members
  options.trustedCertificates = kj::arrayPtr(cas.data(), cas.size());
  options.minVersion = kj::TlsVersion::TLS_1_2;
  // TLS 1.2's suites: forward-secret AEAD only (kj's default list still has CBC and 3DES ones for
  // old browsers; every peer here is ours). TLS 1.3 keeps OpenSSL's defaults.
  options.cipherList =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
      "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";
  return options;
}

}  // namespace

std::string NodeCertName(std::string_view node_name) {
  return std::string(kNodeCertPrefix) + std::string(node_name);
}

std::optional<std::string> NodeNameFromCertName(std::string_view common_name) {
  if (!common_name.starts_with(kNodeCertPrefix) || common_name.size() == kNodeCertPrefix.size()) {
    return std::nullopt;
  }
  return std::string(common_name.substr(kNodeCertPrefix.size()));
}

std::string_view ClientTlsName(ClientTls mode) {
  switch (mode) {
    case ClientTls::kOff:
      return "off";
    case ClientTls::kOn:
      return "on";
    case ClientTls::kMutual:
      return "mutual";
  }
  return "off";
}

Result<ClientTls> ParseClientTls(std::string_view text) {
  if (text == "off") return ClientTls::kOff;
  if (text == "on") return ClientTls::kOn;
  if (text == "mutual") return ClientTls::kMutual;
  return Status::InvalidArgument("must be off, on or mutual");
}

Result<std::vector<kj::TlsCertificate>> LoadCertificates(const std::string& path) {
  auto pem = ReadPem(path, "tls_ca_file");
  if (!pem.ok()) return pem.status();
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  std::vector<kj::TlsCertificate> out;
  size_t at = pem->find(kBegin);
  while (at != std::string::npos) {
    size_t next = pem->find(kBegin, at + kBegin.size());
    std::string block = pem->substr(at, next == std::string::npos ? next : next - at);
    auto cert = Catching<kj::TlsCertificate>("tls_ca_file '" + path + "'",
                                             [&]() { return kj::TlsCertificate(block.c_str()); });
    if (!cert.ok()) return cert.status();
    out.push_back(std::move(*cert));
    at = next;
  }
  if (out.empty()) {
    return Status::InvalidArgument("tls_ca_file '" + path + "' holds no certificate");
  }
  return out;
}

Result<std::shared_ptr<const TlsContexts>> LoadTlsContexts(const TlsSettings& settings) {
  auto cas = LoadCertificates(settings.files.ca_file);
  if (!cas.ok()) return cas.status();
  auto cert_pem = ReadPem(settings.files.cert_file, "tls_cert_file");
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadPem(settings.files.key_file, "tls_key_file");
  if (!key_pem.ok()) return key_pem.status();
  auto cert = Catching<kj::TlsCertificate>("tls_cert_file '" + settings.files.cert_file + "'",
                                           [&]() { return kj::TlsCertificate(cert_pem->c_str()); });
  if (!cert.ok()) return cert.status();
  auto key = Catching<kj::TlsPrivateKey>("tls_key_file '" + settings.files.key_file + "'",
                                         [&]() { return kj::TlsPrivateKey(key_pem->c_str()); });
  if (!key.ok()) return key.status();
  kj::TlsKeypair keypair{std::move(*key), std::move(*cert)};
  auto out = std::make_shared<TlsContexts>();
  auto made = Catching<bool>("tls_cert_file and tls_key_file", [&]() {
    kj::TlsContext::Options peer = BaseOptions(*cas);
    peer.defaultKeypair = keypair;
    peer.verifyClients = true;
    out->peer_door = kj::heap<kj::TlsContext>(kj::mv(peer));
    kj::TlsContext::Options client = BaseOptions(*cas);
    client.defaultKeypair = keypair;
    client.verifyClients = settings.client == ClientTls::kMutual;
    out->client_door = kj::heap<kj::TlsContext>(kj::mv(client));
    return true;
  });
  if (!made.ok()) return made.status();
  out->cert_file = settings.files.cert_file;
  return std::shared_ptr<const TlsContexts>(std::move(out));
}

Result<kj::Own<kj::TlsContext>> NewClientTlsContext(const std::string& ca_file,
                                                    const std::string& cert_file,
                                                    const std::string& key_file) {
  auto cas = LoadCertificates(ca_file);
  if (!cas.ok()) return cas.status();
  if (cert_file.empty() != key_file.empty()) {
    return Status::InvalidArgument("--tls-cert and --tls-key go together");
  }
  std::optional<kj::TlsKeypair> keypair;
  if (!cert_file.empty()) {
    auto cert_pem = ReadPem(cert_file, "--tls-cert");
    if (!cert_pem.ok()) return cert_pem.status();
    auto key_pem = ReadPem(key_file, "--tls-key");
    if (!key_pem.ok()) return key_pem.status();
    auto cert = Catching<kj::TlsCertificate>(
        "--tls-cert '" + cert_file + "'", [&]() { return kj::TlsCertificate(cert_pem->c_str()); });
    if (!cert.ok()) return cert.status();
    auto key = Catching<kj::TlsPrivateKey>("--tls-key '" + key_file + "'",
                                           [&]() { return kj::TlsPrivateKey(key_pem->c_str()); });
    if (!key.ok()) return key.status();
    keypair = kj::TlsKeypair{std::move(*key), std::move(*cert)};
  }
  kj::Own<kj::TlsContext> context;
  auto made = Catching<bool>("TLS client", [&]() {
    kj::TlsContext::Options options = BaseOptions(*cas);
    if (keypair) options.defaultKeypair = *keypair;
    context = kj::heap<kj::TlsContext>(kj::mv(options));
    return true;
  });
  if (!made.ok()) return made.status();
  return context;
}

}  // namespace causeway::rpc
