// The Cap'n Proto peer API of a node (schema Peer): what other nodes call on us. A connection
// must identify itself with hello() before any other call. Requests go into the NodeHost, which
// answers them with the core's response; gossip is one-way (replies travel as our own call).
//
// Loop-thread only; one instance per connection.
#pragma once

#include <memory>

#include "rpc/internal/listener.h"
#include "rpc/internal/node_host.h"
#include "schema/causeway.capnp.h"

namespace causeway::rpc {

kj::Own<wire::Peer::Server> NewPeerApi(NodeHost& host, std::shared_ptr<ConnStats> conn);

}  // namespace causeway::rpc
