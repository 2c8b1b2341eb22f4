// `causeway repair`: an on-demand anti-entropy repair (docs/operations.md, "Running a repair").
//
// Which nodes: every member the endpoints' status lists (but those that left), or --node NAME.
// Which ranges: all of each node's, or those intersecting --range FIRST..LAST. The nodes are
// repaired one after another, so the cluster carries one node's exchanges at a time: each is asked
// to start (Client::Repair) and polled every kRepairPollMs until it is done. The whole run is
// bounded by --timeout-s.
//
// Output: a progress line (percent of the work, keys compared, bytes repaired, rate, ETA), redrawn
// in place on a terminal and printed every kRepairPlainProgressMs otherwise; then a summary. With
// --json the progress goes to stderr and stdout holds one JSON object. The run ends at 100%, or
// with an "error:" line that names the node that failed and why (exit 3 unreachable or timed out,
// 4 otherwise); the nodes after a failed one are still repaired.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
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
using RepairStatus = cluster::NodeCore::RepairStatus;

struct RepairFlags {
  ClientFlags client;
  std::string range;  // empty: every range
  std::string node;   // empty: every member
  uint64_t timeout_s = kRepairTimeoutSDefault;
};

struct Target {
  NodeId id = 0;
  std::string name, address;
  bool alive = true;  // in the view of the endpoint that listed it
};

// What the repairs reported, summed over nodes (a node's own figures while it runs).
struct Tally {
  uint64_t exchanges = 0, exchanges_done = 0, exchanges_failed = 0, keys_compared = 0;
  uint64_t keys_differed = 0, keys_written = 0, bytes = 0;
  void Add(const RepairStatus& r) {
    exchanges += r.exchanges_total;
    exchanges_done += r.exchanges_done;
    exchanges_failed += r.exchanges_failed;
    keys_compared += r.keys_compared;
    keys_differed += r.keys_differed;
    keys_written += r.keys_written;
    bytes += r.bytes;
  }
  json ToJson() const {
    return {{"exchanges", exchanges},         {"exchanges_failed", exchanges_failed},
            {"keys_compared", keys_compared}, {"keys_differed", keys_differed},
            {"keys_written", keys_written},   {"bytes", bytes}};
  }
};

// The progress line (tools/internal/progress.h): percent, rate and ETA are of the whole run;
// `node` is the one at work now.
class Progress {
 public:
  Progress(std::ostream& out, int fd, size_t nodes)
      : line_(out, fd, kRepairPlainProgressMs), nodes_(nodes) {}

  // `work` is in nodes: those finished count 1 (a failed one what it got through), the one at
  // work now its fraction; `index` is that node's, `tally` includes its figures.
  void Update(double work, size_t index, const std::string& node, const Tally& tally,
              bool final = false) {
    if (!line_.Due(final)) return;
    const double whole = std::clamp(work / static_cast<double>(nodes_), 0.0, 1.0);
    const uint64_t elapsed_ms = line_.elapsed_ms();
    // Not known yet, or never (a last line short of 100%).
    const std::string eta = final && whole < 1 ? "-" : FormatEta(whole, elapsed_ms);
    const uint64_t rate = PerSecond(tally.keys_compared, elapsed_ms);
    const unsigned long long done = tally.exchanges_done + tally.exchanges_failed;
    const unsigned long long keys = tally.keys_compared;
    char line[512];
    if (line_.terminal()) {
      std::snprintf(line, sizeof(line),
                    "%5.1f%%  %s %zu/%zu  exch %llu/%llu  %llu keys  %s  %llu keys/s  ETA %s",
                    PercentDown(whole), node.c_str(), index + 1, nodes_, done,
                    static_cast<unsigned long long>(tally.exchanges), keys,
                    FormatBytes(tally.bytes).c_str(), static_cast<unsigned long long>(rate),
                    eta.c_str());
    } else {
      std::snprintf(line, sizeof(line),
                    "repair %5.1f%%  node %s (%zu of %zu)  exchanges %llu/%llu  keys compared %llu "
                    " repaired %s  %llu keys/s  elapsed %s  ETA %s",
                    PercentDown(whole), node.c_str(), index + 1, nodes_, done,
                    static_cast<unsigned long long>(tally.exchanges), keys,
                    FormatBytes(tally.bytes).c_str(), static_cast<unsigned long long>(rate),
                    FormatDuration(elapsed_ms).c_str(), eta.c_str());
      // The last poll's line said it already (but for a few ms of elapsed time).
      if (final && printed_whole_ == whole && printed_index_ == index) return;
      printed_whole_ = whole, printed_index_ = index;
    }
    line_.Draw(whole, line, final);
  }
  void Say(const std::string& text) { line_.Say(text); }
  uint64_t elapsed_ms() const { return line_.elapsed_ms(); }

