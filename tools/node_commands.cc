// `causeway node decommission` and `causeway node cleanup`: membership changes of one node
// (docs/operations.md, "Decommissioning a node" and "Cleanup").
//
// decommission: asks the one node in --endpoints to decommission (Client::Decommission; a
// refusal exits non-zero with the node's reason), then polls its stream status every
// kDecommissionPollMs, showing a progress line (percent of its ranges handed over, keys and bytes
// sent, rate, ETA; redrawn on a terminal, plain lines otherwise), until the node reports itself
// left, or stops answering after it reported leaving (it stops by itself once it has left: the
// other members' views must then show it left). Then a summary; with --json the progress goes to
// stderr and stdout holds one JSON object. Exit 0 once it left, 3 unreachable or timed out, 4
// refused or failed otherwise.
//
// cleanup: each node in --endpoints in turn removes its data outside the ranges it replicates
// (Client::Cleanup) and says what it removed; exit 0 when every node did, else the first
// failure's code.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/limits.h"
#include "base/strings.h"
#include "tools/internal/client_flags.h"
#include "tools/internal/commands.h"
#include "tools/internal/process.h"
#include "tools/internal/progress.h"

namespace causeway::tools {
namespace {

using nlohmann::json;
using StreamStatus = cluster::NodeCore::StreamStatus;

struct NodeFlags {
  ClientFlags client;
  uint64_t timeout_s = 0;
};

ClientOptions OneNode(const ClientFlags& flags, const std::string& endpoint, uint64_t timeout_ms) {
  ClientOptions o{{endpoint}, timeout_ms, std::min<uint64_t>(timeout_ms, 2000)};
  o.attempt_timeout_ms = timeout_ms;  // the only endpoint: its attempt is the whole call
  // A bad --password-file shows as the node refusing the login.
  (void)ApplyCredentials(flags, &o);
  return o;
}

// On a thread of its own: a Client owns its thread's KJ event loop, and the caller may hold one
// (DecommissionRun asks the other members while its own client lives).
Result<NodeStatusReply> AskStatus(const ClientFlags& flags, const std::string& endpoint,
                                  uint64_t timeout_ms) {
  Result<NodeStatusReply> out = Status::Internal("status not asked");
  std::thread asker([&] {
    Client client(OneNode(flags, endpoint, timeout_ms));
    out = client.Status();
  });
  asker.join();
  return out;
}

// The exit code of a node's refusal: a refusal is not a malformed request (exit 2).
int RefusalExitCode(const Status& s) {
  const int code = ExitCodeFor(s);
  return code == kExitUsage ? kExitError : code;
}

std::string MemberStatusWord(cluster::MemberStatus s) {
  switch (s) {
    case cluster::MemberStatus::kUp:
      return "up";
    case cluster::MemberStatus::kJoining:
      return "joining";
    case cluster::MemberStatus::kLeaving:
      return "leaving";
    case cluster::MemberStatus::kLeft:
      return "left";
  }
  return "unknown";
}

// One decommission, from the request to the node's departure.
class DecommissionRun {
 public:
  DecommissionRun(const NodeFlags& flags, std::string endpoint, NodeStatusReply self)
      : flags_(flags),
        endpoint_(std::move(endpoint)),
        self_(std::move(self)),
        client_(OneNode(flags.client, endpoint_, flags.client.timeout_ms)),
        line_(flags.client.json ? std::cerr : std::cout,
              flags.client.json ? STDERR_FILENO : STDOUT_FILENO, kDecommissionPlainProgressMs),
        deadline_ms_(MonotonicMs() + flags.timeout_s * 1000) {}

  int Run() {
    if (Status s = client_.Decommission(); !s.ok()) {
      if (flags_.client.json) std::cout << Summary(false, s).dump() << "\n";
      return Fail(RefusalExitCode(s),
                  StrCat(self_.name, " (", endpoint_, ") refused to decommission: ", s.ToString()),
                  "a node decommissions only as a normal member, with at least rf normal members "
                  "left after it and no other membership change under way (`causeway status`)");
    }
    line_.Say(StrCat("decommission of ", self_.name, " (", endpoint_,
                     "): handing its ranges over to their new owners, then it leaves and stops"));
    Status s = Follow();
    Report(/*final=*/true);
    if (flags_.client.json) {
      std::cout << Summary(s.ok(), s).dump() << "\n";
    } else if (s.ok()) {
      std::cout << "decommission of " << self_.name << " done: it left the ring, "
                << PercentDown(Fraction()) << "%, " << FormatDuration(line_.elapsed_ms()) << "\n"
                << "  keys handed over   " << last_.keys << "\n"
                << "  bytes handed over  " << FormatBytes(last_.bytes) << "\n"
                << "  the node stops by itself; `causeway status` on another node shows it left\n";
    }
    if (s.ok()) return kExitOk;
    return Fail(RefusalExitCode(s),
                StrCat("decommission of ", self_.name, " incomplete: ", s.ToString()),
                "see the node's log and `causeway status`; a node still leaving goes on by itself");
  }

