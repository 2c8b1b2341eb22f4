// capnp <-> causeway values (schema/causeway.capnp <-> engine/, cluster/ types).
//
// Everything read from the wire is checked against engine/limits.h here, before it reaches the
// core: key and value sizes, version-vector entries, member lists, consistency numbers. A failed
// check is a kInvalidArgument Status naming the field; it never asserts.
#pragma once

#include <capnp/blob.h>
#include <capnp/capability.h>

#include <string>
#include <vector>

#include "base/status.h"
#include "base/version.h"
#include "cluster/messages.h"
#include "cluster/node.h"
#include "rpc/client.h"
#include "schema/causeway.capnp.h"

namespace causeway::rpc {

// ---- keys and values
Result<std::string> KeyFromWire(capnp::Data::Reader key);
Result<std::string> ValueFromWire(capnp::Data::Reader value);
capnp::Data::Reader BytesToWire(const std::string& bytes);

// ---- versions
void VersionToWire(const Version& version, wire::Version::Builder out);
// Everything but the value: what a write's reply carries (the caller has the value already).
void VersionMetaToWire(const Version& version, wire::Version::Builder out);
// Validates entries and limits (ValidateVersion) as well as the wire shape.
Result<Version> VersionFromWire(wire::Version::Reader in);

// ---- consistency and options
void ConsistencyToWire(const cluster::Consistency& c, wire::Consistency::Builder out);
Result<cluster::Consistency> ConsistencyFromWire(wire::Consistency::Reader in);
Result<cluster::ClientRead> ReadFromWire(capnp::Data::Reader key, wire::ReadOptions::Reader in);
Result<cluster::ClientWrite> WriteFromWire(capnp::Data::Reader key, capnp::Data::Reader value,
                                           bool tombstone, wire::WriteOptions::Reader in);

// ---- errors carried as values (batch entries, explain replicas)
void ErrorToWire(const Status& status, wire::Error::Builder out);
Status ErrorFromWire(wire::Error::Reader in);

// ---- membership
void MemberToWire(const cluster::MemberState& state, wire::Member::Builder out);
void MemberViewToWire(const cluster::MemberView& view, wire::Member::Builder out);
Result<cluster::MemberState> MemberFromWire(wire::Member::Reader in);
cluster::MemberView MemberViewFromWire(wire::Member::Reader in);  // admin replies: trusted shape
void GossipToWire(const cluster::GossipMessage& message, wire::GossipState::Builder out);
Result<cluster::GossipMessage> GossipFromWire(wire::GossipState::Reader in);

// Anti-entropy spans and digests; the readers check the limits (kAaeSpansPerRequestMax,
// kAaeDigestsPerResponseMax, first <= last, key sizes).
void SpansToWire(const std::vector<TokenSpan>& spans, capnp::List<wire::TokenSpan>::Builder out);
Result<std::vector<TokenSpan>> SpansFromWire(capnp::List<wire::TokenSpan>::Reader in);
Result<TokenSpan> SpanFromWire(wire::TokenSpan::Reader in);
void DigestsToWire(const std::vector<cluster::KeyDigest>& digests,
                   capnp::List<wire::KeyDigest>::Builder out);
Result<std::vector<cluster::KeyDigest>> DigestsFromWire(capnp::List<wire::KeyDigest>::Reader in);
// A stream page (Peer.stream): at most kStreamPageKeysMax entries, keys and versions validated.
void KeyedVersionsToWire(const std::vector<cluster::KeyVersion>& versions,
                         capnp::List<wire::KeyedVersion>::Builder out);
Result<std::vector<cluster::KeyVersion>> KeyedVersionsFromWire(
    capnp::List<wire::KeyedVersion>::Reader in);

// ---- read results
// found/notFound/absent from the core's optional winning version.
void GetResultToWire(const std::optional<Version>& version, const std::string& session,
                     wire::GetResult::Builder out);
// The client's view of a get reply (not its session). A version that does not decode, a found
// tombstone or a kind this build does not know is kInternal, never `found`; `found` implies
// `version`.
Result<ReadReply> ReadReplyFromWire(wire::GetResult::Reader in);

// The admin API's replies, as the client library returns them.
NodeStatusReply NodeStatusFromWire(wire::NodeStatus::Reader s);
// The hint and anti-entropy counters of a status reply.
void CountersToWire(const cluster::NodeCore::Counters& counters, wire::NodeStatus::Builder out);
void RepairStatusToWire(const cluster::NodeCore::RepairStatus& status,
                        wire::RepairStatus::Builder out);
cluster::NodeCore::RepairStatus RepairStatusFromWire(wire::RepairStatus::Reader in);
void StreamStatusToWire(const cluster::NodeCore::StreamStatus& status,
                        wire::StreamStatus::Builder out);
cluster::NodeCore::StreamStatus StreamStatusFromWire(wire::StreamStatus::Reader in);
cluster::ExplainResult ExplainFromWire(capnp::Response<wire::Admin::ExplainResults>& r);

}  // namespace causeway::rpc
