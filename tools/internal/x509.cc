#include "tools/internal/x509.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace causeway::tools {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Bn = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;

// kInternal with OpenSSL's error queue (drained).
Status OpenSslError(const std::string& what) {
  std::string message = what;
  while (unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof(text));
    message += std::string(": ") + text;
  }
  return Status::Internal(message);
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return OpenSslError("X509v3 extension " + value);
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? Status::Ok() : OpenSslError("X509_add_ext");
}

}  // namespace

Result<Pem> MakeCertificate(const CertRequest& request, const Pem* issuer) {
  Key key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("EC P-256 key generation");
  Cert cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1) return OpenSslError("X509_new");
  Bn serial(BN_new());
  if (!serial || BN_rand(serial.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return OpenSslError("serial number");
  }
  // An hour back: a peer whose clock is a little behind still accepts it.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(request.days) * 86400);
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return OpenSslError("X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(cert.get());
  const auto* o = reinterpret_cast<const unsigned char*>("Causeway");
  const auto* cn = reinterpret_cast<const unsigned char*>(request.common_name.c_str());
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, o, -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn, -1, -1, 0) != 1) {
    return OpenSslError("subject name " + request.common_name);
  }

  Key issuer_key;
  Cert issuer_cert;
  if (request.kind != CertKind::kCa) {
    if (issuer == nullptr) return Status::InvalidArgument("a certificate needs its CA");
    Bio kb(BIO_new_mem_buf(issuer->key.data(), static_cast<int>(issuer->key.size())));
    issuer_key.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
    Bio cb(BIO_new_mem_buf(issuer->cert.data(), static_cast<int>(issuer->cert.size())));
    issuer_cert.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    if (!issuer_key || !issuer_cert) return OpenSslError("reading the CA's certificate and key");
    if (X509_check_private_key(issuer_cert.get(), issuer_key.get()) != 1) {
      return OpenSslError("the CA's key does not match its certificate");
    }
  }
  X509* signer_cert = request.kind == CertKind::kCa ? cert.get() : issuer_cert.get();
  EVP_PKEY* signer_key = request.kind == CertKind::kCa ? key.get() : issuer_key.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(signer_cert)) != 1) {
    return OpenSslError("issuer name");
  }

  struct Ext {
    int nid;
    std::string value;
  };
  std::vector<Ext> exts;
  switch (request.kind) {
    case CertKind::kCa:
      exts = {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
              {NID_key_usage, "critical,keyCertSign,cRLSign"}};
      break;
    case CertKind::kNode:
      exts = {{NID_basic_constraints, "critical,CA:FALSE"},
              {NID_key_usage, "critical,digitalSignature"},
              {NID_ext_key_usage, "serverAuth,clientAuth"}};
      break;
    case CertKind::kClient:
      exts = {{NID_basic_constraints, "critical,CA:FALSE"},
              {NID_key_usage, "critical,digitalSignature"},
              {NID_ext_key_usage, "clientAuth"}};
      break;
  }
  exts.push_back({NID_subject_key_identifier, "hash"});
  if (request.kind != CertKind::kCa) exts.push_back({NID_authority_key_identifier, "keyid:always"});
  std::string san;
  for (const auto& dns : request.dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + dns;
  for (const auto& ip : request.ip_addresses) san += (san.empty() ? "IP:" : ",IP:") + ip;
  if (!san.empty()) exts.push_back({NID_subject_alt_name, san});
  for (const auto& ext : exts) {
    if (Status s = AddExtension(cert.get(), signer_cert, ext.nid, ext.value); !s.ok()) return s;
  }
  if (X509_sign(cert.get(), signer_key, EVP_sha256()) == 0) return OpenSslError("X509_sign");

  Pem out;
  Bio cert_bio(BIO_new(BIO_s_mem()));
  Bio key_bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    return OpenSslError("PEM encoding");
  }
  out.cert = BioText(cert_bio.get());
  out.key = BioText(key_bio.get());
  return out;
}

}  // namespace causeway::tools