 private:
  // Polls until the node reports itself left (Ok), or why that is not known.
  Status Follow() {
    uint64_t answered_ms = MonotonicMs();
    std::string seen = "no other member answered";
    while (true) {
      Result<StreamStatus> r = client_.StreamProgress();
      const uint64_t now = MonotonicMs();
      if (r.ok()) {
        answered_ms = now;
        last_ = *r;
        if (r->member_status == cluster::MemberStatus::kLeaving ||
            r->member_status == cluster::MemberStatus::kLeft) {
          leaving_seen_ = true;
        }
        Report(false);
        if (r->member_status == cluster::MemberStatus::kLeft) return Status::Ok();
        if (r->phase == "decommission" && r->done && !r->status.ok()) {
          return Status(r->status.code(), "the hand-over failed: " + r->status.message());
        }
      } else if (leaving_seen_) {
        // It stops by itself once it has left: the other members' views say whether it did.
        if (SeenLeftByOthers(&seen)) return Status::Ok();
        if (now - answered_ms >= kDecommissionConfirmMsMax) {
          return Status::Unavailable(
              StrCat("it stopped answering before it reported itself left (", seen, ")"));
        }
      } else if (now - answered_ms >= kDecommissionUnreachableMsMax) {
        return Status(r.status().code(),
                      StrCat("no answer for ", now - answered_ms, " ms: ", r.status().message()));
      }
      if (now >= deadline_ms_) {
        return Status::Timeout(StrCat("not done when --timeout-s ran out (at ",
                                      PercentDown(Fraction()), "%); the node goes on with it"));
      }
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::min(kDecommissionPollMs, deadline_ms_ - now)));
    }
  }

  // True once a member other than the node (from its status before the decommission) sees it
  // left; `seen` says what they see otherwise.
  bool SeenLeftByOthers(std::string* seen) {
    for (const cluster::MemberView& m : self_.members) {
      if (m.state.id == self_.id || m.state.status == cluster::MemberStatus::kLeft) continue;
      Result<NodeStatusReply> other =
          AskStatus(flags_.client, m.state.address, flags_.client.timeout_ms);
      if (!other.ok()) continue;
      for (const cluster::MemberView& v : other->members) {
        if (v.state.id != self_.id) continue;
        if (v.state.status == cluster::MemberStatus::kLeft) {
          last_.member_status = cluster::MemberStatus::kLeft;
          return true;
        }
        *seen = StrCat(other->name, " sees it ", MemberStatusWord(v.state.status),
                       v.alive ? "" : " and down");
      }
    }
    return false;
  }

  double Fraction() const {
    if (last_.member_status == cluster::MemberStatus::kLeft) return 1.0;
    return last_.member_status == cluster::MemberStatus::kLeaving ? last_.fraction : 0.0;
  }

  void Report(bool final) {
    if (!line_.Due(final)) return;
    const double f = Fraction();
    const uint64_t elapsed_ms = last_.elapsed_ms != 0 ? last_.elapsed_ms : line_.elapsed_ms();
    const std::string eta = final && f < 1 ? "-" : FormatEta(f, elapsed_ms);
    const std::string state = last_.member_status == cluster::MemberStatus::kUp
                                  ? "starting"
                                  : MemberStatusWord(last_.member_status);
    const std::string rate = FormatBytes(PerSecond(last_.bytes, elapsed_ms)) + "/s";
    const auto keys = static_cast<unsigned long long>(last_.keys);
    char text[512];
    if (line_.terminal()) {
      std::snprintf(text, sizeof(text), "%5.1f%%  %s %s  %llu keys  %s  %s  ETA %s", PercentDown(f),
                    self_.name.c_str(), state.c_str(), keys, FormatBytes(last_.bytes).c_str(),
                    rate.c_str(), eta.c_str());
    } else {
      std::snprintf(text, sizeof(text),
                    "decommission %5.1f%%  node %s %s  keys %llu  sent %s  %s  elapsed %s  ETA %s",
                    PercentDown(f), self_.name.c_str(), state.c_str(), keys,
                    FormatBytes(last_.bytes).c_str(), rate.c_str(),
                    FormatDuration(line_.elapsed_ms()).c_str(), eta.c_str());
    }
    line_.Draw(f, text, final);
  }

  json Summary(bool ok, const Status& s) const {
    json out = {{"ok", ok},
                {"node", self_.name},
                {"address", endpoint_},
                {"state", MemberStatusWord(last_.member_status)},
                {"percent", PercentDown(Fraction())},
                {"keys", last_.keys},
                {"bytes", last_.bytes},
                {"elapsed_ms", line_.elapsed_ms()}};
    if (!s.ok()) out["error"] = s.ToString();
    return out;
  }

  const NodeFlags& flags_;
  const std::string endpoint_;
  const NodeStatusReply self_;
  Client client_;
  ProgressLine line_;
  const uint64_t deadline_ms_;
  StreamStatus last_;
  bool leaving_seen_ = false;
};

