// The Cap'n Proto client API of a node (schema ClientApi and Admin): decodes each call, checks
// its limits, hands it to the NodeHost and encodes the answer. Expected outcomes travel as
// values; failures as kj::Exceptions through rpc/internal/errors.h only.
//
// Loop-thread only; one instance per connection (it carries that connection's accounting).
#pragma once

#include <memory>

#include "rpc/internal/listener.h"
#include "rpc/internal/node_host.h"
#include "schema/causeway.capnp.h"

namespace causeway::rpc {

kj::Own<wire::ClientApi::Server> NewClientApi(NodeHost& host, std::shared_ptr<ConnStats> conn);

}  // namespace causeway::rpc
