// libFuzzer target: the listener's ClientHello reader (rpc/internal/tls_sniff.h), which runs on
// the first bytes of every connection to a node with TLS, before any authentication. A name it
// returns is a piece of the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/assert.h"
#include "rpc/internal/tls_sniff.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view record(reinterpret_cast<const char*>(data), size);
  const std::string name = causeway::rpc::ClientHelloServerName(record);
  CW_ASSERT(name.size() <= size, "a server name longer than the input");
  CW_ASSERT(name.empty() || record.find(name) != std::string_view::npos,
            "a server name that is not in the input");
  return 0;
}
