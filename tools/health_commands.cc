// `causeway endpoint health` (etcdctl's shape: one line per endpoint with its latency, exit code
// non-zero if any is unhealthy) and `causeway version`.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/build_info.h"
#include "tools/internal/client_flags.h"
#include "tools/internal/commands.h"

namespace causeway::tools {
namespace {

// Unhealthy's default deadline per endpoint: a probe, not a request.
constexpr uint64_t kHealthTimeoutMsDefault = 2000;

struct Health {
  std::string endpoint;
  bool healthy = false;
  double took_ms = 0;
  std::string node;    // the answering node's name
  std::string detail;  // why unhealthy, or the node's state
};

// One endpoint, with its own Client (a Client owns its thread's event loop: one at a time).
// `options` carries the credentials and TLS files of the flags.
Health Probe(const std::string& endpoint, uint64_t timeout_ms, ClientOptions options) {
  Health h;
  h.endpoint = endpoint;
  options.endpoints = {endpoint};
  options.timeout_ms = timeout_ms;
  options.attempt_timeout_ms = timeout_ms;
  options.connect_timeout_ms = timeout_ms;
  options.probe_timeout_ms = timeout_ms;
  const auto start = std::chrono::steady_clock::now();
  Client client(std::move(options));
  // The node's own /readyz verdict (Admin health), then its name (status: the caller's view).
  Result<Client::HealthReply> health = client.Health();
  h.took_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!health.ok()) {
    h.detail = health.status().ToString();
    return h;
  }
  h.healthy = health->ready;
  h.detail = health->ready ? "serving" : "not ready: " + health->reason;
  if (Result<NodeStatusReply> status = client.Status(); status.ok()) h.node = status->name;
  return h;
}

int RunHealth(const ClientFlags& flags) {
  auto endpoints = ParseEndpoints(flags.endpoints);
  if (!endpoints.ok()) return Fail(kExitUsage, endpoints.status().message());
  ClientOptions base;
  if (Status s = ApplyCredentials(flags, &base); !s.ok()) return Fail(kExitUsage, s.message());
  std::vector<Health> results;
  for (const std::string& e : *endpoints) results.push_back(Probe(e, flags.timeout_ms, base));
  bool all = true;
  nlohmann::json out = nlohmann::json::array();
  for (const Health& h : results) {
    all = all && h.healthy;
    if (flags.json) {
      out.push_back({{"endpoint", h.endpoint},
                     {"health", h.healthy},
                     {"took_ms", h.took_ms},
                     {"node", h.node},
                     {"detail", h.detail}});
      continue;
    }
    char took[32];
    std::snprintf(took, sizeof took, "%.1fms", h.took_ms);
    std::cout << h.endpoint << " is " << (h.healthy ? "healthy" : "unhealthy") << ": "
              << (h.node.empty() ? "" : "node " + h.node + " ") << h.detail << ", took = " << took
              << "\n";
  }
  if (flags.json) std::cout << out.dump(2) << "\n";
  if (!all) {
    std::cerr << "error: unhealthy endpoints among " << results.size() << "\n";
    return kExitUnavailable;
  }
  return kExitOk;
}

}  // namespace

void AddHealthCommands(CLI::App& app, CommandSlot* slot) {
  CLI::App* endpoint = app.add_subcommand("endpoint", "Check the given endpoints");
  endpoint->require_subcommand(1);
  auto flags = std::make_shared<ClientFlags>();
  flags->timeout_ms = kHealthTimeoutMsDefault;
  CLI::App* health = endpoint->add_subcommand(
      "health",
      "One line per endpoint: healthy (answers, and its /readyz would say ready: joined, not "
      "bootstrapping, catching up or draining) or not, with the latency; exit 3 if any is "
      "unhealthy");
  AddClientFlags(health, flags.get(), false);
  health->callback([flags, slot] { *slot = [flags] { return RunHealth(*flags); }; });

  auto json = std::make_shared<bool>(false);
  CLI::App* version = app.add_subcommand("version", "Print the release of this binary");
  version->add_flag("--json", *json, "as JSON");
  version->callback([json, slot] {
    *slot = [json] {
      if (*json) {
        std::cout << nlohmann::json{{"version", std::string(kCausewayVersion)}}.dump() << "\n";
      } else {
        std::cout << "causeway " << kCausewayVersion << "\n";
      }
      return kExitOk;
    };
  });
}

}  // namespace causeway::tools
