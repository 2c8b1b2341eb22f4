#include "cluster/internal/streamer.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "base/limits.h"
#include "base/strings.h"
#include "cluster/persist.h"

namespace causeway::cluster::internal {
namespace {

// (token, key): the order of keys on every replica's engine.
bool KeyBefore(std::string_view a, std::string_view b) {
  const Token ta = TokenOf(a), tb = TokenOf(b);
  return ta != tb ? ta < tb : a < b;
}

bool SpansOrdered(const std::vector<TokenSpan>& spans) {
  for (size_t i = 0; i < spans.size(); ++i) {
    if (spans[i].first > spans[i].last) return false;
    if (i > 0 && spans[i - 1].last >= spans[i].first) return false;
  }
  return true;
}

std::string Hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

bool Unhex(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    unsigned v = 0;
    auto r = std::from_chars(hex.data() + i, hex.data() + i + 2, v, 16);
    if (r.ec != std::errc() || r.ptr != hex.data() + i + 2) return false;
    out->push_back(static_cast<char>(v));
  }
  return true;
}

bool ParseU64(std::string_view s, uint64_t* v) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty();
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    parts.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

}  // namespace

double SpansWidth(const std::vector<TokenSpan>& spans) {
  double w = 0;
  for (const TokenSpan& s : spans) w += static_cast<double>(s.last - s.first) + 1.0;
  return w;
}

bool SpansCover(std::vector<TokenSpan> have, const std::vector<TokenSpan>& need) {
  std::sort(have.begin(), have.end(),
            [](const TokenSpan& a, const TokenSpan& b) { return a.first < b.first; });
  std::vector<TokenSpan> merged;
  for (const TokenSpan& s : have) {
    if (!merged.empty() &&
        (merged.back().last == UINT64_MAX || merged.back().last + 1 >= s.first)) {
      merged.back().last = std::max(merged.back().last, s.last);
    } else {
      merged.push_back(s);
    }
  }
  for (const TokenSpan& n : need) {
    auto it = std::upper_bound(merged.begin(), merged.end(), n.first,
                               [](Token t, const TokenSpan& s) { return t < s.first; });
    if (it == merged.begin()) return false;
    --it;
    if (!(it->first <= n.first && n.last <= it->last)) return false;
  }
  return true;
}

Streamer::Streamer(uint64_t bytes_per_s, Hooks hooks)
    : bytes_per_s_(std::max<uint64_t>(bytes_per_s, 1)), hooks_(std::move(hooks)) {}

void Streamer::Start(std::string phase, std::vector<StreamTask> tasks, bool persist, TimeMs now) {
  std::vector<Running> running(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    for (size_t j = 0; j < tasks_.size(); ++j) {
      if (tasks_[j] == tasks[i] && phase == phase_) {
        tasks[i].after_key = tasks_[j].after_key;
        tasks[i].done = tasks_[j].done;
      }
    }
  }
  if (phase != phase_ || !active()) {
    started_ms_ = now;
    job_keys_ = job_bytes_ = 0;
  }
  // Pages in flight for the old tasks are forgotten: their answers and completions find no task.
  requests_.clear();
  applying_.clear();
  phase_ = std::move(phase);
  tasks_ = std::move(tasks);
  running_ = std::move(running);
  persist_ = persist;
  done_ = std::all_of(tasks_.begin(), tasks_.end(), [](const StreamTask& t) { return t.done; });
  last_error_ = Status::Ok();
  last_tick_ms_ = now;
  budget_bytes_ = static_cast<int64_t>(kStreamPageBytesDefault);
}

void Streamer::Clear() {
  requests_.clear();
  applying_.clear();
  tasks_.clear();
  running_.clear();
  phase_.clear();
  done_ = false;
}

