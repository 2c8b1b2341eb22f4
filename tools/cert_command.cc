// `causeway cert ca|node|client`: a development CA and the certificates of nodes and clients
// (tools/internal/x509.h; docs/operations.md, "TLS"). Files in --out-dir (docs/formats.md,
// "TLS files"): ca.pem and ca-key.pem; node-<id>.pem and node-<id>-key.pem;
// client-<name>.pem and client-<name>-key.pem. Keys are written with mode 0600, and no file is
// overwritten (remove it first): a CA key replaced by mistake would orphan every certificate.
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

#include "base/limits.h"
#include "rpc/tls.h"
#include "tools/internal/cli.h"
#include "tools/internal/commands.h"
#include "tools/internal/x509.h"

namespace causeway::tools {
namespace {

struct CertFlags {
  std::string out_dir;
  std::string ca_dir;
  std::string node_id;
  std::string name;
  std::vector<std::string> hosts;
  uint32_t days = 0;
};

// Writes a new file with `mode`; refuses to replace one.
Status WriteNew(const std::string& path, const std::string& bytes, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return Status::InvalidArgument("cannot create " + path + ": " + std::strerror(errno) +
                                   (errno == EEXIST ? " (remove it first)" : ""));
  }
  const bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Status::IoError("cannot write " + path);
  return Status::Ok();
}

Status WritePair(const std::string& dir, const std::string& stem, const Pem& pem) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::InvalidArgument("cannot create " + dir + ": " + ec.message());
  const std::string cert = dir + "/" + stem + ".pem";
  const std::string key = dir + "/" + stem + "-key.pem";
  // Both names first, so that a refusal leaves no half pair behind.
  for (const auto& path : {cert, key}) {
    if (std::filesystem::exists(path)) {
      return Status::InvalidArgument(path + " exists (remove it first)");
    }
  }
  if (Status s = WriteNew(key, pem.key, 0600); !s.ok()) return s;
  if (Status s = WriteNew(cert, pem.cert, 0644); !s.ok()) return s;
  std::cout << "wrote " << cert << " and " << key << " (mode 0600)\n";
  return Status::Ok();
}

Result<Pem> LoadCa(const std::string& dir) {
  Pem ca;
  auto cert = ReadFileBounded(dir + "/ca.pem", kTlsFileBytesMax);
  if (!cert.ok()) return cert.status();
  auto key = ReadFileBounded(dir + "/ca-key.pem", kTlsFileBytesMax);
  if (!key.ok()) return key.status();
  ca.cert = std::move(*cert);
  ca.key = std::move(*key);
  return ca;
}

bool IsIpAddress(const std::string& host) {
  in6_addr v6{};
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

// Node ids and client names become certificate names: the node-name alphabet only.
bool IsValidName(const std::string& name) {
  if (name.empty() || name.size() > kNodeNameBytesMax) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

int RunCa(const CertFlags& flags) {
  CertRequest req;
  req.kind = CertKind::kCa;
  req.common_name = "Causeway development CA";
  req.days = flags.days == 0 ? 3650 : flags.days;
  auto pem = MakeCertificate(req, nullptr);
  if (!pem.ok()) return FailStatus("cannot make the CA", pem.status());
  if (Status s = WritePair(flags.out_dir, "ca", *pem); !s.ok()) {
    return FailStatus("cannot write the CA", s);
  }
  return kExitOk;
}

int RunNode(const CertFlags& flags) {
  if (!IsValidName(flags.node_id)) {
    return Fail(kExitUsage, "--node-id '" + flags.node_id + "' is not a node name",
                "use the node's node_id (A-Z a-z 0-9 . _ -)");
  }
  auto ca = LoadCa(flags.ca_dir);
  if (!ca.ok()) return FailStatus("cannot read the CA in " + flags.ca_dir, ca.status());
  CertRequest req;
  req.kind = CertKind::kNode;
  req.common_name = rpc::NodeCertName(flags.node_id);
  req.dns_names = {req.common_name, std::string(rpc::kPeerServerName),
                   std::string(rpc::kClientServerName)};
  for (const auto& host : flags.hosts) {
    (IsIpAddress(host) ? req.ip_addresses : req.dns_names).push_back(host);
  }
  req.days = flags.days == 0 ? 825 : flags.days;
  auto pem = MakeCertificate(req, &*ca);
  if (!pem.ok()) return FailStatus("cannot make the certificate", pem.status());
  if (Status s = WritePair(flags.out_dir, "node-" + flags.node_id, *pem); !s.ok()) {
    return FailStatus("cannot write the certificate", s);
  }
  return kExitOk;
}

int RunClient(const CertFlags& flags) {
  if (!IsValidName(flags.name)) {
    return Fail(kExitUsage, "--name '" + flags.name + "' is not a valid name",
                "use A-Z a-z 0-9 . _ -");
  }
  auto ca = LoadCa(flags.ca_dir);
  if (!ca.ok()) return FailStatus("cannot read the CA in " + flags.ca_dir, ca.status());
  CertRequest req;
  req.kind = CertKind::kClient;
  req.common_name = std::string(rpc::kClientCertPrefix) + flags.name;
  req.days = flags.days == 0 ? 825 : flags.days;
  auto pem = MakeCertificate(req, &*ca);
  if (!pem.ok()) return FailStatus("cannot make the certificate", pem.status());
  if (Status s = WritePair(flags.out_dir, "client-" + flags.name, *pem); !s.ok()) {
    return FailStatus("cannot write the certificate", s);
  }
  return kExitOk;
}

}  // namespace

void AddCertCommand(CLI::App& app, CommandSlot* slot) {
  CLI::App* cert = app.add_subcommand(
      "cert", "Make a development CA and node and client TLS certificates (EC P-256)");
  cert->require_subcommand(1);

  auto ca = std::make_shared<CertFlags>();
  CLI::App* cmd = cert->add_subcommand("ca", "Make a CA: ca.pem and ca-key.pem in --out-dir");
  cmd->add_option("--out-dir", ca->out_dir, "folder to write to (created if missing)")->required();
  cmd->add_option("--days", ca->days, "validity in days (default 3650)");
  cmd->callback([ca, slot] { *slot = [ca] { return RunCa(*ca); }; });

  auto node = std::make_shared<CertFlags>();
  cmd = cert->add_subcommand(
      "node", "Make a node's certificate: node-<id>.pem and node-<id>-key.pem in --out-dir");
  cmd->add_option("--ca-dir", node->ca_dir, "folder of ca.pem and ca-key.pem")->required();
  cmd->add_option("--node-id", node->node_id, "the node's node_id (its certificate names it)")
      ->required();
  cmd->add_option("--host", node->hosts,
                  "host name or IP address clients may verify (repeat for more)");
  cmd->add_option("--out-dir", node->out_dir, "folder to write to (created if missing)")
      ->required();
  cmd->add_option("--days", node->days, "validity in days (default 825)");
  cmd->callback([node, slot] { *slot = [node] { return RunNode(*node); }; });

  auto client = std::make_shared<CertFlags>();
  cmd = cert->add_subcommand(
      "client", "Make a client certificate: client-<name>.pem and client-<name>-key.pem");
  cmd->add_option("--ca-dir", client->ca_dir, "folder of ca.pem and ca-key.pem")->required();
  cmd->add_option("--name", client->name, "the client's name")->required();
  cmd->add_option("--out-dir", client->out_dir, "folder to write to (created if missing)")
      ->required();
  cmd->add_option("--days", client->days, "validity in days (default 825)");
  cmd->callback([client, slot] { *slot = [client] { return RunClient(*client); }; });
}

}  // namespace causeway::tools
