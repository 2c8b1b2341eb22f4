// Shared pieces of the `causeway` command: exit codes, error reporting, and small parsers.
//
// The CLI contract (docs/operations.md): exit 0 ok, 1 key not found, 2 usage error, 3 unavailable
// or timed out, 4 any other error. Every error goes to stderr as one "error: ..." line that says
// what went wrong, followed by a "hint: ..." line that says what to do.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/token.h"
#include "cluster/messages.h"

namespace CLI {
class App;
}

namespace causeway::tools {

enum ExitCode : int {
  kExitOk = 0,
  kExitNotFound = 1,
  kExitUsage = 2,
  kExitUnavailable = 3,
  kExitError = 4,
};

// The exit code a failed call maps to: kInvalidArgument -> usage (the request itself is wrong),
// unavailable / timeout / overloaded -> 3 (retry later or elsewhere), everything else -> 4.
int ExitCodeFor(const Status& status);
// The advice printed after an error of this code.
std::string HintFor(const Status& status);

// Prints "error: <what>" and "hint: <hint>" (when not empty) to stderr; returns `code`.
int Fail(int code, std::string_view what, std::string_view hint = {});
// Fail(ExitCodeFor(status), context + ": " + status, HintFor(status)).
int FailStatus(std::string_view context, const Status& status);

// A subcommand stores its runner here when CLI11 selects it; main() runs it after parsing, so that
// parse errors and run errors are told apart (exit 2 vs the command's own code).
using CommandSlot = std::function<int()>;

// ---- parsers ---------------------------------------------------------------------------------
// "a,b, c" -> {"a","b","c"}; empty items dropped.
std::vector<std::string> SplitList(std::string_view text);
// Validates "host:port": port 1..65535; host a name or IPv4 address (letters, digits, '.', '-',
// '_') or an IPv6 address in brackets. Returns an explanation on failure.
Status ValidateHostPort(std::string_view address);
// "N" (1..kReplicationFactorMax), "one", "quorum", "all"; "" -> the node's default.
Result<cluster::Consistency> ParseConsistency(std::string_view text, std::string_view flag);
Result<uint64_t> ParseUint(std::string_view text, std::string_view what);
// A ring token: decimal, or hex after "0x".
Result<Token> ParseToken(std::string_view text, std::string_view what);
// "FIRST..LAST" (tokens, both included) as spans: one when FIRST <= LAST, else the two pieces of
// a range that wraps past the top of the ring (FIRST..max, 0..LAST).
Result<std::vector<TokenSpan>> ParseTokenRange(std::string_view text);

// ---- bytes -----------------------------------------------------------------------------------
bool IsValidUtf8(std::string_view bytes);
std::string Base64Encode(std::string_view bytes);
// Reads at most `max_bytes + 1` bytes from `path` ("-" = stdin), so a caller can tell "too big"
// without reading an unbounded file.
Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes);
// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename.
Status WriteFileAtomic(const std::string& path, std::string_view bytes);

}  // namespace causeway::tools
