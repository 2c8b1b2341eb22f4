// The RESP gateway's introspection and handshake commands (HELLO, CLIENT, COMMAND, CONFIG, INFO,
// DBSIZE): what Redis clients and tools ask on connect, answered from the node's own state.
// Table entries of commands.cc; same contract as its handlers.
#pragma once

#include <string_view>

#include "rpc/resp/commands.h"

namespace causeway::rpc::resp {

// The Redis version the gateway reports (INFO redis_version, HELLO version): the one whose
// RESP2 commands it follows, for clients that check it. Causeway's own is in INFO's causeway
// section.
inline constexpr std::string_view kRedisCompatVersion = "7.0.0";

// AUTH and HELLO ... AUTH: checks through the gateway's authenticator and, on success, marks
// the connection authenticated as the user (and role) it returns. Resolves to "" once
// authenticated, else to the error reply to send ("WRONGPASS ...", or the authenticator's other
// error); after kLoginFailuresPerConnectionMax failures the connection closes after that reply.
// `client` outlives the promise (the connection owns both).
kj::Promise<std::string> AuthenticateClient(const GatewayView& view, ClientState& client,
                                            std::string user, std::string password);

kj::Promise<std::string> Hello(const GatewayView& view, ClientState& client, Args&& args);
kj::Promise<std::string> Client(const GatewayView& view, ClientState& client, Args&& args);
kj::Promise<std::string> Command(const GatewayView& view, ClientState& client, Args&& args);
kj::Promise<std::string> Config(const GatewayView& view, ClientState& client, Args&& args);
kj::Promise<std::string> Info(const GatewayView& view, ClientState& client, Args&& args);
kj::Promise<std::string> DbSize(const GatewayView& view, ClientState& client, Args&& args);

}  // namespace causeway::rpc::resp
