# Causeway wire schema: the client, admin and peer interfaces.
#
# Evolution rules (docs/formats.md): new fields get new ordinals at the end of their struct;
# nothing is ever renumbered, retyped or reused; a removed field keeps its ordinal, renamed
# "obsoleteX"; enumerants are only ever appended. Expected outcomes (not found) are values in
# results; failures travel as an Error value (batches, explain) or as a kj::Exception whose
# description starts with "causeway:E<n>:<Name>: ", where <n> is the ErrorCode number below and
# <Name> is for people only (rpc/internal/errors.h maps both ways, in one place).
@0xc1d2a5a7e3f40b61;

$import "/capnp/c++.capnp".namespace("causeway::wire");

struct VersionVectorEntry {
  node @0 :UInt64;
  counter @1 :UInt64;
}

struct Version {
  timestamp @0 :UInt64;   # HLC
  writer @1 :UInt64;      # node id
  vv @2 :List(VersionVectorEntry);
  tombstone @3 :Bool;
  value @4 :Data;
}

struct Consistency {
  union {
    default @0 :Void;
    number @1 :UInt8;
    one @2 :Void;
    quorum @3 :Void;
    all @4 :Void;
  }
}

struct ReadOptions {
  r @0 :Consistency;
  timeoutMs @1 :UInt32;   # 0: the node's default
  session @2 :Data;       # opaque session token; empty for a new session
}

struct WriteOptions {
  w @0 :Consistency;
  timeoutMs @1 :UInt32;
  session @2 :Data;
  # Sloppy quorum: a hint kept by a stand-in for a replica that is down counts toward W (true
  # also from older clients). False: only real replicas count (docs/design.md, "Hinted handoff").
  hintedCounts @3 :Bool = true;
}

struct GetResult {
  union {
    found @0 :Version;
    notFound @1 :Version;   # a tombstone won: deleted (its version is what the session saw)
    absent @2 :Void;        # no replica has ever stored the key
  }
  session @3 :Data;
}

struct KeyValue {
  key @0 :Data;
  value @1 :Data;
}

# Named ClientApi, not Client: capnp generates a nested C++ class `Client` in every interface.
interface ClientApi {
  get @0 (key :Data, options :ReadOptions) -> (result :GetResult);
  put @1 (key :Data, value :Data, options :WriteOptions) -> (version :Version, session :Data);
  delete @2 (key :Data, options :WriteOptions) -> (version :Version, session :Data);
  # Batches: at most kBatchKeysMax entries; each entry succeeds or fails on its own.
  multiGet @3 (keys :List(Data), options :ReadOptions) -> (results :List(BatchGetEntry), session :Data);
  multiPut @4 (entries :List(KeyValue), options :WriteOptions) -> (results :List(BatchPutEntry), session :Data);
  admin @5 () -> (admin :Admin);
  # Null call, answered by the RPC layer without touching the store: measures Cap'n Proto's own
  # ceiling (`causeway bench --ping`) and liveness.
  ping @6 () -> ();
}

# Why a call failed. The numbers are the contract: they equal causeway::ErrorCode's
# (base/status.h) and never change; rpc/internal/errors.cc holds the one mapping. A number this
# build does not know (a newer peer's) reads as `internal`.
enum ErrorCode {
  ok @0;                  # never sent: an Error always carries a failure (read as `internal`)
  invalidArgument @1;
  unavailable @2;
  timeout @3;
  overloaded @4;
  clockSkew @5;
  corruption @6;
  ioError @7;
  noSpace @8;
  internal @9;
}

struct Error {
  code @0 :UInt16;        # an ErrorCode number (UInt16 since the first version; same encoding)
  message @1 :Text;
}

struct BatchGetEntry {
  union {
    result @0 :GetResult;
    error @1 :Error;
  }
}

struct BatchPutEntry {
  union {
    version @0 :Version;
    error @1 :Error;
  }
}

struct Member {
  id @0 :UInt64;
  name @1 :Text;
  address @2 :Text;
  tokens @3 :List(UInt64);
  generation @4 :UInt64;
  heartbeat @5 :UInt64;
  status @6 :MemberStatus;
  alive @7 :Bool;
  ringShare @8 :Float64;
  catchingUp @9 :Bool;  # gossiped: back from being away, not yet caught up
  bootstrapping @10 :Bool;  # gossiped: streaming its ranges in (joining or rebuilding)
}

