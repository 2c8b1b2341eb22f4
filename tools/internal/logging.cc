#include "tools/internal/logging.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>

namespace causeway::tools {
namespace {

// "2026-12-01T21:25:43.120Z"
std::string IsoUtc(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

bool IsInteger(std::string_view v) {
  if (v.empty() || v.size() > 18) return false;
  size_t i = v[0] == '-' ? 1 : 0;
  if (i == v.size()) return false;
  for (; i < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return false;
  }
  return v.size() == 1 || v[0] != '0';
}

// One JSON object per line; strings are escaped by nlohmann (invalid UTF-8 replaced), which a
// pattern formatter cannot do.
class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(std::string node) : node_(std::move(node)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch());
    const auto level = spdlog::level::to_string_view(msg.level);
    nlohmann::json line = {
        {"time", IsoUtc(msg.time)},
        {"time_ms", ms.count()},
        {"level", std::string(level.data(), level.size())},
        {"node", node_},
    };
    const std::string_view text(msg.payload.data(), msg.payload.size());
    if (auto fields = ParseLogFields(text)) {
      for (auto& [key, value] : fields->items()) {
        // The logger's own fields win; a call's `node=` names the same node anyway.
        if (!line.contains(key)) line[key] = value;
      }
    } else {
      line["msg"] = std::string(text);
    }
    std::string out = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += '\n';
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(node_);
  }

 private:
  std::string node_;
};

}  // namespace

std::optional<nlohmann::json> ParseLogFields(std::string_view text) {
  if (!text.starts_with("event=")) return std::nullopt;
  nlohmann::json fields = nlohmann::json::object();
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i == text.size()) break;
    const size_t eq = text.find('=', i);
    if (eq == std::string_view::npos || eq == i) return std::nullopt;
    std::string key(text.substr(i, eq - i));
    if (key.find(' ') != std::string::npos) return std::nullopt;
    i = eq + 1;
    std::string value;
    bool quoted = false;
    if (i < text.size() && text[i] == '"') {
      quoted = true;
      ++i;
      bool closed = false;
      while (i < text.size()) {
        const char c = text[i++];
        if (c == '\\' && i < text.size()) {
          value += text[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed || (i < text.size() && text[i] != ' ')) return std::nullopt;
    } else {
      const size_t end = std::min(text.find(' ', i), text.size());
      value = std::string(text.substr(i, end - i));
      i = end;
    }
    if (!quoted && IsInteger(value)) {
      fields[key] = std::stoll(value);
    } else {
      fields[key] = value;
    }
  }
  return fields;
}

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& node_name, LogFormat format,
                                           const std::string& level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(node_name, sink);
  if (format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>(node_name));
  } else {
    // ISO-8601 in UTC with its zone designator, so lines from machines in different zones sort.
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %L " + node_name + " %v",
                        spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  return logger;
}

}  // namespace causeway::tools