 private:
  ProgressLine line_;
  const size_t nodes_;
  double printed_whole_ = -1;  // the last plain line's
  size_t printed_index_ = 0;
};

// The cluster's members but those that left, as the first endpoint whose status answers sees
// them.
Result<std::vector<Target>> FindMembers(const RepairFlags& flags) {
  auto client = MakeClient(flags.client);
  if (!client.ok()) return client.status();
  auto status = (*client)->Status();
  if (!status.ok()) {
    return Status(status.status().code(),
                  "no node in --endpoints answered (" + status.status().ToString() + ")");
  }
  std::vector<Target> members;
  for (const auto& m : status->members) {
    if (m.state.status == cluster::MemberStatus::kLeft) continue;
    members.push_back(
        {m.state.id, m.state.name, m.state.address, m.alive || m.state.id == status->id});
  }
  return members;
}

struct NodeOutcome {
  Status status;
  RepairStatus last;  // the node's last report
};

// Polls `client` about repair `id` until it is done, the deadline passes or the node stays silent
// for kRepairUnreachableMsMax.
NodeOutcome Poll(Client& client, uint64_t id, uint64_t deadline_ms,
                 const std::function<void(const RepairStatus&)>& report) {
  NodeOutcome outcome;
  uint64_t answered_ms = MonotonicMs();
  while (true) {
    auto r = client.RepairProgress(id);
    const uint64_t now = MonotonicMs();
    if (r.ok() && !r->known) {
      outcome.status = Status::Unavailable(
          "it restarted during its repair (its repair ids do not "
          "survive a restart)");
      return outcome;
    }
    if (r.ok()) {
      answered_ms = now;
      outcome.last = *r;
      report(*r);
      if (r->done) return outcome;
    } else if (now - answered_ms >= kRepairUnreachableMsMax) {
      outcome.status = Status(r.status().code(), StrCat("no answer for ", now - answered_ms,
                                                        " ms: ", r.status().message()));
      return outcome;
    }
    if (now >= deadline_ms) {
      outcome.status = Status::Timeout(StrCat("not done when --timeout-s ran out (at ",
                                              static_cast<int>(outcome.last.fraction * 100),
                                              "%); the node goes on with it"));
      return outcome;
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::min(kRepairPollMs, deadline_ms - now)));
  }
}

// Starts `target`'s repair and follows it to the end. The status says why it is incomplete.
NodeOutcome RepairNode(const RepairFlags& flags, const Target& target,
                       const std::vector<TokenSpan>& spans, uint64_t deadline_ms,
                       const std::function<void(const RepairStatus&)>& report) {
  NodeOutcome outcome;
  if (MonotonicMs() >= deadline_ms) {
    outcome.status = Status::Timeout("not started: --timeout-s ran out");
    return outcome;
  }
  const uint64_t timeout_ms = flags.client.timeout_ms;
  ClientOptions options{{target.address}, timeout_ms, std::min<uint64_t>(timeout_ms, 2000)};
  (void)ApplyCredentials(flags.client, &options);  // checked by MakeClient before
  Client client(std::move(options));
  auto started = client.Repair(spans);
  if (!started.ok()) {
    outcome.status = Status(started.status().code(),
                            "could not start its repair: " + started.status().message());
    return outcome;
  }
  if (started->node != target.id) {
    outcome.status = Status::Internal("the node at " + target.address + " is not " + target.name +
                                      " (the cluster view is stale?)");
    return outcome;
  }
  outcome = Poll(client, started->id, deadline_ms, report);
  if (outcome.status.ok()) outcome.status = outcome.last.status;  // which exchanges failed
  return outcome;
}

