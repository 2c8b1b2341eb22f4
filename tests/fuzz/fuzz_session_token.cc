// libFuzzer target: the session-token decoder (cluster/session.h) on hostile client bytes. A
// token that decodes must encode back to bytes that decode to the same token.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/assert.h"
#include "cluster/session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto token = causeway::cluster::SessionToken::Decode(bytes);
  if (!token.ok()) return 0;
  auto again = causeway::cluster::SessionToken::Decode(token->Encode());
  CW_ASSERT(again.ok(), "a decoded session token must decode again");
  return 0;
}