# cluster::MemberStatus (docs/design.md, "Membership changes").
enum MemberStatus {
  up @0;
  leaving @1;
  left @2;
  joining @3;
}

struct NodeStatus {
  id @0 :UInt64;
  name @1 :Text;
  address @2 :Text;
  keys @3 :UInt64;
  bytes @4 :UInt64;
  syncMode @5 :Text;
  applied @6 :UInt64;
  shadowed @7 :UInt64;
  concurrent @8 :UInt64;
  inFlight @9 :UInt64;
  members @10 :List(Member);
  clockSkewRejections @11 :UInt64;
  # The coordinator's counters (docs/parts/cluster.md, "Counters"); monotonic since start.
  readRepairs @12 :UInt64;
  sessionEscalations @13 :UInt64;
  concurrentSeenByReads @14 :UInt64;  # concurrent version pairs reads saw (engine: `concurrent`)
  clock @15 :ClockStatus;             # absent from a node that predates the clock monitor
  disk @16 :DiskStatus;               # absent from a node that predates the disk watch
  catchingUp @17 :Bool;               # back from being away, reading other replicas first
  hints @18 :HintStatus;              # absent from a node that predates hinted handoff
  antiEntropy @19 :AntiEntropyStatus; # absent from a node that predates anti-entropy
  stream @20 :StreamStatus;           # absent from a node that predates streaming
}

# The answering node's own streaming (cluster::NodeCore::StreamStatus): a bootstrap, a rebuild,
# ranges gained from a leaver, or a decommission's hand-over.
struct StreamStatus {
  phase @0 :Text;                  # "" (none since start), "bootstrap", "rebuild", "gain",
                                   # "decommission"
  done @1 :Bool;
  error @2 :Error;                 # once done: absent if it completed, else why not
  memberStatus @3 :MemberStatus;   # the node's own, as it gossips it
  keys @4 :UInt64;                 # received (or, decommissioning, served)
  bytes @5 :UInt64;
  fraction @6 :Float64;            # of the work, 0..1, by token width
  elapsedMs @7 :UInt64;
}

# Hinted handoff's counters (cluster::NodeCore::Counters), monotonic since start.
struct HintStatus {
  hintedWrites @0 :UInt64;         # writes sent to a stand-in for a replica that was down
  stored @1 :UInt64;               # hints this node stored as a stand-in
  overBudget @2 :UInt64;           # refused over the target's byte budget (left to anti-entropy)
  replayed @3 :UInt64;             # replayed to their target and deleted
  replayFailures @4 :UInt64;       # replays that failed (the hint is kept)
  dropped @5 :UInt64;              # replayed to this node (their target) below its tombstone
                                   # watermark, and dropped
}

# Anti-entropy's counters (cluster::NodeCore::Counters), monotonic since start.
struct AntiEntropyStatus {
  exchanges @0 :UInt64;            # (range, peer) exchanges completed
  exchangeFailures @1 :UInt64;     # abandoned: the peer failed or timed out
  keysDiffered @2 :UInt64;         # keys whose replicas held different winners
  keysPushed @3 :UInt64;           # winners written to the peer
  keysPulled @4 :UInt64;           # winners written to this node
  bytes @5 :UInt64;                # bytes of versions sent or fetched to repair them
  protocolBytes @6 :UInt64;        # spans, hashes and digests exchanged (an estimate)
}

# The data dir's disk (engine/internal/disk_watch.h) and the engine's fail-stop.
struct DiskStatus {
  freeBytes @0 :UInt64;
  totalBytes @1 :UInt64;
  pendingFlushBytes @2 :UInt64;   # memtable bytes a flush will write (counted as used)
  reserveBytes @3 :UInt64;        # 0: no reserve
  belowReserve @4 :Bool;          # data writes are refused with noSpace
  refusedWrites @5 :UInt64;
  failStop @6 :Error;             # absent: writes are not fail-stopped
  failStops @7 :UInt64;
  resumes @8 :UInt64;             # noSpace fail-stops that ended by themselves
  logLinesDropped @9 :UInt64;     # RocksDB info LOG lines that could not be written
}

