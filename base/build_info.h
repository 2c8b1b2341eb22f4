// The release this binary is: `causeway version`, `causeway --version`, /metrics
// (causeway_build_info) and the "starting" log line all print this one string.
#pragma once

#include <string_view>

namespace causeway {

inline constexpr std::string_view kCausewayVersion = "0.1.0";

}  // namespace causeway
