// Reply encoding: RESP2 values appended to a byte string (docs/formats.md, "RESP2 subset").
//
// Simple strings and errors are single lines: any CR or LF in their text is replaced by a space
// (our messages may quote a client's bytes). Bulk strings are binary-safe. ErrorReply() is the one
// mapping from a causeway::Status to a RESP error: its first word is a code a client can branch
// on (as Redis's WRONGTYPE or NOAUTH), never the message text. Plain functions, no state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace causeway::rpc::resp {

void AppendSimple(std::string* out, std::string_view text);  // +text
void AppendError(std::string* out, std::string_view text);   // -text ("CODE message")
void AppendInteger(std::string* out, int64_t n);             // :n
void AppendBulk(std::string* out, std::string_view bytes);   // $len bytes
void AppendNull(std::string* out);                           // $-1 (nil)
void AppendArrayHeader(std::string* out, size_t n);          // *n, then n values
std::string Error(std::string_view text);                    // one encoded -text reply
std::string Lower(std::string_view s);  // ASCII lower case (command and option names)

// The RESP error for a failed `status` (not ok): "<CODE> <message>", CODE being ERR for
// kInvalidArgument and, for the others, the code's name in capitals (UNAVAILABLE, TIMEOUT,
// OVERLOADED, CLOCKSKEW, CORRUPTION, IOERROR, NOSPACE, INTERNAL).
std::string ErrorReply(const Status& status);
void AppendStatusError(std::string* out, const Status& status);

}  // namespace causeway::rpc::resp
