// What a node persists about the cluster in its engine's meta records (Engine::StoreMeta), so that
// a restart knows the ring before anyone answers it (docs/design.md, "Restart and join
// safety"). The core asks for the stores (PersistMetaAction); drivers restore the records into
// NodeConfig at start.
//
//   kMetaTokens  "tokens": the node's own ring tokens, decimal, comma-separated ("12,34").
//   kMetaMembers "members": the node's last known member view, binary, little-endian:
//       u8 format (kMembersFormat), u32 count (<= kClusterNodesMax), then per member:
//       u64 id, u32 name length + name, u32 address length + address, u64 generation,
//       u64 heartbeat, u8 status (MemberStatus), u32 token count (<= kTokensPerNodeMax), u64
//       tokens.
//   A newer format gets a new format byte; a reader rejects one it does not know (kCorruption),
//   and the driver then starts as if nothing was persisted (the join guard keeps that safe).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cluster/messages.h"

namespace causeway::cluster {

inline constexpr std::string_view kMetaTokens = "tokens";
inline constexpr std::string_view kMetaMembers = "members";
// "bootstrap": a joiner's or rebuilder's stream in progress (cluster/internal/streamer.h,
// Streamer::Encode); "done" once it has finished.
inline constexpr std::string_view kMetaBootstrap = "bootstrap";
inline constexpr uint8_t kMembersFormat = 1;

std::string EncodeTokens(const std::vector<Token>& tokens);
// kCorruption if an item is not a decimal 64-bit number or there are more than kTokensPerNodeMax.
Result<std::vector<Token>> DecodeTokens(std::string_view text);

// At most kClusterNodesMax members are encoded (the view is bounded by that already).
std::string EncodeMembers(const std::vector<MemberState>& members);
// Checks every length and count against the limits; kCorruption on anything malformed.
Result<std::vector<MemberState>> DecodeMembers(std::string_view bytes);

}  // namespace causeway::cluster