// One run over the target nodes, in order: the running tally, each node's row, the failures.
class RepairRun {
 public:
  // `members`: every member, for the warnings about those that are down.
  RepairRun(const RepairFlags& flags, std::vector<Target> targets, std::vector<Target> members,
            std::vector<TokenSpan> spans)
      : flags_(flags),
        targets_(std::move(targets)),
        members_(std::move(members)),
        spans_(std::move(spans)),
        out_(flags.client.json ? std::cerr : std::cout),
        progress_(out_, flags.client.json ? STDERR_FILENO : STDOUT_FILENO, targets_.size()),
        deadline_ms_(MonotonicMs() + flags.timeout_s * 1000) {}

  void RepairAll() {
    const bool one = targets_.size() == 1;
    std::string names;
    for (const Target& t : targets_) names += (names.empty() ? "" : ", ") + t.name;
    const std::string what = spans_.empty() ? (one ? "all its ranges" : "all their ranges")
                                            : "the ranges intersecting tokens " + flags_.range;
    progress_.Say(one ? StrCat("repair of ", names, ": ", what)
                      : StrCat("repair of ", targets_.size(), " nodes, one after another (", names,
                               "): ", what));
    for (const Target& m : members_) {
      if (!m.alive) {
        progress_.Say(StrCat("warning: ", m.name, " (", m.address,
                             ") is down in the cluster's view: exchanges with it will fail"));
      }
    }
    for (size_t i = 0; i < targets_.size(); ++i) RepairOne(i);
    progress_.Update(work_, targets_.size() - 1, targets_.back().name, tally_, /*final=*/true);
  }

  // The summary (or the JSON object) on stdout; the exit code.
  int Finish() {
    const uint64_t elapsed_ms = progress_.elapsed_ms();
    const double percent = PercentDown(work_ / static_cast<double>(targets_.size()));
    if (flags_.client.json) {
      json summary = tally_.ToJson();
      summary["ok"] = failed_ == 0;
      summary["percent"] = percent;
      summary["nodes"] = rows_;
      summary["nodes_failed"] = failed_;
      summary["elapsed_ms"] = elapsed_ms;
      std::cout << summary.dump() << "\n";
    } else {
      std::cout << (failed_ == 0 ? "repair done: " : "repair incomplete: ") << targets_.size()
                << (targets_.size() == 1 ? " node" : " nodes")
                << (failed_ == 0 ? "" : StrCat(", ", failed_, " failed")) << ", " << percent
                << "%, " << FormatDuration(elapsed_ms) << "\n"
                << "  exchanges      " << tally_.exchanges << " (" << tally_.exchanges_failed
                << " failed)\n"
                << "  keys compared  " << tally_.keys_compared << "\n"
                << "  keys differed  " << tally_.keys_differed << "\n"
                << "  keys written   " << tally_.keys_written << "\n"
                << "  bytes          " << FormatBytes(tally_.bytes) << "\n";
    }
    if (failed_ == 0) return kExitOk;
    return Fail(ExitCodeFor(first_failure_),
                StrCat("repair incomplete: ", first_failed_, " failed (", first_failure_.ToString(),
                       ")", failed_ > 1 ? StrCat(", and ", failed_ - 1, " more") : ""),
                "bring the node or its peers back (`causeway status`), then repair again; what "
                "was repaired stays repaired");
  }

