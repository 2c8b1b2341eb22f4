// libFuzzer target: the users-file and cluster-secret parsers (rpc/users.h, rpc/cluster_secret.h).
// Parsing never runs the KDF, so this is fast; a parsed file must serialise and parse again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/assert.h"
#include "rpc/cluster_secret.h"
#include "rpc/users.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto users = causeway::rpc::Users::Parse(text, "fuzz");
  if (users.ok()) {
    auto again = causeway::rpc::Users::Parse(users->Serialize(), "fuzz");
    CW_ASSERT(again.ok() && again->size() == users->size(), "a parsed users file must parse again");
  }
  (void)causeway::rpc::ClusterSecret::Parse(text, "fuzz");
  return 0;
}
