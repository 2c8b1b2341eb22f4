// Streamer: moves whole token ranges to the node that takes them over (docs/design.md,
// "Streaming"): a joiner's bootstrap, a replaced node's rebuild, and the ranges a node gains when
// another is decommissioned.
//
// The receiver pulls. Per task (spans, sources) it asks one source for a page of winners after
// its cursor (StreamRequest), applies the page in one storage operation (kApplyBatch), moves the
// cursor past the page's last key and asks again, until a page says nothing is left. A failed or
// late page is asked again of the task's next live source from the same cursor: keys are in
// (token, key) order on every replica, so any of them can continue where another stopped. At most
// kStreamPagesInFlight tasks move at once, paced to `bytes_per_s`. A job that persists (bootstrap,
// rebuild) emits its state (Encode) as PersistMetaAction kMetaBootstrap after every
// kStreamCheckpointPages pages and when a task ends, so a restarted joiner resumes from its
// cursors (a page applied after the last checkpoint is applied again: merges are idempotent).
//
// The serving side answers StreamRequest with a kStreamScan of its engine, at most
// kStreamServeInFlightMax at once (more: kOverloaded, asked again later), and remembers, per
// requester, the spans whose last page it served: a leaver leaves once every gainer has had the
// last page of what it gains (ServedToEnd).
//
// Ids of its storage operations and requests carry kStreamIdBit. Sans-IO; not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/messages.h"

namespace causeway::cluster::internal {

inline constexpr uint64_t kStreamIdBit = uint64_t{1} << 60;
inline constexpr uint64_t kStreamCheckpointPages = 8;

struct StreamTask {
  std::vector<TokenSpan> spans;  // in token order, disjoint
  std::vector<NodeId> sources;   // replicas holding them, in order of preference
  std::string after_key;         // the cursor: the last key applied ("": none yet)
  bool done = false;
  bool operator==(const StreamTask& o) const { return spans == o.spans && sources == o.sources; }
};

// Total width of `spans` in tokens (a double: the whole ring is 2^64).
double SpansWidth(const std::vector<TokenSpan>& spans);
// Whether every span of `need` lies inside the union of `have`.
bool SpansCover(std::vector<TokenSpan> have, const std::vector<TokenSpan>& need);

class Streamer {
 public:
  struct Hooks {
    std::function<std::string(NodeId)> address_of;
    // A streamed version, before it is applied: the node's clock absorbs it (an error drops it:
    // a timestamp beyond the max offset).
    std::function<Status(const Version&)> accept;
  };
  struct Counters {
    uint64_t pages = 0, keys = 0, bytes = 0, pages_served = 0, dropped = 0, retries = 0;
  };

  Streamer(uint64_t bytes_per_s, Hooks hooks);

  // Starts job `phase` ("bootstrap", "rebuild", "gain") with `tasks`, replacing the job in
  // progress; tasks equal to one of it (same spans and sources) keep their cursor and state.
  // `persist`: checkpoint it as kMetaBootstrap.
  void Start(std::string phase, std::vector<StreamTask> tasks, bool persist, TimeMs now);
  // Drops the job (its state stays in `status()` as the last job's).
  void Clear();
  void Tick(TimeMs now, const std::function<bool(NodeId)>& alive, Actions* out);

  // ---- the serving side
  void OnRequest(NodeId from, const StreamRequest& r, Actions* out);
  // True if `node` was served the last page of a request for spans covering `spans`.
  bool ServedToEnd(NodeId node, const std::vector<TokenSpan>& spans) const;

  // ---- completions and answers with kStreamIdBit in their id
  void OnStorageDone(uint64_t op_id, StorageResult result, TimeMs now, Actions* out);
  void OnResponse(NodeId from, StreamResponse r, TimeMs now, Actions* out);
  void OnSendFailed(NodeId to, RequestId id, TimeMs now);

  const std::string& phase() const { return phase_; }
  bool active() const { return !phase_.empty() && !done_; }
  bool done() const { return !phase_.empty() && done_; }
  double fraction() const;
  TimeMs started_ms() const { return started_ms_; }
  uint64_t job_keys() const { return job_keys_; }
  uint64_t job_bytes() const { return job_bytes_; }
  const Counters& counters() const { return counters_; }
  // The last failure of a page, while the job is still trying (Ok when none).
  const Status& last_error() const { return last_error_; }

  // The job's state, for kMetaBootstrap; Decode restores it ("" and "done" are no job).
  std::string Encode() const;
  static Result<std::vector<StreamTask>> Decode(std::string_view bytes, std::string* phase);

 private:
  struct Running {
    size_t source = 0;       // index into the task's sources
    RequestId request = 0;   // in flight (0: none)
    uint64_t apply_op = 0;   // applying a page (0: none)
    std::string page_last;   // the page being applied: its last key
    bool page_more = false;  // ... and whether more follow
    TimeMs deadline = 0;
    TimeMs retry_at = 0;
  };
  struct Serving {
    NodeId from = 0;
    RequestId id = 0;
    std::vector<TokenSpan> spans;
  };
  uint64_t NextId() { return kStreamIdBit | next_id_++; }
  void Ask(size_t task, TimeMs now, const std::function<bool(NodeId)>& alive, Actions* out);
  void Fail(size_t task, Status why, TimeMs now);
  void TaskEnded(Actions* out);
  void Checkpoint(Actions* out);
  void Send(NodeId to, PeerMessage m, Actions* out) const;

  const uint64_t bytes_per_s_;
  Hooks hooks_;
  std::string phase_;
  bool done_ = false;
  bool persist_ = false;
  std::vector<StreamTask> tasks_;
  std::vector<Running> running_;  // one per task
  std::map<RequestId, size_t> requests_;
  std::map<uint64_t, size_t> applying_;
  TimeMs started_ms_ = 0;
  TimeMs last_tick_ms_ = 0;
  int64_t budget_bytes_ = 0;
  uint64_t pages_since_checkpoint_ = 0;
  uint64_t job_keys_ = 0, job_bytes_ = 0;
  Status last_error_;
  std::map<uint64_t, Serving> serving_;
  std::map<NodeId, std::vector<TokenSpan>> served_to_end_;
  Counters counters_;
  uint64_t next_id_ = 1;
};

}  // namespace causeway::cluster::internal
