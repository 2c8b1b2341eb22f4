// libFuzzer target: the RESP2 parser (rpc/resp/parser.h) on hostile client bytes, fed in chunks
// whose sizes the input chooses. Every command returned is non-empty and within the limits; a
// parser that failed stays failed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/assert.h"
#include "rpc/resp/parser.h"

using causeway::rpc::resp::Parser;
using causeway::rpc::resp::ParserLimits;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the limits (pre-AUTH or full) and the chunk size.
  const bool pre_auth = (data[0] & 1) != 0;
  const size_t chunk = 1 + (data[0] >> 1);
  const ParserLimits limits = pre_auth ? ParserLimits::PreAuth() : ParserLimits{};
  Parser parser(limits);
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string> args;
  while (!rest.empty() && !parser.failed()) {
    const std::string_view piece = rest.substr(0, chunk);
    rest.remove_prefix(piece.size());
    parser.Feed(piece);
    for (;;) {
      const Parser::Outcome o = parser.Next(&args);
      if (o != Parser::Outcome::kCommand) {
        CW_ASSERT(o == Parser::Outcome::kNeedMore || parser.failed(), "an error has a message");
        break;
      }
      CW_ASSERT(!args.empty(), "a command has a name");
      CW_ASSERT(args.size() <= limits.args_max, "no more arguments than the limit");
      // An inline command's arguments are bounded by the inline limit, a multibulk's by the
      // bulk limit (before AUTH the inline one may be the larger).
      const size_t arg_max = std::max(limits.bulk_bytes_max, limits.inline_bytes_max);
      for (const std::string& a : args) {
        CW_ASSERT(a.size() <= arg_max, "no argument beyond the bulk or inline limit");
      }
    }
  }
  if (parser.failed()) {
    CW_ASSERT(parser.Next(&args) == Parser::Outcome::kError, "a failed parser stays failed");
  }
  return 0;
}
