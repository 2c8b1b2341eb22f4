#include "rpc/resp/parser.h"

#include <cstring>
#include <limits>

#include "base/strings.h"

namespace causeway::rpc::resp {
namespace {

// The buffer is compacted (its parsed prefix dropped) once that prefix is at least this large
// and at least half of it, so compaction costs O(1) amortised per byte.
constexpr size_t kCompactBytesMin = 4096;

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v'; }

// A decimal integer, optionally negative, nothing else; false if it is not one or overflows.
bool ParseInteger(std::string_view text, long long* out) {
  if (text.empty()) return false;
  bool negative = text[0] == '-';
  size_t i = negative ? 1 : 0;
  if (i == text.size()) return false;
  long long v = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c < '0' || c > '9') return false;
    // Beyond any limit, and before v * 10 + 9 could overflow (found by tests/fuzz/fuzz_resp).
    if (v > (std::numeric_limits<long long>::max() - 9) / 10) return false;
    v = v * 10 + (c - '0');
  }
  *out = negative ? -v : v;
  return true;
}

// A double-quoted argument starting after its opening quote at line[*i]; *i ends after the
// closing quote. False if unbalanced or the closing quote is not followed by a space or the end.
bool QuotedDouble(std::string_view line, size_t* i, std::string* out) {
  while (*i < line.size()) {
    char c = line[*i];
    if (c == '\\' && *i + 3 < line.size() && line[*i + 1] == 'x' && IsHexDigit(line[*i + 2]) &&
        IsHexDigit(line[*i + 3])) {
      out->push_back(static_cast<char>(HexValue(line[*i + 2]) * 16 + HexValue(line[*i + 3])));
      *i += 4;
    } else if (c == '\\' && *i + 1 < line.size()) {
      char e = line[*i + 1];
      switch (e) {
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'a':
          out->push_back('\a');
          break;
        default:
          out->push_back(e);
          break;
      }
      *i += 2;
    } else if (c == '"') {
      ++*i;
      return *i == line.size() || IsSpace(line[*i]);
    } else {
      out->push_back(c);
      ++*i;
    }
  }
  return false;
}

bool QuotedSingle(std::string_view line, size_t* i, std::string* out) {
  while (*i < line.size()) {
    char c = line[*i];
    if (c == '\\' && *i + 1 < line.size() && line[*i + 1] == '\'') {
      out->push_back('\'');
      *i += 2;
    } else if (c == '\'') {
      ++*i;
      return *i == line.size() || IsSpace(line[*i]);
    } else {
      out->push_back(c);
      ++*i;
    }
  }
  return false;
}

}  // namespace

ParserLimits ParserLimits::PreAuth() {
  ParserLimits l;
  l.bulk_bytes_max = kRespPreAuthBulkBytesMax;
  l.args_max = kRespPreAuthArgsMax;
  l.inline_bytes_max = kRespPreAuthCommandBytesMax;
  l.command_bytes_max = kRespPreAuthCommandBytesMax;
  return l;
}

bool SplitInline(std::string_view line, std::vector<std::string>* args) {
  args->clear();
  size_t i = 0;
  while (true) {
    while (i < line.size() && IsSpace(line[i])) ++i;
    if (i == line.size()) return true;
    std::string arg;
    if (line[i] == '"') {
      ++i;
      if (!QuotedDouble(line, &i, &arg)) return false;
    } else if (line[i] == '\'') {
      ++i;
      if (!QuotedSingle(line, &i, &arg)) return false;
    } else {
      while (i < line.size() && !IsSpace(line[i])) arg.push_back(line[i++]);
    }
    args->push_back(std::move(arg));
  }
}

void Parser::Feed(std::string_view bytes) {
  Compact();
  buf_.append(bytes);
}