 private:
  void RepairOne(size_t i) {
    const Target& target = targets_[i];
    auto report = [&](const RepairStatus& r) {
      Tally now = tally_;
      now.Add(r);
      progress_.Update(work_ + (r.done ? 1.0 : r.fraction), i, target.name, now);
    };
    NodeOutcome o = RepairNode(flags_, target, spans_, deadline_ms_, report);
    tally_.Add(o.last);
    // A failed node counts the share of its work that completed, not what was attempted.
    const uint64_t ended = o.last.exchanges_done + o.last.exchanges_failed;
    work_ += o.status.ok() ? 1.0
                           : o.last.fraction * static_cast<double>(o.last.exchanges_done) /
                                 static_cast<double>(std::max<uint64_t>(ended, 1));
    Tally own;
    own.Add(o.last);
    json row = own.ToJson();
    row["name"] = target.name;
    row["address"] = target.address;
    row["elapsed_ms"] = o.last.elapsed_ms;
    row["ok"] = o.status.ok();
    if (!o.status.ok()) {
      row["error"] = o.status.ToString();
      if (failed_++ == 0) first_failure_ = o.status, first_failed_ = target.name;
      progress_.Say(StrCat(target.name, " (", target.address, ") failed: ", o.status.ToString()));
    }
    rows_.push_back(std::move(row));
  }

  const RepairFlags& flags_;
  const std::vector<Target> targets_;
  const std::vector<Target> members_;
  const std::vector<TokenSpan> spans_;
  std::ostream& out_;
  Progress progress_;
  const uint64_t deadline_ms_;
  Tally tally_;
  double work_ = 0;  // in nodes (Progress::Update)
  json rows_ = json::array();
  size_t failed_ = 0;
  Status first_failure_;
  std::string first_failed_;
};

int RunRepair(const RepairFlags& flags) {
  std::vector<TokenSpan> spans;  // empty: all of each node's ranges
  if (!flags.range.empty()) {
    auto parsed = ParseTokenRange(flags.range);
    if (!parsed.ok()) return Fail(kExitUsage, "--range: " + parsed.status().message());
    spans = std::move(parsed).value();
  }
  auto members = FindMembers(flags);
  if (!members.ok()) {
    const bool usage = members.status().code() == ErrorCode::kInvalidArgument;
    return Fail(ExitCodeFor(members.status()), members.status().message(),
                usage
                    ? "give --endpoints as HOST:PORT[,HOST:PORT...]"
                    : "start a node (`causeway serve` or `causeway local up`) or fix --endpoints");
  }
  std::vector<Target> targets;
  std::string names;
  for (const Target& m : *members) {
    names += (names.empty() ? "" : ", ") + m.name;
    if (flags.node.empty() || m.name == flags.node) targets.push_back(m);
  }
  if (targets.empty()) {
    return Fail(kExitUsage,
                StrCat("the cluster has no member named '", flags.node, "' (members: ", names, ")"),
                "name a member that `causeway status` lists");
  }
  RepairRun run(flags, std::move(targets), std::move(members).value(), std::move(spans));
  run.RepairAll();
  return run.Finish();
}

}  // namespace

void AddRepairCommand(CLI::App& app, CommandSlot* slot) {
  auto flags = std::make_shared<RepairFlags>();
  CLI::App* cmd = app.add_subcommand(
      "repair",
      "Repair replicas now (anti-entropy): each node compares its ranges with their other "
      "replicas and writes the newest version where one is missing or older. Nodes are repaired "
      "one after another; progress is shown until every node is done (100%) or one fails");
  CLI::Option* range = cmd->add_option(
      "--range", flags->range,
      "only the ranges intersecting tokens FIRST..LAST (decimal or 0x hex, both included; "
      "FIRST > LAST wraps past the top of the ring); default: every range");
  CLI::Option* node = cmd->add_option(
      "--node", flags->node, "only this member (its name in `causeway status`), all its ranges");
  range->excludes(node);
  cmd->add_option("--timeout-s", flags->timeout_s, "deadline of the whole repair, in seconds")
      ->check(CLI::Range(uint64_t{1}, kRepairTimeoutSMax))
      ->capture_default_str();
  AddClientFlags(cmd, &flags->client, /*session=*/false);
  cmd->callback([flags, slot] { *slot = [flags] { return RunRepair(*flags); }; });
}

}  // namespace causeway::tools