# The clock-offset monitor's view (cluster/internal/clock_monitor.h).
struct ClockStatus {
  state @0 :Text;             # "trusted", "unverified" or "fenced"
  medianOffsetMs @1 :Int64;   # the live peers' median offset from us (positive: they are ahead)
  sampledPeers @2 :UInt32;
  farPeers @3 :UInt32;        # sampled peers beyond the threshold
  thresholdMs @4 :UInt64;     # fence fraction x max offset
  fences @5 :UInt64;          # times this node fenced itself since start
  jumps @6 :UInt64;           # wall-clock steps seen since start
  fencedWrites @7 :UInt64;    # writes refused because the clock was not trusted
  description @8 :Text;
}

struct ReplicaVersion {
  node @0 :UInt64;
  union {
    version @1 :Version;
    absent @2 :Void;
    error @3 :Error;
  }
}

# An on-demand repair's progress (cluster::NodeCore::RepairStatus).
struct RepairStatus {
  known @0 :Bool;              # false: no such repair on this node (ids do not survive a restart)
  done @1 :Bool;
  error @2 :Error;             # once done: absent if every exchange completed, else why not
  exchangesTotal @3 :UInt64;   # (range, peer) pairs
  exchangesDone @4 :UInt64;
  exchangesFailed @5 :UInt64;
  fraction @6 :Float64;        # of the work, 0..1, weighted by token width
  keysCompared @7 :UInt64;
  keysDiffered @8 :UInt64;
  keysWritten @9 :UInt64;
  bytes @10 :UInt64;
  elapsedMs @11 :UInt64;
}

interface Admin {
  status @0 () -> (status :NodeStatus);
  ring @1 () -> (members :List(Member));
  explain @2 (key :Data) -> (token :UInt64, preferenceList :List(UInt64), replicas :List(ReplicaVersion));
  # Starts an on-demand anti-entropy repair of the answering node's ranges that intersect `spans`
  # (empty: all of them; at most kAaeSpansPerRequestMax) with their other replicas, and returns
  # at once. `id` names it on `node` only: ask that node's repairStatus.
  repair @3 (spans :List(TokenSpan)) -> (id :UInt64, node :UInt64);
  repairStatus @4 (id :UInt64) -> (status :RepairStatus);
  # Starts the answering node's decommission (docs/operations.md, "Decommissioning a node"): it
  # streams its ranges to their new owners, then leaves and stops. `error` absent: accepted;
  # present: refused, and why. Follow it with streamStatus.
  decommission @5 () -> (error :Error);
  streamStatus @6 () -> (status :StreamStatus);
  # Removes the answering node's data outside the ranges it replicates (docs/operations.md,
  # "Cleanup") and answers once it is done. `error` present: refused or failed (nothing, or only
  # part, removed).
  cleanup @7 () -> (keysRemoved :UInt64, bytesRemoved :UInt64, error :Error);
  # Bulk ingestion (docs/formats.md, "Ingestion chunks"): appends `data` (at most
  # kIngestChunkBytesMax bytes) at `offset` of the file the answering node stages as `session`;
  # with `last`, the staged file is then ingested (Engine::IngestFile: merge operands, so LWW
  # holds) and removed. `error` present: refused or failed (after a failed ingestion the staged
  # file is gone). `entries`: merge operands ingested (with `last`).
  ingest @8 (session :UInt64, offset :UInt64, data :Data, last :Bool)
      -> (entries :UInt64, error :Error);
  # Removes the file staged as `session`, if any (an importer that gives up on it).
  ingestAbort @9 (session :UInt64) -> ();
  # Writes a RocksDB checkpoint of the answering node's whole data dir into `dir`, a path on that
  # node's machine that must not exist (docs/operations.md, "Backup and restore"), and answers
  # once it is complete. `error` present: refused or failed, nothing usable written.
  snapshot @10 (dir :Text) -> (path :Text, error :Error);
  # What /readyz answers (docs/operations.md, "Metrics and health"): `ready`, or why not
  # ("joining", "bootstrapping", "catching up", "draining", "left"); and the node's release.
  health @11 () -> (ready :Bool, reason :Text, version :Text);
}

