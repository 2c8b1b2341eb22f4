// `causeway node snapshot DIR`: the node in --endpoints writes a RocksDB checkpoint of its data
// dir into DIR, a path on its own machine (docs/operations.md, "Backup and restore").
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/internal/client_flags.h"
#include "tools/internal/commands.h"

namespace causeway::tools {
namespace {

// A checkpoint flushes the memtables and links or copies every file: allow it a minute.
constexpr uint64_t kSnapshotTimeoutMsDefault = 60000;

struct SnapshotFlags {
  ClientFlags client;
  std::string dir;
};

int RunSnapshot(const SnapshotFlags& flags) {
  // The node resolves the path on its machine: a relative one would name its working dir.
  const std::string dir = std::filesystem::path(flags.dir).is_absolute()
                              ? flags.dir
                              : std::filesystem::absolute(flags.dir).string();
  auto client = MakeClient(flags.client);
  if (!client.ok()) return FailStatus("snapshot", client.status());
  Result<std::string> path = (*client)->Snapshot(dir);
  if (!path.ok()) return FailStatus("snapshot into " + dir, path.status());
  if (flags.client.json) {
    std::cout << nlohmann::json{{"endpoint", (*client)->endpoint()}, {"path", *path}}.dump()
              << "\n";
  } else {
    std::cout << "snapshot of " << (*client)->endpoint() << " written to " << *path
              << " (restore: stop the node, put this folder in place of its data dir, start it)\n";
  }
  return kExitOk;
}

}  // namespace

void AddSnapshotCommand(CLI::App& app, CommandSlot* slot) {
  CLI::App* node = app.get_subcommand("node");
  auto flags = std::make_shared<SnapshotFlags>();
  flags->client.timeout_ms = kSnapshotTimeoutMsDefault;
  CLI::App* cmd = node->add_subcommand(
      "snapshot",
      "Write a RocksDB checkpoint of the node's data dir into DIR on the node's machine (must not "
      "exist; hard links on the same file system), for backups; the node keeps serving");
  cmd->add_option("dir", flags->dir, "the folder to create")->required();
  AddClientFlags(cmd, &flags->client, /*session=*/false);
  cmd->callback([flags, slot] { *slot = [flags] { return RunSnapshot(*flags); }; });
}

}  // namespace causeway::tools