void Parser::Compact() {
  if (pos_ == 0) return;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ >= kCompactBytesMin && pos_ * 2 >= buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

Parser::Outcome Parser::Fail(std::string message) {
  error_ = "Protocol error: " + std::move(message);
  in_multibulk_ = false;
  args_.clear();
  return Outcome::kError;
}

Parser::Outcome Parser::Next(std::vector<std::string>* args) {
  while (true) {
    if (failed()) return Outcome::kError;
    if (in_multibulk_) return NextMultibulk(args);
    if (pos_ == buf_.size()) return Outcome::kNeedMore;
    if (buf_[pos_] != '*') return NextInline(args);
    long long count = 0;
    Outcome o = Header('*', "multibulk", &count);
    if (o != Outcome::kCommand) return o;
    if (count <= 0) {
      if (count < -1) return Fail(StrCat("invalid multibulk length ", count));
      continue;  // "*0" and "*-1": an empty request, skipped
    }
    if (static_cast<size_t>(count) > limits_.args_max) {
      return Fail(StrCat("invalid multibulk length ", count, " (at most ", limits_.args_max,
                         " arguments)"));
    }
    in_multibulk_ = true;
    args_left_ = static_cast<size_t>(count);
    bulk_len_ = -1;
    command_bytes_ = 0;
    args_.clear();
    args_.reserve(args_left_);
  }
}

Parser::Outcome Parser::Header(char prefix, const char* what, long long* value) {
  const size_t avail = buf_.size() - pos_;
  const size_t scan = std::min(avail, kRespHeaderBytesMax);
  const void* nl = std::memchr(buf_.data() + pos_, '\n', scan);
  if (nl == nullptr) {
    if (avail >= kRespHeaderBytesMax) return Fail(StrCat("too big ", what, " count string"));
    return Outcome::kNeedMore;
  }
  const size_t nl_at = static_cast<const char*>(nl) - buf_.data();
  if (nl_at == pos_ || buf_[nl_at - 1] != '\r') {
    return Fail(StrCat("expected CRLF after the ", what, " header"));
  }
  std::string_view digits(buf_.data() + pos_ + 1, nl_at - 1 - pos_ - 1);
  if (buf_[pos_] != prefix || !ParseInteger(digits, value)) {
    return Fail(StrCat("invalid ", what, " length"));
  }
  command_bytes_ += nl_at + 1 - pos_;
  pos_ = nl_at + 1;
  return Outcome::kCommand;
}

Parser::Outcome Parser::NextMultibulk(std::vector<std::string>* args) {
  while (args_left_ > 0) {
    if (bulk_len_ < 0) {
      if (pos_ == buf_.size()) return Outcome::kNeedMore;
      if (buf_[pos_] != '$') {
        const char got = buf_[pos_];
        return Fail(got == '*' ? StrCat("expected '$', got '*' (requests are flat arrays of bulk "
                                        "strings, nesting at most ",
                                        kRespNestingMax, ")")
                               : StrCat("expected '$', got '", got, "'"));
      }
      long long len = 0;
      Outcome o = Header('$', "bulk", &len);
      if (o != Outcome::kCommand) return o;
      if (len < 0 || static_cast<size_t>(len) > limits_.bulk_bytes_max) {
        return Fail(
            StrCat("invalid bulk length ", len, " (at most ", limits_.bulk_bytes_max, " bytes)"));
      }
      if (command_bytes_ + static_cast<size_t>(len) + 2 > limits_.command_bytes_max) {
        return Fail(StrCat("command larger than ", limits_.command_bytes_max, " bytes"));
      }
      bulk_len_ = len;
    }
    const size_t need = static_cast<size_t>(bulk_len_) + 2;
    if (buf_.size() - pos_ < need) return Outcome::kNeedMore;
    if (buf_[pos_ + need - 2] != '\r' || buf_[pos_ + need - 1] != '\n') {
      return Fail("expected CRLF after a bulk string");
    }
    args_.emplace_back(buf_.data() + pos_, static_cast<size_t>(bulk_len_));
    pos_ += need;
    command_bytes_ += need;
    bulk_len_ = -1;
    --args_left_;
  }
  in_multibulk_ = false;
  args->swap(args_);
  args_.clear();
  return Outcome::kCommand;
}

Parser::Outcome Parser::NextInline(std::vector<std::string>* args) {
  const size_t line_max = std::min(limits_.inline_bytes_max, limits_.command_bytes_max);
  while (true) {
    const size_t avail = buf_.size() - pos_;
    const size_t scan_end = std::min(avail, line_max + 1);
    const char* from = buf_.data() + pos_ + inline_scanned_;
    const void* nl = std::memchr(from, '\n', scan_end - inline_scanned_);
    if (nl == nullptr) {
      inline_scanned_ = scan_end;
      if (avail > line_max) return Fail("too big inline request");
      return Outcome::kNeedMore;
    }
    const size_t nl_at = static_cast<const char*>(nl) - buf_.data();
    std::string_view line(buf_.data() + pos_, nl_at - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    inline_scanned_ = 0;
    if (!SplitInline(line, args)) return Fail("unbalanced quotes in request");
    if (args->size() > limits_.args_max) {
      return Fail(StrCat("inline request of more than ", limits_.args_max, " arguments"));
    }
    pos_ = nl_at + 1;
    if (!args->empty()) return Outcome::kCommand;
    // An empty line: skipped, as Redis does (telnet users press return).
    if (pos_ == buf_.size() || buf_[pos_] == '*') return Next(args);
  }
}

}  // namespace causeway::rpc::resp
