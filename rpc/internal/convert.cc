#include "rpc/internal/convert.h"

#include "base/limits.h"
#include "base/strings.h"
#include "rpc/internal/errors.h"

namespace causeway::rpc {
namespace {

std::string ToString(capnp::Data::Reader bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

Status TooLarge(const char* what, size_t got, size_t max) {
  return Status::InvalidArgument(std::string(what) + " of " + std::to_string(got) +
                                 " bytes exceeds the limit of " + std::to_string(max));
}

// Decoded here, where the client's bytes arrive: a token that does not decode is refused
// (kInvalidArgument naming the session), never replaced by an empty one.
Result<cluster::SessionToken> SessionFromWire(capnp::Data::Reader session) {
  if (session.size() > kSessionTokenBytesMax) {
    return TooLarge("session token", session.size(), kSessionTokenBytesMax);
  }
  return cluster::SessionToken::Decode(
      std::string_view(reinterpret_cast<const char*>(session.begin()), session.size()));
}

Result<uint64_t> TimeoutFromWire(uint32_t timeout_ms) {
  // 0 means the node's default; anything longer than the cap is clamped, not rejected.
  return std::min<uint64_t>(timeout_ms, kRequestTimeoutMsMax);
}

wire::MemberStatus MemberStatusToWire(cluster::MemberStatus status) {
  switch (status) {
    case cluster::MemberStatus::kUp:
      return wire::MemberStatus::UP;
    case cluster::MemberStatus::kLeaving:
      return wire::MemberStatus::LEAVING;
    case cluster::MemberStatus::kLeft:
      return wire::MemberStatus::LEFT;
    case cluster::MemberStatus::kJoining:
      return wire::MemberStatus::JOINING;
  }
  return wire::MemberStatus::UP;  // unreachable: the switch covers the enum
}

Result<cluster::MemberStatus> MemberStatusFromWire(wire::MemberStatus status) {
  switch (status) {
    case wire::MemberStatus::UP:
      return cluster::MemberStatus::kUp;
    case wire::MemberStatus::LEAVING:
      return cluster::MemberStatus::kLeaving;
    case wire::MemberStatus::LEFT:
      return cluster::MemberStatus::kLeft;
    case wire::MemberStatus::JOINING:
      return cluster::MemberStatus::kJoining;
  }
  return Status::InvalidArgument("unknown member status (newer node?)");
}

}  // namespace

Result<std::string> KeyFromWire(capnp::Data::Reader key) {
  if (key.size() > kKeyBytesMax) return TooLarge("key", key.size(), kKeyBytesMax);
  std::string out = ToString(key);
  Status s = ValidateKey(out);
  if (!s.ok()) return s;
  return out;
}

Result<std::string> ValueFromWire(capnp::Data::Reader value) {
  if (value.size() > kValueBytesMax) return TooLarge("value", value.size(), kValueBytesMax);
  return ToString(value);
}

capnp::Data::Reader BytesToWire(const std::string& bytes) {
  return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size());
}

void VersionToWire(const Version& version, wire::Version::Builder out) {
  VersionMetaToWire(version, out);
  out.setValue(BytesToWire(version.value));
}

void VersionMetaToWire(const Version& version, wire::Version::Builder out) {
  out.setTimestamp(version.timestamp);
  out.setWriter(version.writer);
  out.setTombstone(version.tombstone);
  auto entries = out.initVv(version.vv.size());
  for (size_t i = 0; i < version.vv.size(); ++i) {
    entries[i].setNode(version.vv.entries()[i].first);
    entries[i].setCounter(version.vv.entries()[i].second);
  }
}

Result<Version> VersionFromWire(wire::Version::Reader in) {
  auto entries = in.getVv();
  if (entries.size() > kVersionVectorEntriesMax) {
    return Status::InvalidArgument("version vector of " + std::to_string(entries.size()) +
                                   " entries exceeds " + std::to_string(kVersionVectorEntriesMax));
  }
  Version v;
  v.timestamp = in.getTimestamp();
  v.writer = in.getWriter();
  v.tombstone = in.getTombstone();
  auto value = ValueFromWire(in.getValue());
  if (!value.ok()) return value.status();
  v.value = std::move(value).value();
  for (auto e : entries) {
    if (e.getNode() == 0 || e.getCounter() == 0) {
      return Status::InvalidArgument("version vector entry with a zero node or counter");
    }
    v.vv.Advance(e.getNode(), e.getCounter());
  }
  if (v.vv.size() != entries.size()) {
    return Status::InvalidArgument("version vector with duplicate nodes");
  }
  Status s = ValidateVersion(v);
  if (!s.ok()) return s;
  return v;
}

void ConsistencyToWire(const cluster::Consistency& c, wire::Consistency::Builder out) {
  using Kind = cluster::Consistency::Kind;
  switch (c.kind) {
    case Kind::kDefault:
      out.setDefault();
      break;
    case Kind::kNumber:
      out.setNumber(static_cast<uint8_t>(c.n));
      break;
    case Kind::kOne:
      out.setOne();
      break;
    case Kind::kQuorum:
      out.setQuorum();
      break;
    case Kind::kAll:
      out.setAll();
      break;
  }
}

Result<cluster::Consistency> ConsistencyFromWire(wire::Consistency::Reader in) {
  switch (in.which()) {
    case wire::Consistency::DEFAULT:
      return cluster::Consistency{};
    case wire::Consistency::NUMBER: {
      int n = in.getNumber();
      if (n < 1 || n > kReplicationFactorMax) {
        return Status::InvalidArgument("consistency number " + std::to_string(n) +
                                       " is outside 1.." + std::to_string(kReplicationFactorMax));
      }
      return cluster::Consistency::Number(n);
    }
    case wire::Consistency::ONE:
      return cluster::Consistency::One();
    case wire::Consistency::QUORUM:
      return cluster::Consistency::Quorum();
    case wire::Consistency::ALL:
      return cluster::Consistency::All();
  }
  return Status::InvalidArgument("unknown consistency kind (newer client?)");
}

Result<cluster::ClientRead> ReadFromWire(capnp::Data::Reader key, wire::ReadOptions::Reader in) {
  cluster::ClientRead read;
  auto k = KeyFromWire(key);
  if (!k.ok()) return k.status();
  auto r = ConsistencyFromWire(in.getR());
  if (!r.ok()) return r.status();
  auto session = SessionFromWire(in.getSession());
  if (!session.ok()) return session.status();
  read.key = std::move(k).value();
  read.r = r.value();
  read.timeout_ms = TimeoutFromWire(in.getTimeoutMs()).value();
  read.session = std::move(session).value();
  return read;
}

Result<cluster::ClientWrite> WriteFromWire(capnp::Data::Reader key, capnp::Data::Reader value,
                                           bool tombstone, wire::WriteOptions::Reader in) {
  cluster::ClientWrite write;
  auto k = KeyFromWire(key);
  if (!k.ok()) return k.status();
  auto v = ValueFromWire(value);
  if (!v.ok()) return v.status();
  auto w = ConsistencyFromWire(in.getW());
  if (!w.ok()) return w.status();
  auto session = SessionFromWire(in.getSession());
  if (!session.ok()) return session.status();
  write.key = std::move(k).value();
  write.value = std::move(v).value();
  write.tombstone = tombstone;
  write.w = w.value();
  write.timeout_ms = TimeoutFromWire(in.getTimeoutMs()).value();
  write.session = std::move(session).value();
  write.hinted_counts = in.getHintedCounts();
  return write;
}

void ErrorToWire(const Status& status, wire::Error::Builder out) {
  out.setCode(ErrorCodeToWire(status.code()));
  out.setMessage(status.message());
}

Status ErrorFromWire(wire::Error::Reader in) {
  return Status(ErrorCodeFromWire(in.getCode()), in.getMessage().cStr());
}

void MemberToWire(const cluster::MemberState& state, wire::Member::Builder out) {
  out.setId(state.id);
  out.setName(state.name);
  out.setAddress(state.address);
  auto tokens = out.initTokens(state.tokens.size());
  for (size_t i = 0; i < state.tokens.size(); ++i) tokens.set(i, state.tokens[i]);
  out.setGeneration(state.generation);
  out.setHeartbeat(state.heartbeat);
  out.setCatchingUp(state.catching_up);
  out.setBootstrapping(state.bootstrapping);
  out.setStatus(MemberStatusToWire(state.status));
}

void MemberViewToWire(const cluster::MemberView& view, wire::Member::Builder out) {
  MemberToWire(view.state, out);
  out.setAlive(view.alive);
  out.setRingShare(view.ring_share);
}

Result<cluster::MemberState> MemberFromWire(wire::Member::Reader in) {
  if (in.getName().size() > kMemberTextBytesMax || in.getAddress().size() > kMemberTextBytesMax) {
    return Status::InvalidArgument("member name or address longer than " +
                                   std::to_string(kMemberTextBytesMax) + " bytes");
  }
  if (in.getTokens().size() > static_cast<size_t>(kTokensPerNodeMax)) {
    return Status::InvalidArgument("member with more than " + std::to_string(kTokensPerNodeMax) +
                                   " tokens");
  }
  if (in.getId() == 0) return Status::InvalidArgument("member with node id 0");
  cluster::MemberState s;
  s.id = in.getId();
  s.name = in.getName().cStr();
  s.address = in.getAddress().cStr();
  for (auto t : in.getTokens()) s.tokens.push_back(t);
  s.generation = in.getGeneration();
  s.heartbeat = in.getHeartbeat();
  s.catching_up = in.getCatchingUp();
  s.bootstrapping = in.getBootstrapping();
  auto status = MemberStatusFromWire(in.getStatus());
  if (!status.ok()) return status.status();
  s.status = *status;
  return s;
}

cluster::MemberView MemberViewFromWire(wire::Member::Reader in) {
  cluster::MemberView view;
  auto state = MemberFromWire(in);
  if (state.ok()) view.state = std::move(state).value();
  view.state.id = in.getId();
  view.alive = in.getAlive();
  view.ring_share = in.getRingShare();
  return view;
}

void GossipToWire(const cluster::GossipMessage& message, wire::GossipState::Builder out) {
  out.setReplyWanted(message.reply_wanted);
  auto members = out.initMembers(message.members.size());
  for (size_t i = 0; i < message.members.size(); ++i) MemberToWire(message.members[i], members[i]);
  auto digests = out.initDigests(message.digests.size());
  for (size_t i = 0; i < message.digests.size(); ++i) {
    const cluster::MemberDigest& d = message.digests[i];
    digests[i].setId(d.id);
    digests[i].setGeneration(d.generation);
    digests[i].setHeartbeat(d.heartbeat);
    digests[i].setStateHash(d.state_hash);
  }
  auto wanted = out.initWanted(message.wanted.size());
  for (size_t i = 0; i < message.wanted.size(); ++i) wanted.set(i, message.wanted[i]);
  out.setWallMs(message.wall_ms);
  out.setProbeMs(message.probe_ms);
  out.setEchoMs(message.echo_ms);
}

Result<cluster::GossipMessage> GossipFromWire(wire::GossipState::Reader in) {
  if (in.getMembers().size() > kClusterNodesMax || in.getDigests().size() > kClusterNodesMax ||
      in.getWanted().size() > kClusterNodesMax) {
    return Status::InvalidArgument("gossip with more than " + std::to_string(kClusterNodesMax) +
                                   " members, digests or wanted ids");
  }
  cluster::GossipMessage message;
  message.reply_wanted = in.getReplyWanted();
  for (auto m : in.getMembers()) {
    auto state = MemberFromWire(m);
    if (!state.ok()) return state.status();
    message.members.push_back(std::move(state).value());
  }
  for (auto d : in.getDigests()) {
    message.digests.push_back({d.getId(), d.getGeneration(), d.getHeartbeat(), d.getStateHash()});
  }
  for (NodeId id : in.getWanted()) message.wanted.push_back(id);
  message.wall_ms = in.getWallMs();
  message.probe_ms = in.getProbeMs();
  message.echo_ms = in.getEchoMs();
  return message;
}

void SpansToWire(const std::vector<TokenSpan>& spans, capnp::List<wire::TokenSpan>::Builder out) {
  for (size_t i = 0; i < spans.size(); ++i) {
    out[i].setFirst(spans[i].first);
    out[i].setLast(spans[i].last);
  }
}

Result<TokenSpan> SpanFromWire(wire::TokenSpan::Reader in) {
  if (in.getFirst() > in.getLast()) {
    return Status::InvalidArgument("token span with first > last");
  }
  return TokenSpan{in.getFirst(), in.getLast()};
}

Result<std::vector<TokenSpan>> SpansFromWire(capnp::List<wire::TokenSpan>::Reader in) {
  if (in.size() > kAaeSpansPerRequestMax) {
    return Status::InvalidArgument(StrCat("anti-entropy request with ", in.size(),
                                          " spans; at most ", kAaeSpansPerRequestMax));
  }
  std::vector<TokenSpan> spans;
  spans.reserve(in.size());
  for (auto s : in) {
    Result<TokenSpan> span = SpanFromWire(s);
    if (!span.ok()) return span.status();
    spans.push_back(*span);
  }
  return spans;
}

void DigestsToWire(const std::vector<cluster::KeyDigest>& digests,
                   capnp::List<wire::KeyDigest>::Builder out) {
  for (size_t i = 0; i < digests.size(); ++i) {
    out[i].setKey(BytesToWire(digests[i].key));
    out[i].setTimestamp(digests[i].timestamp);
    out[i].setWriter(digests[i].writer);
    out[i].setTombstone(digests[i].tombstone);
  }
}

Result<std::vector<cluster::KeyDigest>> DigestsFromWire(capnp::List<wire::KeyDigest>::Reader in) {
  if (in.size() > kAaeDigestsPerResponseMax) {
    return Status::InvalidArgument(StrCat("anti-entropy answer with ", in.size(),
                                          " digests; at most ", kAaeDigestsPerResponseMax));
  }
  std::vector<cluster::KeyDigest> digests;
  digests.reserve(in.size());
  for (auto d : in) {
    auto key = KeyFromWire(d.getKey());
    if (!key.ok()) return key.status();
    digests.push_back({std::move(key).value(), d.getTimestamp(), d.getWriter(), d.getTombstone()});
  }
  return digests;
}

void KeyedVersionsToWire(const std::vector<cluster::KeyVersion>& versions,
                         capnp::List<wire::KeyedVersion>::Builder out) {
  for (size_t i = 0; i < versions.size(); ++i) {
    out[i].setKey(BytesToWire(versions[i].key));
    VersionToWire(versions[i].version, out[i].initVersion());
  }
}

Result<std::vector<cluster::KeyVersion>> KeyedVersionsFromWire(
    capnp::List<wire::KeyedVersion>::Reader in) {
  if (in.size() > kStreamPageKeysMax) {
    return Status::InvalidArgument(
        StrCat("stream page with ", in.size(), " keys; at most ", kStreamPageKeysMax));
  }
  std::vector<cluster::KeyVersion> out;
  out.reserve(in.size());
  for (auto kv : in) {
    auto key = KeyFromWire(kv.getKey());
    if (!key.ok()) return key.status();
    auto version = VersionFromWire(kv.getVersion());
    if (!version.ok()) return version.status();
    out.push_back({std::move(key).value(), std::move(version).value()});
  }
  return out;
}

void GetResultToWire(const std::optional<Version>& version, const std::string& session,
                     wire::GetResult::Builder out) {
  if (!version) {
    out.setAbsent();
  } else if (version->tombstone) {
    VersionToWire(*version, out.initNotFound());
  } else {
    VersionToWire(*version, out.initFound());
  }
  out.setSession(BytesToWire(session));
}

Result<ReadReply> ReadReplyFromWire(wire::GetResult::Reader in) {
  ReadReply out;
  switch (in.which()) {
    case wire::GetResult::FOUND:
    case wire::GetResult::NOT_FOUND: {
      bool found = in.which() == wire::GetResult::FOUND;
      auto version = VersionFromWire(found ? in.getFound() : in.getNotFound());
      if (!version.ok()) {
        return Status::Internal("the get reply's version does not decode: " +
                                version.status().message());
      }
      if (found && version->tombstone) {
        return Status::Internal("the get reply says found but carries a tombstone");
      }
      out.found = found;
      out.version = std::move(version).value();
      return out;
    }
    case wire::GetResult::ABSENT:
      return out;
  }
  return Status::Internal("get reply of unknown kind " +
                          std::to_string(static_cast<unsigned>(in.which())) + " (a newer node?)");
}

void StreamStatusToWire(const cluster::NodeCore::StreamStatus& st,
                        wire::StreamStatus::Builder out) {
  out.setPhase(st.phase);
  out.setDone(st.done);
  if (!st.status.ok()) ErrorToWire(st.status, out.initError());
  out.setMemberStatus(MemberStatusToWire(st.member_status));
  out.setKeys(st.keys);
  out.setBytes(st.bytes);
  out.setFraction(st.fraction);
  out.setElapsedMs(st.elapsed_ms);
}

// A node's answer, trusted in shape but not in range: the fraction is clamped to 0..1, the phase
// cut to kMemberTextBytesMax, an unknown member status read as up.
cluster::NodeCore::StreamStatus StreamStatusFromWire(wire::StreamStatus::Reader in) {
  cluster::NodeCore::StreamStatus st;
  st.phase = std::string(in.getPhase().cStr()).substr(0, kMemberTextBytesMax);
  st.done = in.getDone();
  if (in.hasError()) st.status = ErrorFromWire(in.getError());
  auto member = MemberStatusFromWire(in.getMemberStatus());
  st.member_status = member.ok() ? *member : cluster::MemberStatus::kUp;
  st.keys = in.getKeys();
  st.bytes = in.getBytes();
  const double f = in.getFraction();
  st.fraction = f >= 0 && f <= 1 ? f : (f > 1 ? 1.0 : 0.0);  // NaN reads as 0
  st.elapsed_ms = in.getElapsedMs();
  return st;
}

}  // namespace causeway::rpc
