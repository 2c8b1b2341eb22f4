// The subcommands of `causeway`, one file each (tools/<group>.cc). Each Add*() registers its
// subcommand(s) on `app`; when CLI11 selects one, its runner is stored in `slot` and main() runs
// it.
#pragma once

#include "tools/internal/cli.h"

namespace causeway::tools {

void AddServeCommand(CLI::App& app, CommandSlot* slot);  // tools/serve.cc
void AddKvCommands(CLI::App& app, CommandSlot* slot);    // tools/kv_commands.cc: put get del
void AddStatusCommands(CLI::App& app,
                       CommandSlot* slot);  // tools/status_commands.cc: status explain
void AddLocalCommands(CLI::App& app, CommandSlot* slot);  // tools/local_cluster.cc: local ...
void AddBenchCommand(CLI::App& app, CommandSlot* slot);   // tools/bench.cc
void AddRepairCommand(CLI::App& app, CommandSlot* slot);  // tools/repair_command.cc
// tools/node_commands.cc: node decommission, node cleanup
void AddNodeCommands(CLI::App& app, CommandSlot* slot);
// tools/health_commands.cc: endpoint health, version
void AddHealthCommands(CLI::App& app, CommandSlot* slot);
// tools/snapshot_command.cc: node snapshot (after AddNodeCommands)
void AddSnapshotCommand(CLI::App& app, CommandSlot* slot);
// tools/config_commands.cc: config reference
void AddConfigCommands(CLI::App& app, CommandSlot* slot);
// tools/offline_commands.cc: offline check, compact, hints export|import
void AddOfflineCommands(CLI::App& app, CommandSlot* slot);
// tools/offline_repair.cc: offline repair (a subcommand of `offline`)
void AddOfflineRepairCommand(CLI::App& offline, CommandSlot* slot);
void AddImportCommand(CLI::App& app, CommandSlot* slot);  // tools/import_command.cc
void AddUsersCommand(CLI::App& app, CommandSlot* slot);   // tools/users_command.cc: users ...
void AddCertCommand(CLI::App& app, CommandSlot* slot);    // tools/cert_command.cc: cert ...

}  // namespace causeway::tools