void Streamer::Tick(TimeMs now, const std::function<bool(NodeId)>& alive, Actions* out) {
  if (!active()) return;
  // A token bucket holding at most one second of pages (and always room for one page).
  const int64_t cap =
      static_cast<int64_t>(std::max<uint64_t>(bytes_per_s_, kStreamPageBytesDefault));
  budget_bytes_ = std::min<int64_t>(
      cap, budget_bytes_ +
               static_cast<int64_t>(bytes_per_s_ * (now - std::min(now, last_tick_ms_)) / 1000));
  last_tick_ms_ = now;
  size_t in_flight = requests_.size() + applying_.size();
  for (size_t i = 0; i < tasks_.size(); ++i) {
    Running& r = running_[i];
    if (r.request != 0 && now >= r.deadline) {
      requests_.erase(r.request);
      r.request = 0;
      --in_flight;
      Fail(i, Status::Timeout(StrCat("stream page unanswered for ", kStreamStepTimeoutMs, " ms")),
           now);
    }
  }
  for (size_t i = 0; i < tasks_.size() && in_flight < kStreamPagesInFlight && budget_bytes_ > 0;
       ++i) {
    const Running& r = running_[i];
    if (tasks_[i].done || r.request != 0 || r.apply_op != 0 || now < r.retry_at) continue;
    Ask(i, now, alive, out);
    if (running_[i].request != 0) ++in_flight;
  }
}

void Streamer::Ask(size_t i, TimeMs now, const std::function<bool(NodeId)>& alive, Actions* out) {
  StreamTask& task = tasks_[i];
  Running& r = running_[i];
  if (task.sources.empty()) {
    // Nobody else holds these spans (a ring of one, or every other replica left): nothing to get.
    task.done = true;
    return TaskEnded(out);
  }
  for (size_t tried = 0; tried < task.sources.size(); ++tried) {
    const size_t at = (r.source + tried) % task.sources.size();
    if (!alive(task.sources[at])) continue;
    r.source = at;
    r.request = NextId();
    r.deadline = now + kStreamStepTimeoutMs;
    requests_[r.request] = i;
    Send(task.sources[at],
         StreamRequest{r.request, task.spans, task.after_key, kStreamPageBytesDefault}, out);
    return;
  }
  r.retry_at = now + kStreamRetryMs;
  last_error_ = Status::Unavailable(
      StrCat("none of the ", task.sources.size(), " nodes holding a range to stream is alive"));
}

void Streamer::Fail(size_t i, Status why, TimeMs now) {
  Running& r = running_[i];
  if (!tasks_[i].sources.empty()) r.source = (r.source + 1) % tasks_[i].sources.size();
  r.retry_at = now + kStreamRetryMs;
  counters_.retries++;
  last_error_ = std::move(why);
}

void Streamer::OnResponse(NodeId from, StreamResponse resp, TimeMs now, Actions* out) {
  auto it = requests_.find(resp.id);
  if (it == requests_.end()) return;  // late, or of a replaced job
  const size_t i = it->second;
  requests_.erase(it);
  Running& r = running_[i];
  r.request = 0;
  if (!resp.status.ok()) return Fail(i, std::move(resp.status), now);
  StreamTask& task = tasks_[i];
  // The page must move the cursor forward, in order, inside the task's spans: anything else
  // (a confused or hostile source) is refused, and the page asked again of another source.
  std::string_view prev = task.after_key;
  for (const KeyVersion& kv : resp.versions) {
    const Token t = TokenOf(kv.key);
    const bool inside = std::any_of(task.spans.begin(), task.spans.end(),
                                    [t](const TokenSpan& s) { return s.Contains(t); });
    if (!inside || (!prev.empty() && !KeyBefore(prev, kv.key))) {
      return Fail(i, Status::InvalidArgument(StrCat("node ", from, " streamed keys out of order")),
                  now);
    }
    prev = kv.key;
  }
  if (resp.versions.empty() && resp.more) {
    return Fail(i, Status::InvalidArgument(StrCat("node ", from, " streamed an empty page")), now);
  }
  r.page_last = resp.versions.empty() ? std::string() : resp.versions.back().key;
  r.page_more = resp.more;
  const uint64_t keys = resp.versions.size();
  uint64_t bytes = 0;
  StorageAction apply;
  apply.kind = StorageAction::Kind::kApplyBatch;
  for (KeyVersion& kv : resp.versions) {
    bytes += kv.key.size() + kv.version.value.size();
    if (!hooks_.accept(kv.version).ok()) {
      counters_.dropped++;
      continue;
    }
    apply.batch.push_back(std::move(kv));
  }
  budget_bytes_ -= static_cast<int64_t>(bytes);
  counters_.pages++;
  counters_.bytes += bytes;
  counters_.keys += keys;
  job_bytes_ += bytes;
  job_keys_ += keys;
  last_error_ = Status::Ok();
  apply.op_id = NextId();
  r.apply_op = apply.op_id;
  applying_[apply.op_id] = i;
  if (apply.batch.empty()) {
    StorageResult nothing;
    return OnStorageDone(apply.op_id, std::move(nothing), now, out);
  }
  out->push_back(std::move(apply));
}

