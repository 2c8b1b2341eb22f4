#include "rpc/users.h"

#include <sodium.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "base/limits.h"
#include "base/strings.h"

namespace causeway::rpc {
namespace {

// Interactive limits (~64 MiB, 2 passes): a login per connection, not per call.
constexpr unsigned long long kKdfOpsLimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
constexpr size_t kKdfMemLimitBytes = crypto_pwhash_MEMLIMIT_INTERACTIVE;

Status InitSodium() {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  return Status::Ok();
}

Result<std::string> HashPassword(std::string_view password) {
  if (Status s = InitSodium(); !s.ok()) return s;
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), kKdfOpsLimit, kKdfMemLimitBytes) !=
      0) {
    return Status::Internal("out of memory hashing a password");
  }
  return std::string(out);
}

// Verified against when the name is unknown, so that the answer takes as long as a real check.
const std::string& DummyHash() {
  static std::once_flag once;
  static std::string hash;
  std::call_once(once, [] {
    auto h = HashPassword("causeway-dummy-password");
    hash = h.ok() ? *h : std::string();
  });
  return hash;
}

bool VerifyHash(const std::string& hash, std::string_view password) {
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kRead:
      return "read";
    case Role::kWrite:
      return "write";
    case Role::kAdmin:
      return "admin";
    case Role::kNone:
      break;
  }
  return "none";
}

Result<Role> ParseRole(std::string_view name) {
  if (name == "read") return Role::kRead;
  if (name == "write") return Role::kWrite;
  if (name == "admin") return Role::kAdmin;
  return Status::InvalidArgument("role '" + std::string(name) + "' is not read, write or admin");
}

bool RoleAllows(Role held, Role needed) {
  return static_cast<int>(held) >= static_cast<int>(needed);
}

Status ValidateUserName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kUserNameBytesMax;
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-' || c == '@');
  }
  if (ok) return Status::Ok();
  return Status::InvalidArgument(
      StrCat("user name must be 1..", kUserNameBytesMax, " characters of A-Z a-z 0-9 . _ - @"));
}

Result<Users> Users::Parse(std::string_view text, std::string_view source) {
  if (Status s = InitSodium(); !s.ok()) return s;
  Users users;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto bad = [&](std::string_view why) {
      return Status::InvalidArgument(StrCat("users file ", source, " line ", line_no, ": ", why));
    };
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return bad("expected `name role argon2id-hash`");
    std::string_view name = line.substr(0, sp1);
    std::string_view role_name = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view hash = line.substr(sp2 + 1);
    if (Status s = ValidateUserName(name); !s.ok()) return bad(s.message());
    auto role = ParseRole(role_name);
    if (!role.ok()) return bad(role.status().message());
    if (!hash.starts_with("$argon2id$") || hash.size() >= crypto_pwhash_STRBYTES) {
      return bad("the hash is not an Argon2id string (use `causeway users add`)");
    }
    if (users.users_.count(name) != 0) return bad("user '" + std::string(name) + "' twice");
    if (users.users_.size() >= kUsersMax) return bad(StrCat("more than ", kUsersMax, " users"));
    users.users_.emplace(std::string(name), Entry{*role, std::string(hash)});
  }
  return users;
}

Result<Users> Users::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read users file " + path);
  std::string text(kUsersFileBytesMax + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kUsersFileBytesMax) {
    return Status::InvalidArgument(
        StrCat("users file ", path, " is larger than ", kUsersFileBytesMax, " bytes"));
  }
  return Parse(text, path);
}

Result<Role> Users::Authenticate(std::string_view name, std::string_view password) const {
  const Status failed = Status::InvalidArgument(
      "authentication failed: unknown user or wrong "
      "password");
  if (password.size() > kPasswordBytesMax || name.size() > kUserNameBytesMax) return failed;
  auto it = users_.find(name);
  if (it == users_.end()) {
    (void)VerifyHash(DummyHash(), password);  // same work as a real user's check
    return failed;
  }
  if (!VerifyHash(it->second.hash, password)) return failed;
  return it->second.role;
}

Status Users::Add(std::string_view name, Role role, std::string_view password) {
  if (Status s = ValidateUserName(name); !s.ok()) return s;
  if (role == Role::kNone) return Status::InvalidArgument("a user needs a role");
  if (password.empty() || password.size() > kPasswordBytesMax) {
    return Status::InvalidArgument(StrCat("a password is 1..", kPasswordBytesMax, " bytes"));
  }
  if (users_.count(name) == 0 && users_.size() >= kUsersMax) {
    return Status::InvalidArgument(StrCat("at most ", kUsersMax, " users"));
  }
  auto hash = HashPassword(password);
  if (!hash.ok()) return hash.status();
  users_[std::string(name)] = Entry{role, std::move(hash).value()};
  return Status::Ok();
}

bool Users::Remove(std::string_view name) {
  auto it = users_.find(name);
  if (it == users_.end()) return false;
  users_.erase(it);
  return true;
}

std::string Users::Serialize() const {
  std::ostringstream out;
  out << "# causeway users file: name role argon2id-hash (docs/formats.md, \"Users file\")\n";
  for (const auto& [name, entry] : users_) {
    out << name << ' ' << RoleName(entry.role) << ' ' << entry.hash << '\n';
  }
  return out.str();
}

std::map<std::string, Role> Users::Roles() const {
  std::map<std::string, Role> out;
  for (const auto& [name, entry] : users_) out[name] = entry.role;
  return out;
}

}  // namespace causeway::rpc
