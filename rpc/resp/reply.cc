#include "rpc/resp/reply.h"

#include <cctype>
#include <charconv>

namespace causeway::rpc::resp {
namespace {

void AppendLine(std::string* out, char prefix, std::string_view text) {
  out->push_back(prefix);
  const size_t start = out->size();
  out->append(text);
  for (size_t i = start; i < out->size(); ++i) {
    if ((*out)[i] == '\r' || (*out)[i] == '\n') (*out)[i] = ' ';
  }
  out->append("\r\n");
}

void AppendNumber(std::string* out, char prefix, int64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), n);
  out->push_back(prefix);
  out->append(digits, end);
  out->append("\r\n");
}

}  // namespace

void AppendSimple(std::string* out, std::string_view text) { AppendLine(out, '+', text); }
void AppendError(std::string* out, std::string_view text) { AppendLine(out, '-', text); }
void AppendInteger(std::string* out, int64_t n) { AppendNumber(out, ':', n); }
void AppendNull(std::string* out) { out->append("$-1\r\n"); }
void AppendArrayHeader(std::string* out, size_t n) {
  AppendNumber(out, '*', static_cast<int64_t>(n));
}

void AppendBulk(std::string* out, std::string_view bytes) {
  AppendNumber(out, '$', static_cast<int64_t>(bytes.size()));
  out->append(bytes);
  out->append("\r\n");
}

std::string ErrorReply(const Status& status) {
  std::string code;
  if (status.code() == ErrorCode::kInvalidArgument) {
    code = "ERR";
  } else {
    for (char c : ErrorCodeName(status.code())) {
      code.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
  }
  return code + " " + status.message();
}

void AppendStatusError(std::string* out, const Status& status) {
  AppendError(out, ErrorReply(status));
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Error(std::string_view text) {
  std::string out;
  AppendError(&out, text);
  return out;
}

}  // namespace causeway::rpc::resp