void Streamer::OnStorageDone(uint64_t op_id, StorageResult result, TimeMs now, Actions* out) {
  if (auto s = serving_.find(op_id); s != serving_.end()) {
    Serving served = std::move(s->second);
    serving_.erase(s);
    const bool to_end = result.status.ok() && !result.more;
    if (to_end) {
      std::vector<TokenSpan>& spans = served_to_end_[served.from];
      spans.insert(spans.end(), served.spans.begin(), served.spans.end());
    }
    counters_.pages_served++;
    Send(served.from,
         StreamResponse{served.id, std::move(result.status), std::move(result.hints), result.more},
         out);
    return;
  }
  auto it = applying_.find(op_id);
  if (it == applying_.end()) return;
  const size_t i = it->second;
  applying_.erase(it);
  Running& r = running_[i];
  r.apply_op = 0;
  if (!result.status.ok()) return Fail(i, std::move(result.status), now);  // the page, again
  StreamTask& task = tasks_[i];
  if (!r.page_last.empty()) task.after_key = r.page_last;
  if (!r.page_more) {
    task.done = true;
    return TaskEnded(out);
  }
  if (persist_ && ++pages_since_checkpoint_ >= kStreamCheckpointPages) Checkpoint(out);
  // The next page at once from the source that just answered, while the pace allows (waiting
  // for the next tick would cap a task at a page per tick).
  if (budget_bytes_ > 0) {
    r.request = NextId();
    r.deadline = now + kStreamStepTimeoutMs;
    requests_[r.request] = i;
    Send(task.sources[r.source],
         StreamRequest{r.request, task.spans, task.after_key, kStreamPageBytesDefault}, out);
  }
}

void Streamer::TaskEnded(Actions* out) {
  done_ = std::all_of(tasks_.begin(), tasks_.end(), [](const StreamTask& t) { return t.done; });
  if (persist_) Checkpoint(out);
}

void Streamer::Checkpoint(Actions* out) {
  pages_since_checkpoint_ = 0;
  out->push_back(PersistMetaAction{std::string(kMetaBootstrap), Encode()});
}

void Streamer::OnSendFailed(NodeId, RequestId id, TimeMs now) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  const size_t i = it->second;
  requests_.erase(it);
  running_[i].request = 0;
  Fail(i, Status::Unavailable("a stream page could not be delivered"), now);
}

void Streamer::OnRequest(NodeId from, const StreamRequest& r, Actions* out) {
  Status s;
  if (r.spans.empty() || r.spans.size() > kAaeSpansPerRequestMax || !SpansOrdered(r.spans) ||
      r.after_key.size() > kKeyBytesMax) {
    s = Status::InvalidArgument(
        "stream request out of bounds (span count, spans not in order, or cursor too long)");
  } else if (serving_.size() >= kStreamServeInFlightMax) {
    s = Status::Overloaded("too many stream pages in flight; retry later");
  }
  if (!s.ok()) return Send(from, StreamResponse{r.id, std::move(s), {}, false}, out);
  const uint64_t op = NextId();
  serving_[op] = Serving{from, r.id, r.spans};
  StorageAction a;
  a.op_id = op;
  a.kind = StorageAction::Kind::kStreamScan;
  a.spans = r.spans;
  a.key = r.after_key;
  a.limit_bytes = std::clamp<uint64_t>(r.limit_bytes, 1, kStreamPageBytesMax);
  out->push_back(std::move(a));
}

