// `causeway put | get | del`: one call each, through causeway::Client.
//
// Output contract (docs/operations.md): `get` prints the value's bytes exactly, followed by a
// newline only when stdout is a terminal (so a shell prompt does not land on the value's line;
// pipes and files get the bytes and nothing else); with --json one object per line {key, found,
// value | value_base64, timestamp, writer, tombstone}. `put`/`del` print OK, or {key, timestamp,
// writer} with --json.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/hlc.h"
#include "base/limits.h"
#include "tools/internal/client_flags.h"
#include "tools/internal/commands.h"

namespace causeway::tools {
namespace {

struct KvFlags {
  ClientFlags client;
  std::string key;
  std::string value;
  std::string value_file;         // "-": stdin
  std::string consistency;        // --r or --w
  bool no_hinted_counts = false;  // put/del --no-hinted-counts
  CLI::Option* value_option = nullptr;
  bool skip_local_checks = false;  // hidden: lets tests prove the server rejects bad input
};

// Checks the key and value before sending them, so the user gets exit 2 and a precise message
// without a round trip. The node checks again: this is a courtesy, not the protection.
Status CheckLocally(const KvFlags& flags, std::string_view value) {
  if (flags.skip_local_checks) return Status::Ok();
  if (Status s = ValidateKey(flags.key); !s.ok()) {
    return Status::InvalidArgument("key " + DescribeKey(flags.key) + " is not valid (" +
                                   s.message() + "): keys are 1.." + std::to_string(kKeyBytesMax) +
                                   " bytes");
  }
  if (value.size() > kValueBytesMax) {
    return Status::InvalidArgument("the value is over " + std::to_string(kValueBytesMax) +
                                   " bytes (1 MiB), the largest a node stores");
  }
  return Status::Ok();
}

Result<std::string> ValueOf(const KvFlags& flags) {
  bool inline_value = flags.value_option->count() > 0;
  if (inline_value == !flags.value_file.empty()) {
    return Status::InvalidArgument(
        "give the value either as VALUE or with --value-file F "
        "(F = - reads stdin), exactly one of them");
  }
  if (inline_value) return flags.value;
  return ReadFileBounded(flags.value_file, kValueBytesMax);
}

Result<CallOptions> MakeCallOptions(const KvFlags& flags, std::string_view flag) {
  auto consistency = ParseConsistency(flags.consistency, flag);
  if (!consistency.ok()) return consistency.status();
  CallOptions options;
  options.consistency = *consistency;
  options.timeout_ms = flags.client.timeout_ms;
  options.hinted_counts = !flags.no_hinted_counts;
  return options;
}

int PrintWritten(const KvFlags& flags, const Version& version) {
  if (!flags.client.json) {
    std::cout << "OK\n";
    return kExitOk;
  }
  nlohmann::json out;
  SetBytes(out, "key", flags.key);
  out["timestamp"] = version.timestamp;
  out["time"] = HlcUtcText(version.timestamp);  // the same HLC, as UTC time + logical counter
  out["writer"] = version.writer;
  std::cout << out.dump() << "\n";
  return kExitOk;
}

// Shared tail of put and del: the call's result, the session file, the output.
int FinishWrite(const KvFlags& flags, const Client& client, const char* verb,
                const Result<Version>& written) {
  if (!written.ok()) {
    return FailStatus(std::string(verb) + " of key " + DescribeKey(flags.key) + " failed",
                      written.status());
  }
  if (Status s = SaveSession(flags.client, client); !s.ok()) {
    return FailStatus("the write succeeded but the session file was not saved", s);
  }
  return PrintWritten(flags, *written);
}

int RunPut(const KvFlags& flags) {
  auto value = ValueOf(flags);
  if (!value.ok()) return Fail(kExitUsage, value.status().message(), "see `causeway put --help`");
  if (Status s = CheckLocally(flags, *value); !s.ok()) {
    return Fail(kExitUsage, s.message(), "shorten it, or split it over several keys");
  }
  auto options = MakeCallOptions(flags, "--w");
  if (!options.ok()) return Fail(kExitUsage, options.status().message());
  auto client = MakeClient(flags.client);
  if (!client.ok()) return Fail(kExitUsage, client.status().message());
  auto written = (*client)->Put(flags.key, *value, *options);
  return FinishWrite(flags, **client, "put", written);
}

int RunDel(const KvFlags& flags) {
  if (Status s = CheckLocally(flags, {}); !s.ok()) return Fail(kExitUsage, s.message());
  auto options = MakeCallOptions(flags, "--w");
  if (!options.ok()) return Fail(kExitUsage, options.status().message());
  auto client = MakeClient(flags.client);
  if (!client.ok()) return Fail(kExitUsage, client.status().message());
  auto written = (*client)->Delete(flags.key, *options);
  return FinishWrite(flags, **client, "del", written);
}

void PrintRead(const KvFlags& flags, const ReadReply& reply) {
  if (!flags.client.json) {
    if (reply.found) {
      std::cout.write(reply.version->value.data(),
                      static_cast<std::streamsize>(reply.version->value.size()));
      if (::isatty(STDOUT_FILENO)) std::cout << "\n";
    }
    return;
  }
  nlohmann::json out;
  SetBytes(out, "key", flags.key);
  out["found"] = reply.found;
  if (reply.found) SetBytes(out, "value", reply.version->value);
  if (reply.version) {
    out["timestamp"] = reply.version->timestamp;
    out["time"] = HlcUtcText(reply.version->timestamp);
    out["writer"] = reply.version->writer;
    out["tombstone"] = reply.version->tombstone;
  }
  std::cout << out.dump() << "\n";
}

int RunGet(const KvFlags& flags) {
  if (Status s = CheckLocally(flags, {}); !s.ok()) return Fail(kExitUsage, s.message());
  auto options = MakeCallOptions(flags, "--r");
  if (!options.ok()) return Fail(kExitUsage, options.status().message());
  auto client = MakeClient(flags.client);
  if (!client.ok()) return Fail(kExitUsage, client.status().message());
  auto reply = (*client)->Get(flags.key, *options);
  if (!reply.ok()) {
    return FailStatus("get of key " + DescribeKey(flags.key) + " failed", reply.status());
  }
  if (reply->found && !reply->version) {  // the client promises otherwise; never print garbage
    return FailStatus("get of key " + DescribeKey(flags.key) + " failed",
                      Status::Internal("the reply says found but carries no version"));
  }
  if (Status s = SaveSession(flags.client, **client); !s.ok()) {
    return FailStatus("the read succeeded but the session file was not saved", s);
  }
  PrintRead(flags, *reply);
  std::cout.flush();
  if (reply->found) return kExitOk;
  if (!flags.client.json) std::cerr << "not found: key " << DescribeKey(flags.key) << "\n";
  return kExitNotFound;
}

CLI::App* AddKeyCommand(CLI::App& app, const char* name, const char* help,
                        const std::shared_ptr<KvFlags>& flags) {
  CLI::App* cmd = app.add_subcommand(name, help);
  cmd->add_option("KEY", flags->key, "the key (1..64 KiB of any bytes)")->required();
  AddClientFlags(cmd, &flags->client, /*session=*/true);
  AddAttemptTimeoutFlag(cmd, &flags->client);
  cmd->add_flag("--skip-local-checks", flags->skip_local_checks,
                "send even an invalid key or value (for testing the node's checks)")
      ->group("");
  return cmd;
}

}  // namespace

void AddKvCommands(CLI::App& app, CommandSlot* slot) {
  auto put = std::make_shared<KvFlags>();
  CLI::App* cmd = AddKeyCommand(app, "put", "Write a value", put);
  put->value_option = cmd->add_option("VALUE", put->value, "the value (or use --value-file)");
  cmd->add_option("--value-file", put->value_file, "read the value from a file; - reads stdin");
  cmd->add_option("--w", put->consistency, "replicas that must acknowledge: N|one|quorum|all");
  cmd->add_flag("--no-hinted-counts", put->no_hinted_counts,
                "count only real replicas toward W, not hints kept for replicas that are down");
  cmd->callback([put, slot] { *slot = [put] { return RunPut(*put); }; });

  auto get = std::make_shared<KvFlags>();
  cmd = AddKeyCommand(app, "get", "Read a value (exit 1 when not found)", get);
  cmd->add_option("--r", get->consistency, "replicas to read: N|one|quorum|all");
  cmd->callback([get, slot] { *slot = [get] { return RunGet(*get); }; });

  auto del = std::make_shared<KvFlags>();
  cmd = AddKeyCommand(app, "del", "Delete a key (writes a tombstone)", del);
  cmd->add_option("--w", del->consistency, "replicas that must acknowledge: N|one|quorum|all");
  cmd->add_flag("--no-hinted-counts", del->no_hinted_counts,
                "count only real replicas toward W, not hints kept for replicas that are down");
  cmd->callback([del, slot] { *slot = [del] { return RunDel(*del); }; });
}

}  // namespace causeway::tools
