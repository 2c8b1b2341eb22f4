#include "tools/internal/cli.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "base/limits.h"

namespace causeway::tools {

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kOk:
      return kExitOk;
    case ErrorCode::kInvalidArgument:
      return kExitUsage;
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
    case ErrorCode::kOverloaded:
      return kExitUnavailable;
    default:
      return kExitError;
  }
}

std::string HintFor(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kInvalidArgument:
      return "fix the request (see `causeway --help`) and run it again";
    case ErrorCode::kUnavailable:
      return "check that the nodes in --endpoints are running (`causeway status`), or lower "
             "--r/--w, then retry";
    case ErrorCode::kTimeout:
      return "the outcome is unknown; retry (writes are idempotent per value) or raise "
             "--timeout-ms";
    case ErrorCode::kOverloaded:
      return "the node is at its in-flight limit; back off and retry";
    case ErrorCode::kClockSkew:
      return "a clock is too far ahead; check NTP on every node";
    case ErrorCode::kCorruption:
      return "stored data failed a check; stop the node and repair its data dir";
    case ErrorCode::kIoError:
    case ErrorCode::kNoSpace:
      return "the node's disk failed or is full; fix it and restart the node";
    default:
      return "this is unexpected; see the node's log and report it";
  }
}

int Fail(int code, std::string_view what, std::string_view hint) {
  std::cerr << "error: " << what << "\n";
  if (!hint.empty()) std::cerr << "hint: " << hint << "\n";
  return code;
}

int FailStatus(std::string_view context, const Status& status) {
  return Fail(ExitCodeFor(status), std::string(context) + ": " + status.ToString(),
              HintFor(status));
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

namespace {

// 'text' in single quotes. Messages are built by appending to it: GCC 12 reports a false
// -Wrestrict for "literal" + std::string temporaries at -O3 (the insert-at-front overload).
std::string Quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  out += text;
  out += '\'';
  return out;
}

}  // namespace

namespace {

constexpr size_t kHostBytesMax = 253;  // the longest DNS name

// A name or IPv4 address (letters, digits, '.', '-', '_'), or an IPv6 address in brackets (hex
// digits, ':', '.', and a zone after '%'). Anything else (',', spaces, a bare ':') would be read
// differently by the list and address parsers downstream.
bool IsValidHost(std::string_view host) {
  if (host.empty() || host.size() > kHostBytesMax) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    for (char c : host.substr(1, host.size() - 2)) {
      if (!alnum(c) && c != ':' && c != '.' && c != '%') return false;
    }
    return true;
  }
  for (char c : host) {
    if (!alnum(c) && c != '.' && c != '-' && c != '_') return false;
  }
  return true;
}

}  // namespace

Status ValidateHostPort(std::string_view address) {
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || !IsValidHost(address.substr(0, colon))) {
    return Status::InvalidArgument(Quoted(address) +
                                   " is not HOST:PORT (for example 127.0.0.1:7400)");
  }
  auto port = ParseUint(address.substr(colon + 1), "port");
  if (!port.ok() || *port == 0 || *port > 65535) {
    return Status::InvalidArgument(Quoted(address) +
                                   " has no valid port (1..65535 after the last ':')");
  }
  return Status::Ok();
}

Result<cluster::Consistency> ParseConsistency(std::string_view text, std::string_view flag) {
  if (text.empty()) return cluster::Consistency{};
  if (text == "one") return cluster::Consistency::One();
  if (text == "quorum") return cluster::Consistency::Quorum();
  if (text == "all") return cluster::Consistency::All();
  auto n = ParseUint(text, flag);
  if (!n.ok() || *n < 1 || *n > static_cast<uint64_t>(kReplicationFactorMax)) {
    return Status::InvalidArgument(std::string(flag) + " must be one, quorum, all or a number 1.." +
                                   std::to_string(kReplicationFactorMax) + ", not '" +
                                   std::string(text) + "'");
  }
  return cluster::Consistency::Number(static_cast<int>(*n));
}

Result<uint64_t> ParseUint(std::string_view text, std::string_view what) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument(std::string(what) + " must be a non-negative integer, not '" +
                                   std::string(text) + "'");
  }
  return value;
}

Result<Token> ParseToken(std::string_view text, std::string_view what) {
  const std::string_view given = text;
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
    base = 16;
  }
  Token value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    std::string message(what);
    message += " must be a token (0..18446744073709551615, or hex as 0x...), not ";
    message += Quoted(given);
    return Status::InvalidArgument(message);
  }
  return value;
}

Result<std::vector<TokenSpan>> ParseTokenRange(std::string_view text) {
  size_t dots = text.find("..");
  if (dots == std::string_view::npos) {
    return Status::InvalidArgument(Quoted(text) +
                                   " is not FIRST..LAST (for example 0..0x7fffffffffffffff)");
  }
  Result<Token> first = ParseToken(text.substr(0, dots), "the range's FIRST");
  if (!first.ok()) return first.status();
  Result<Token> last = ParseToken(text.substr(dots + 2), "the range's LAST");
  if (!last.ok()) return last.status();
  if (*first <= *last) return std::vector<TokenSpan>{{*first, *last}};
  return std::vector<TokenSpan>{{*first, ~Token{0}}, {0, *last}};
}

bool IsValidUtf8(std::string_view s) {
  // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
  static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<uint8_t>(s[i]);
    size_t extra = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c >> 5) == 0x6) {
      extra = 1, cp = c & 0x1F;
    } else if ((c >> 4) == 0xE) {
      extra = 2, cp = c & 0x0F;
    } else if ((c >> 3) == 0x1E) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < kMinForLength[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

std::string Base64Encode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes) {
  int fd = path == "-" ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::InvalidArgument("cannot open '" + path + "': " + std::strerror(errno));
  }
  std::string out;
  char buf[64 << 10];
  while (out.size() <= max_bytes) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Status::InvalidArgument("cannot read '" + path + "': " + std::strerror(errno));
      if (fd != STDIN_FILENO) ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  if (fd != STDIN_FILENO) ::close(fd);
  if (out.size() > max_bytes) out.resize(max_bytes + 1);
  return out;
}

Status WriteFileAtomic(const std::string& path, std::string_view bytes) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("cannot create '" + tmp + "': " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    done += static_cast<size_t>(n);
  }
  bool ok = done == bytes.size() && ::fsync(fd) == 0;
  int saved_errno = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) saved_errno = errno;
    ::unlink(tmp.c_str());
    return Status::IoError("cannot write '" + path + "': " + std::strerror(saved_errno));
  }
  return Status::Ok();
}

}  // namespace causeway::tools
