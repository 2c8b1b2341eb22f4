// `causeway users add|list|remove`: edits a users file (rpc/users.h; docs/formats.md, "Users
// file"). Passwords are read from stdin or a file, never from the command line (which other users
// of the machine can see in ps), and only their Argon2id hashes are written. A node reads the
// file at start (`serve --users-file`): restart it to apply changes.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "base/limits.h"
#include "rpc/users.h"
#include "tools/internal/cli.h"
#include "tools/internal/commands.h"

namespace causeway::tools {
namespace {

struct UsersFlags {
  std::string users_file;
  std::string name;
  std::string role;
  bool password_stdin = false;
  std::string password_file;
};

// The file's users; a missing file is an empty set (the first `add` creates it).
Result<rpc::Users> LoadOrEmpty(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return rpc::Users::Parse("", path);
  return rpc::Users::Load(path);
}

Result<std::string> ReadPassword(const UsersFlags& flags) {
  if (flags.password_stdin == !flags.password_file.empty()) {
    return Status::InvalidArgument("give exactly one of --password-stdin and --password-file");
  }
  auto text =
      ReadFileBounded(flags.password_stdin ? "-" : flags.password_file, kPasswordBytesMax + 2);
  if (!text.ok()) return text.status();
  std::string password = std::move(text).value();
  if (size_t eol = password.find('\n'); eol != std::string::npos) password.resize(eol);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty() || password.size() > kPasswordBytesMax) {
    return Status::InvalidArgument("a password is 1.." + std::to_string(kPasswordBytesMax) +
                                   " bytes on one line");
  }
  return password;
}

int RunAdd(const UsersFlags& flags) {
  auto role = rpc::ParseRole(flags.role);
  if (!role.ok()) return Fail(kExitUsage, role.status().message(), "--role read|write|admin");
  auto password = ReadPassword(flags);
  if (!password.ok()) return Fail(kExitUsage, password.status().message());
  auto users = LoadOrEmpty(flags.users_file);
  if (!users.ok()) return FailStatus("cannot read the users file", users.status());
  if (Status s = users->Add(flags.name, *role, *password); !s.ok()) {
    return FailStatus("cannot add user " + flags.name, s);
  }
  if (Status s = WriteFileAtomic(flags.users_file, users->Serialize()); !s.ok()) {
    return FailStatus("cannot write " + flags.users_file, s);
  }
  ::chmod(flags.users_file.c_str(), 0600);
  std::cout << "user " << flags.name << " (" << flags.role << ") in " << flags.users_file
            << "; restart nodes to apply\n";
  return kExitOk;
}

int RunList(const UsersFlags& flags) {
  auto users = rpc::Users::Load(flags.users_file);
  if (!users.ok()) return FailStatus("cannot read the users file", users.status());
  for (const auto& [name, role] : users->Roles())
    std::cout << name << " " << rpc::RoleName(role) << "\n";
  return kExitOk;
}

int RunRemove(const UsersFlags& flags) {
  auto users = rpc::Users::Load(flags.users_file);
  if (!users.ok()) return FailStatus("cannot read the users file", users.status());
  if (!users->Remove(flags.name)) return Fail(kExitNotFound, "no user " + flags.name);
  if (Status s = WriteFileAtomic(flags.users_file, users->Serialize()); !s.ok()) {
    return FailStatus("cannot write " + flags.users_file, s);
  }
  std::cout << "removed " << flags.name << "; restart nodes to apply\n";
  return kExitOk;
}

}  // namespace

void AddUsersCommand(CLI::App& app, CommandSlot* slot) {
  CLI::App* users = app.add_subcommand("users", "Manage the users file of client authentication");
  users->require_subcommand(1);
  auto add = std::make_shared<UsersFlags>();
  CLI::App* cmd = users->add_subcommand("add", "Add a user (or replace its role and password)");
  cmd->add_option("--users-file", add->users_file, "the users file (created if missing)")
      ->required();
  cmd->add_option("--name", add->name, "user name")->required();
  cmd->add_option("--role", add->role, "read (get), write (get, put, del) or admin (everything)")
      ->required();
  cmd->add_flag("--password-stdin", add->password_stdin, "read the password from stdin");
  cmd->add_option("--password-file", add->password_file, "read the password from a file");
  cmd->callback([add, slot] { *slot = [add] { return RunAdd(*add); }; });

  auto list = std::make_shared<UsersFlags>();
  cmd = users->add_subcommand("list", "List users and their roles");
  cmd->add_option("--users-file", list->users_file, "the users file")->required();
  cmd->callback([list, slot] { *slot = [list] { return RunList(*list); }; });

  auto remove = std::make_shared<UsersFlags>();
  cmd = users->add_subcommand("remove", "Remove a user");
  cmd->add_option("--users-file", remove->users_file, "the users file")->required();
  cmd->add_option("--name", remove->name, "user name")->required();
  cmd->callback([remove, slot] { *slot = [remove] { return RunRemove(*remove); }; });
}

}  // namespace causeway::tools
