// libFuzzer target: the Cap'n Proto message handlers' decoding (rpc/internal/convert.h) of every
// peer and client message struct, from one hostile frame: the bytes are read as a capnp message
// (with the node's traversal limit) and its root decoded as each struct the node accepts.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/limits.h"
#include "rpc/internal/convert.h"
#include "schema/causeway.capnp.h"

using namespace causeway;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(size / sizeof(capnp::word));
  memcpy(words.begin(), data, words.size() * sizeof(capnp::word));
  kj::runCatchingExceptions([&]() {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = kTraversalWordsMax;
    capnp::FlatArrayMessageReader reader(words, options);
    (void)rpc::VersionFromWire(reader.getRoot<wire::Version>());
    (void)rpc::GossipFromWire(reader.getRoot<wire::GossipState>());
    (void)rpc::SpansFromWire(reader.getRoot<wire::Peer::AaeHashesParams>().getSpans());
    (void)rpc::DigestsFromWire(reader.getRoot<wire::Peer::AaeDigestsResults>().getDigests());
    (void)rpc::KeyedVersionsFromWire(reader.getRoot<wire::Peer::StreamResults>().getVersions());
    auto put = reader.getRoot<wire::ClientApi::PutParams>();
    (void)rpc::KeyFromWire(put.getKey());
    (void)rpc::WriteFromWire(put.getKey(), put.getValue(), false, put.getOptions());
    auto get = reader.getRoot<wire::ClientApi::GetParams>();
    (void)rpc::ReadFromWire(get.getKey(), get.getOptions());
  });
  return 0;
}
