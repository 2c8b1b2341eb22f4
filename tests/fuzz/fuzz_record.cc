// libFuzzer target: the engine's record decoders (engine/record.h) on arbitrary stored bytes: a
// corrupt record must be a kCorruption value, never a crash or an out-of-bounds read.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)causeway::DecodeVersion(bytes);
  (void)causeway::DecodeVersionHeader(bytes);
  return 0;
}
