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
void AddUsersCommand(CLI::App& app, CommandSlot* slot);  // tools/users_command.cc: users ...

}  // namespace causeway::tools