Result<std::string> OneEndpoint(const ClientFlags& flags) {
  auto endpoints = ParseEndpoints(flags.endpoints);
  if (!endpoints.ok()) return endpoints.status();
  if (endpoints->size() != 1) {
    return Status::InvalidArgument(
        StrCat("--endpoints names ", endpoints->size(),
               " nodes: decommission acts on the one node it names (a fail-over would "
               "decommission another)"));
  }
  return endpoints->front();
}

int RunDecommission(const NodeFlags& flags) {
  auto endpoint = OneEndpoint(flags.client);
  if (!endpoint.ok()) {
    return Fail(kExitUsage, endpoint.status().message(), "give --endpoints HOST:PORT of one node");
  }
  auto self = AskStatus(flags.client, *endpoint, flags.client.timeout_ms);
  if (!self.ok()) {
    return Fail(
        ExitCodeFor(self.status()),
        StrCat("the node at ", *endpoint, " did not answer (", self.status().ToString(), ")"),
        "start the node, or fix --endpoints");
  }
  DecommissionRun run(flags, *endpoint, std::move(self).value());
  return run.Run();
}

// ---- cleanup -----------------------------------------------------------------------------------

int RunCleanup(const NodeFlags& flags) {
  auto endpoints = ParseEndpoints(flags.client.endpoints);
  if (!endpoints.ok()) return Fail(kExitUsage, endpoints.status().message());
  json rows = json::array();
  uint64_t keys = 0, bytes = 0;
  Status first_failure;
  std::string first_failed;
  for (const std::string& endpoint : *endpoints) {
    std::string name = endpoint;
    if (auto status = AskStatus(flags.client, endpoint, flags.client.timeout_ms); status.ok()) {
      name = status->name;
    }
    Client client(OneNode(flags.client, endpoint, flags.timeout_s * 1000));
    Result<CleanupReply> r = client.Cleanup();
    json row = {{"name", name}, {"address", endpoint}, {"ok", r.ok()}};
    if (r.ok()) {
      row["keys_removed"] = r->keys_removed;
      row["bytes_removed"] = r->bytes_removed;
      keys += r->keys_removed;
      bytes += r->bytes_removed;
      if (!flags.client.json) {
        std::cout << name << " (" << endpoint << "): removed " << r->keys_removed << " keys ("
                  << FormatBytes(r->bytes_removed) << ") outside its ranges\n";
      }
    } else {
      row["error"] = r.status().ToString();
      if (first_failure.ok()) first_failure = r.status(), first_failed = name;
      if (!flags.client.json) {
        std::cout << name << " (" << endpoint << "): not cleaned up: " << r.status().ToString()
                  << "\n";
      }
    }
    rows.push_back(std::move(row));
  }
  if (flags.client.json) {
    std::cout << json{{"ok", first_failure.ok()},
                      {"keys_removed", keys},
                      {"bytes_removed", bytes},
                      {"nodes", rows}}
                     .dump()
              << "\n";
  }
  if (first_failure.ok()) return kExitOk;
  return Fail(RefusalExitCode(first_failure),
              StrCat("cleanup of ", first_failed, " failed: ", first_failure.ToString()),
              "clean up once no member is joining or leaving and the node's streams are done "
              "(`causeway status`)");
}

}  // namespace

void AddNodeCommands(CLI::App& app, CommandSlot* slot) {
  CLI::App* node = app.add_subcommand(
      "node", "Change one node's membership: decommission it, or clean up data it no longer owns");
  node->require_subcommand(1);

  auto decommission = std::make_shared<NodeFlags>();
  decommission->timeout_s = kDecommissionTimeoutSDefault;
  CLI::App* cmd = node->add_subcommand(
      "decommission",
      "Remove the node in --endpoints from the cluster for good: it streams its ranges to their "
      "new owners, leaves the ring, and stops. Reads and writes go on meanwhile; progress is shown "
      "until it has left. (To restart a node, stop it with SIGTERM instead: that is not a leave.)");
  cmd->add_option("--timeout-s", decommission->timeout_s,
                  "how long to follow the decommission, in seconds (the node goes on without us)")
      ->check(CLI::Range(uint64_t{1}, kDecommissionTimeoutSMax))
      ->capture_default_str();
  AddClientFlags(cmd, &decommission->client, /*session=*/false);
  cmd->callback(
      [decommission, slot] { *slot = [decommission] { return RunDecommission(*decommission); }; });

  auto cleanup = std::make_shared<NodeFlags>();
  cleanup->timeout_s = kCleanupTimeoutSDefault;
  cmd = node->add_subcommand(
      "cleanup",
      "Remove, on each node in --endpoints, the data of ranges it no longer replicates (after "
      "nodes joined). Refused while a member is joining or leaving");
  cmd->add_option("--timeout-s", cleanup->timeout_s, "how long to wait for each node, in seconds")
      ->check(CLI::Range(uint64_t{1}, kCleanupTimeoutSMax))
      ->capture_default_str();
  AddClientFlags(cmd, &cleanup->client, /*session=*/false);
  cmd->callback([cleanup, slot] { *slot = [cleanup] { return RunCleanup(*cleanup); }; });
}

}  // namespace causeway::tools
