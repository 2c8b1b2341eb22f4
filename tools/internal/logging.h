// The node's logger: spdlog to stderr, one line per event, as text or as one JSON object per line
// ({"time", "level", "node", "msg"}) for log shippers.
#pragma once

#include <memory>
#include <string>

#include "tools/internal/config.h"

namespace spdlog {
class logger;
}

namespace causeway::tools {

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& node_name, LogFormat format,
                                           const std::string& level);

}  // namespace causeway::tools
