// libFuzzer target: the serve config loader (tools/internal/config.h): TOML text -> a config
// layer -> a resolved ServeConfig. Bad input must come back as a Status (a toml++ exception, an
// unknown key or a value out of its bounds), never a crash; and a resolved config must survive
// ServeConfigToToml -> parse -> resolve unchanged (the `causeway config` output is loadable).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/assert.h"
#include "tools/internal/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using causeway::tools::ParseConfigText;
  using causeway::tools::ResolveServeConfig;
  using causeway::tools::ServeConfigToToml;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto layer = ParseConfigText(text, "config file fuzz.toml");
  if (!layer.ok()) {
    CW_ASSERT(!layer.status().message().empty(), "a refused config must say why");
    return 0;
  }
  auto config = ResolveServeConfig({*layer});
  if (!config.ok()) return 0;
  const std::string once = ServeConfigToToml(*config);
  auto again = ParseConfigText(once, "config file round-trip.toml");
  CW_ASSERT(again.ok(), "ServeConfigToToml's output must parse");
  auto reresolved = ResolveServeConfig({*again});
  CW_ASSERT(reresolved.ok(), "ServeConfigToToml's output must resolve");
  CW_ASSERT(ServeConfigToToml(*reresolved) == once, "a config must round-trip through TOML");
  return 0;
}
