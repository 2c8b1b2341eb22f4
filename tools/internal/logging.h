// The node's logger: spdlog to stderr, one line per event, as text or as one JSON object per line
// for log shippers.
//
// Log calls write `event=NAME key=value key="quoted value" ...` (the node's house form). Text
// lines print it as is after an ISO-8601 UTC time ("2026-12-01T21:25:43.120Z"), the level and the
// node. JSON lines carry each key as a real field: {"time": ISO-8601 UTC, "time_ms", "level",
// "node", "event", "peer", ...}; numbers stay numbers. A line that is not of that form (free text)
// becomes {"msg": text} with the same time, level and node.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tools/internal/config.h"

namespace spdlog {
class logger;
}

namespace causeway::tools {

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& node_name, LogFormat format,
                                           const std::string& level);

// Parses `event=NAME key=value key="quoted \"value\""` into fields (values that read as integers
// become numbers); nullopt unless the text starts with "event=" and parses entirely.
std::optional<nlohmann::json> ParseLogFields(std::string_view text);

}  // namespace causeway::tools
