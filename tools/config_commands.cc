// `causeway config reference`: the configuration reference generated from the one table of serve
// settings (tools/internal/config.cc, ServeConfigKeys). docs/operations.md embeds its markdown
// output between markers, and a test (tests/tools) fails when the two differ, so the reference
// cannot drift from the code.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <string>

#include "tools/internal/commands.h"
#include "tools/internal/config.h"

namespace causeway::tools {
namespace {

// `|` inside a cell would end it.
std::string Cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Reference(bool markdown) {
  std::string out;
  if (markdown) {
    out += "| key (TOML) | flag | environment | default | meaning |\n";
    out += "|---|---|---|---|---|\n";
    for (const ConfigKey& k : ServeConfigKeys()) {
      out += "| `" + std::string(k.name) + "` | `" + FlagName(k.name) + "` | `" + EnvName(k.name) +
             "` | " + (k.default_value.empty() ? "-" : "`" + Cell(k.default_value) + "`") + " | " +
             Cell(k.help) + " |\n";
    }
    out += "| - | `--config` | `CAUSEWAY_CONFIG` | - | TOML file of the settings above |\n";
    return out;
  }
  for (const ConfigKey& k : ServeConfigKeys()) {
    out += std::string(k.name) + "\t" + FlagName(k.name) + "\t" + EnvName(k.name) + "\t" +
           (k.default_value.empty() ? "-" : std::string(k.default_value)) + "\t" +
           std::string(k.help) + "\n";
  }
  return out;
}

}  // namespace

void AddConfigCommands(CLI::App& app, CommandSlot* slot) {
  CLI::App* config = app.add_subcommand("config", "About the settings of `causeway serve`");
  config->require_subcommand(1);
  auto markdown = std::make_shared<bool>(false);
  CLI::App* reference = config->add_subcommand(
      "reference", "Every serve setting: TOML key, flag, environment variable, default, meaning");
  reference->add_flag("--markdown", *markdown, "as the markdown table docs/operations.md embeds");
  reference->callback([markdown, slot] {
    *slot = [markdown] {
      std::cout << Reference(*markdown);
      return kExitOk;
    };
  });
}

}  // namespace causeway::tools
