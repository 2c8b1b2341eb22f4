// Parser: the RESP2 request framing (docs/formats.md, "RESP2 subset"), sans-IO and incremental.
//
// Bytes go in as they arrive (Feed, any fragmentation, down to one byte at a time); complete
// commands come out (Next), each an argument vector, in order. Two framings, as Redis accepts:
//  * multibulk: "*<n>\r\n" then n times "$<len>\r\n<len bytes>\r\n" (binary-safe);
//  * inline: one line of space-separated words ending in "\n" ("\r\n" too), with Redis's quoting
//    ("..." with \n \r \t \b \a \\ \" \xHH escapes, '...' with \'), as redis-cli and telnet send.
// "*0" and "*-1" are empty requests and are skipped, as is an empty inline line.
//
// Every limit is checked before memory is committed to it (ParserLimits; base/limits.h): a
// bulk's declared length against bulk_bytes_max, a command's argument count against args_max,
// a command's framed bytes against command_bytes_max, an inline line against inline_bytes_max,
// a header line against kRespHeaderBytesMax. Requests are flat (kRespNestingMax = 1): an array
// where a bulk string is expected is an error. The first malformed or oversize frame puts the
// parser in its error state for good: Next() keeps returning kError with error() saying why
// ("Protocol error: ..."), and the connection is expected to answer it and close.
//
// Work per byte is O(1) amortised whatever the fragmentation: partial progress (the arguments
// parsed so far, a bulk's header, how far an inline line was scanned) is kept between calls.
// The buffer holds the unparsed input only: at most one partial command plus what was fed
// after it. Not thread-safe; a plain value owned by one connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/limits.h"

namespace causeway::rpc::resp {

struct ParserLimits {
  size_t bulk_bytes_max = kRespBulkBytesMax;
  size_t args_max = kRespArgsMax;
  size_t inline_bytes_max = kRespInlineBytesMax;
  size_t command_bytes_max = kRespCommandBytesMax;
  // The tiny limits of a connection that has not authenticated yet (a password is set).
  static ParserLimits PreAuth();
};

class Parser {
 public:
  explicit Parser(ParserLimits limits = {}) : limits_(limits) {}

  // Limits for the commands parsed from now on (a command already begun keeps its checks).
  void set_limits(ParserLimits limits) { limits_ = limits; }
  const ParserLimits& limits() const { return limits_; }

  // Appends received bytes.
  void Feed(std::string_view bytes);

  enum class Outcome { kCommand, kNeedMore, kError };
  // The next complete command into *args (replaced; never empty on kCommand).
  Outcome Next(std::vector<std::string>* args);

  // Why the parser failed: "Protocol error: ..." (empty until it did).
  const std::string& error() const { return error_; }
  bool failed() const { return !error_.empty(); }
  // Bytes received and not yet part of a returned command.
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  Outcome Fail(std::string message);
  Outcome NextMultibulk(std::vector<std::string>* args);
  Outcome NextInline(std::vector<std::string>* args);
  // Parses a "<prefix><integer>\r\n" header at pos_: kCommand with *value set and pos_ moved on,
  // kNeedMore, or kError naming `what`.
  Outcome Header(char prefix, const char* what, long long* value);
  void Compact();

  ParserLimits limits_;
  std::string buf_;
  size_t pos_ = 0;  // buf_[pos_, end) is unparsed
  std::string error_;
  // A multibulk command in progress.
  bool in_multibulk_ = false;
  size_t args_left_ = 0;
  long long bulk_len_ = -1;  // the current bulk's header is parsed: its length
  size_t command_bytes_ = 0;
  std::vector<std::string> args_;
  size_t inline_scanned_ = 0;  // bytes after pos_ known to hold no '\n'
};

// Splits an inline request line into arguments (Redis's sdssplitargs rules); false on
// unbalanced quotes.
bool SplitInline(std::string_view line, std::vector<std::string>* args);

}  // namespace causeway::rpc::resp
