// `causeway`: one binary for running a node, reading and writing keys, inspecting the cluster,
// running a local development cluster and benchmarking. This file only wires CLI11; each
// subcommand lives in its own file (tools/internal/commands.h).
#include <CLI/CLI.hpp>

#include "base/build_info.h"
#include "tools/internal/commands.h"

// Anything thrown past the CLI11 handlers below is a bug: std::terminate's abort is the intent.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace causeway::tools;
  CLI::App app{"Causeway: a replicated, causally consistent key-value store", "causeway"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "causeway " + std::string(causeway::kCausewayVersion));
  CommandSlot run;
  AddServeCommand(app, &run);
  AddKvCommands(app, &run);
  AddStatusCommands(app, &run);
  AddRepairCommand(app, &run);
  AddNodeCommands(app, &run);
  AddSnapshotCommand(app, &run);
  AddLocalCommands(app, &run);
  AddBenchCommand(app, &run);
  AddHealthCommands(app, &run);
  AddConfigCommands(app, &run);
  AddOfflineCommands(app, &run);
  AddImportCommand(app, &run);
  AddUsersCommand(app, &run);
  AddCertCommand(app, &run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and the usage line
    return kExitUsage;
  }
  if (!run) return Fail(kExitUsage, "no command given", "run `causeway --help`");
  return run();
}