bool Streamer::ServedToEnd(NodeId node, const std::vector<TokenSpan>& spans) const {
  if (spans.empty()) return true;
  auto it = served_to_end_.find(node);
  return it != served_to_end_.end() && SpansCover(it->second, spans);
}

double Streamer::fraction() const {
  if (phase_.empty()) return 0;
  double total = 0, moved = 0;
  for (const StreamTask& t : tasks_) {
    const double w = SpansWidth(t.spans);
    total += w;
    if (t.done) {
      moved += w;
    } else if (!t.after_key.empty()) {
      const Token at = TokenOf(t.after_key);
      for (const TokenSpan& s : t.spans) {
        if (s.last < at) {
          moved += static_cast<double>(s.last - s.first) + 1.0;
        } else if (s.first <= at) {
          moved += static_cast<double>(at - s.first);
        }
      }
    }
  }
  return total == 0 ? 1.0 : std::min(1.0, moved / total);
}

void Streamer::Send(NodeId to, PeerMessage m, Actions* out) const {
  out->push_back(SendAction{to, hooks_.address_of(to), std::move(m)});
}

// "phase P", then one line per task: "task DONE CURSOR SPANS SOURCES" with CURSOR the key in hex
// ("-": none), SPANS "first-last,..." and SOURCES "id,..." in decimal ("-": none).
std::string Streamer::Encode() const {
  if (done()) return "done";
  std::string out = StrCat("phase ", phase_, "\n");
  for (const StreamTask& t : tasks_) {
    out += StrCat("task ", t.done ? "1" : "0", " ",
                  t.after_key.empty() ? std::string("-") : Hex(t.after_key), " ");
    for (size_t i = 0; i < t.spans.size(); ++i) {
      out += StrCat(i == 0 ? "" : ",", t.spans[i].first, "-", t.spans[i].last);
    }
    out += " ";
    if (t.sources.empty()) out += "-";
    for (size_t i = 0; i < t.sources.size(); ++i) out += StrCat(i == 0 ? "" : ",", t.sources[i]);
    out += "\n";
  }
  return out;
}

Result<std::vector<StreamTask>> Streamer::Decode(std::string_view bytes, std::string* phase) {
  std::vector<StreamTask> tasks;
  phase->clear();
  if (bytes.empty() || bytes == "done") return tasks;
  const Status bad = Status::Corruption("stored bootstrap state does not parse");
  std::vector<std::string_view> lines = Split(bytes, '\n');
  if (lines.empty() || lines[0].substr(0, 6) != "phase ") return bad;
  *phase = std::string(lines[0].substr(6));
  for (size_t l = 1; l < lines.size(); ++l) {
    if (lines[l].empty()) continue;
    std::vector<std::string_view> f = Split(lines[l], ' ');
    if (f.size() != 5 || f[0] != "task" || (f[1] != "0" && f[1] != "1")) return bad;
    StreamTask t;
    t.done = f[1] == "1";
    if (f[2] != "-" && !Unhex(f[2], &t.after_key)) return bad;
    for (std::string_view span : Split(f[3], ',')) {
      std::vector<std::string_view> ends = Split(span, '-');
      TokenSpan s;
      if (ends.size() != 2 || !ParseU64(ends[0], &s.first) || !ParseU64(ends[1], &s.last)) {
        return bad;
      }
      t.spans.push_back(s);
    }
    if (!SpansOrdered(t.spans)) return bad;
    if (f[4] != "-") {
      for (std::string_view id : Split(f[4], ',')) {
        NodeId n = 0;
        if (!ParseU64(id, &n)) return bad;
        t.sources.push_back(n);
      }
    }
    tasks.push_back(std::move(t));
  }
  return tasks;
}

}  // namespace causeway::cluster::internal
