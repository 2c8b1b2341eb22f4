#include "cluster/persist.h"

#include <algorithm>
#include <charconv>

#include "base/limits.h"
#include "cluster/internal/bytes.h"

namespace causeway::cluster {
namespace {

void PutString(std::string* out, const std::string& s) {
  internal::PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

bool GetString(internal::ByteReader* in, size_t max, std::string* out) {
  uint32_t n = 0;
  std::string_view bytes;
  if (!in->GetU32(&n) || n > max || !in->GetBytes(n, &bytes)) return false;
  out->assign(bytes);
  return true;
}

bool GetMember(internal::ByteReader* in, MemberState* m) {
  uint8_t status = 0;
  uint32_t tokens = 0;
  if (!in->GetU64(&m->id) || !GetString(in, kNodeNameBytesMax, &m->name) ||
      !GetString(in, kNodeAddressBytesMax, &m->address) || !in->GetU64(&m->generation) ||
      !in->GetU64(&m->heartbeat) || !in->GetU8(&status) || !in->GetU32(&tokens)) {
    return false;
  }
  if (m->id == 0 || status > static_cast<uint8_t>(MemberStatus::kJoining) ||
      tokens > static_cast<uint32_t>(kTokensPerNodeMax)) {
    return false;
  }
  m->status = static_cast<MemberStatus>(status);
  m->tokens.resize(tokens);
  for (Token& t : m->tokens) {
    if (!in->GetU64(&t)) return false;
  }
  return true;
}

}  // namespace

std::string EncodeTokens(const std::vector<Token>& tokens) {
  std::string out;
  for (Token t : tokens) {
    if (!out.empty()) out += ',';
    out += std::to_string(t);
  }
  return out;
}

Result<std::vector<Token>> DecodeTokens(std::string_view text) {
  std::vector<Token> tokens;
  if (text.empty()) return tokens;
  const std::string_view whole = text;
  for (bool more = true; more;) {
    size_t comma = text.find(',');
    more = comma != std::string_view::npos;
    std::string_view item = text.substr(0, comma);
    Token t = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), t);
    if (ec != std::errc() || end != item.data() + item.size() || item.empty() ||
        tokens.size() >= static_cast<size_t>(kTokensPerNodeMax)) {
      return Status::Corruption("stored ring tokens are unreadable: " +
                                std::string(whole.substr(0, 64)));
    }
    tokens.push_back(t);
    if (more) text = text.substr(comma + 1);
  }
  return tokens;
}

std::string EncodeMembers(const std::vector<MemberState>& members) {
  std::string out;
  out.push_back(static_cast<char>(kMembersFormat));
  const size_t count = std::min(members.size(), kClusterNodesMax);
  internal::PutU32(&out, static_cast<uint32_t>(count));
  for (size_t i = 0; i < count; ++i) {
    const MemberState& m = members[i];
    internal::PutU64(&out, m.id);
    PutString(&out, m.name);
    PutString(&out, m.address);
    internal::PutU64(&out, m.generation);
    internal::PutU64(&out, m.heartbeat);
    out.push_back(static_cast<char>(m.status));
    internal::PutU32(&out, static_cast<uint32_t>(m.tokens.size()));
    for (Token t : m.tokens) internal::PutU64(&out, t);
  }
  return out;
}

Result<std::vector<MemberState>> DecodeMembers(std::string_view bytes) {
  internal::ByteReader in(bytes);
  uint8_t format = 0;
  uint32_t count = 0;
  if (!in.GetU8(&format) || format != kMembersFormat) {
    return Status::Corruption("stored member view has an unknown format");
  }
  if (!in.GetU32(&count) || count > kClusterNodesMax) {
    return Status::Corruption("stored member view has a bad member count");
  }
  std::vector<MemberState> members(count);
  for (MemberState& m : members) {
    if (!GetMember(&in, &m)) return Status::Corruption("stored member view is malformed");
  }
  if (in.remaining() != 0) return Status::Corruption("stored member view has trailing bytes");
  return members;
}

}  // namespace causeway::cluster