# ---- Between nodes ---------------------------------------------------------------------------

struct GossipState {
  members @0 :List(Member);
  replyWanted @1 :Bool;
  # Scuttlebutt digests and pulls (cluster/messages.h GossipMessage); absent from older senders.
  digests @2 :List(MemberDigest);
  wanted @3 :List(UInt64);
  # Clock samples (cluster/internal/clock_monitor.h); 0 from older senders: no sample.
  wallMs @4 :UInt64;   # the sender's wall clock, ms since the epoch
  probeMs @5 :UInt64;  # a push: the sender's monotonic send time
  echoMs @6 :UInt64;   # a reply: the push's probeMs
}

struct MemberDigest {
  id @0 :UInt64;
  generation @1 :UInt64;
  heartbeat @2 :UInt64;
  stateHash @3 :UInt64;
}

interface Peer {
  # Identifies the caller once per connection, so hostile or confused peers are visible in logs.
  hello @0 (nodeId :UInt64, name :Text, address :Text) -> ();
  replicate @1 (key :Data, version :Version, hintFor :UInt64, replayedHint :Bool) -> ();
  # hintFor nonzero: keep the version as a hint for that node, which is down (hinted handoff;
  # absent from older senders: a plain replica write). replayedHint: a hint handed over by its
  # holder; the replica drops (and acknowledges) one below its tombstone watermark.
  read @2 (key :Data) -> (version :Version, found :Bool);
  gossip @3 (state :GossipState) -> (state :GossipState);
  # Anti-entropy (cluster/internal/anti_entropy.h): the exact hash of each token span (at most
  # kAaeSpansPerRequestMax), and the key digests of the spans (in token order, disjoint) after
  # afterKey (empty: from the first), at most `limit` (kAaeDigestsPerResponseMax). Ordinals 4 and
  # 5 were placeholders that no node ever implemented.
  aaeHashes @4 (spans :List(TokenSpan)) -> (hashes :List(UInt64));
  aaeDigests @5 (spans :List(TokenSpan), afterKey :Data, limit :UInt32)
      -> (digests :List(KeyDigest), more :Bool);
  # Streaming (cluster/internal/streamer.h): the winners of the keys of `spans` (in token order,
  # disjoint, at most kAaeSpansPerRequestMax) after afterKey (empty: from the first), up to about
  # limitBytes of keys and values (at most kStreamPageBytesMax; at least one key).
  stream @6 (spans :List(TokenSpan), afterKey :Data, limitBytes :UInt64)
      -> (versions :List(KeyedVersion), more :Bool);
}

# A key and the winner a replica holds for it.
struct KeyedVersion {
  key @0 :Data;
  version @1 :Version;
}

# Tokens first..last, both included; first <= last.
struct TokenSpan {
  first @0 :UInt64;
  last @1 :UInt64;
}

# A replica's winner for one key without its value.
struct KeyDigest {
  key @0 :Data;
  timestamp @1 :UInt64;
  writer @2 :UInt64;
  tombstone @3 :Bool;
}

# What a node's listening socket offers: the client interface, and the peer interface for nodes.
interface Bootstrap {
  client @0 () -> (client :ClientApi);
  peer @1 () -> (peer :Peer);
  # Security (docs/design.md, "Threat model"). A node started with a cluster secret refuses
  # peer() and hands the Peer capability out only through peerAuth: peerChallenge returns a fresh
  # random nonce of this connection; peerAuth proves the secret with
  # HMAC-SHA256(secret, "causeway-peer-client-v1" | nodeId | serverNonce | clientNonce) and gets
  # back the node's own proof HMAC-SHA256(secret, "causeway-peer-server-v1" | ...), which the
  # caller checks before it sends anything else (mutual). The secret never crosses the wire.
  peerChallenge @2 () -> (nonce :Data);
  peerAuth @3 (nodeId :UInt64, nonce :Data, proof :Data) -> (peer :Peer, proof :Data);
  # A node started with a users file refuses client() and hands out ClientApi only to a login
  # (one per connection; the password is checked against its Argon2id hash off the loop). `role`
  # is "read", "write" or "admin". Without a users file, client() serves everything.
  login @4 (user :Text, password :Data) -> (client :ClientApi, role :Text);
}
