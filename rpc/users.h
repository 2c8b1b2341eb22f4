// Users and roles of client authentication (docs/operations.md, "Security: auth, roles, TLS,
// rotating the secret and certificates"; the file format: docs/formats.md, "Users file").
//
// A users file holds one user per line, `name role hash`, where hash is libsodium's Argon2id
// string (crypto_pwhash_str: algorithm, parameters, salt and hash; never the password). Roles
// nest: read (get) < write (get, put, delete) < admin (also repair, decommission, explain,
// cleanup and status details).
//
// Authenticate() runs the KDF (tens of milliseconds and ~64 MiB): never call it on an event loop
// thread. rpc::LoginGate (rpc/internal/login_gate.h) is the loop's asynchronous, bounded way in;
// the RESP gateway's `AUTH user password` goes through it too. A Users object is immutable once
// loaded and Authenticate() is thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/status.h"

namespace causeway::rpc {

enum class Role : int { kNone = 0, kRead = 1, kWrite = 2, kAdmin = 3 };

std::string_view RoleName(Role role);           // "none", "read", "write", "admin"
Result<Role> ParseRole(std::string_view name);  // read, write or admin
bool RoleAllows(Role held, Role needed);        // held >= needed

class Users {
 public:
  // Parses a users file's text; `source` names it in errors.
  static Result<Users> Parse(std::string_view text, std::string_view source);
  // Reads and parses a users file (at most kUsersFileBytesMax).
  static Result<Users> Load(const std::string& path);

  // The user's role if `password` matches (constant-time in the hash), else kInvalidArgument
  // "authentication failed" (the same for an unknown name, after the same KDF work, so names
  // cannot be probed by timing).
  [[nodiscard]] Result<Role> Authenticate(std::string_view name, std::string_view password) const;

  // Editing for `causeway users`: add (replacing a user of that name) hashes `password`.
  Status Add(std::string_view name, Role role, std::string_view password);
  bool Remove(std::string_view name);
  // The file's text (sorted by name).
  std::string Serialize() const;
  size_t size() const { return users_.size(); }
  // name -> role, for listing.
  std::map<std::string, Role> Roles() const;

 private:
  struct Entry {
    Role role = Role::kNone;
    std::string hash;  // crypto_pwhash_str output
  };
  std::map<std::string, Entry, std::less<>> users_;
};

// A user name: 1..kUserNameBytesMax of A-Z a-z 0-9 . _ - @.
Status ValidateUserName(std::string_view name);

}  // namespace causeway::rpc
