#include "rpc/engine_ports.h"

#include <utility>

namespace causeway {

namespace {

// Stores a Result's error, or hands its value to `fill`.
template <typename T, typename Fill>
void Into(Result<T> r, cluster::StorageResult* out, Fill fill) {
  if (r.ok()) {
    fill(std::move(r).value());
  } else {
    out->status = r.status();
  }
}

}  // namespace

cluster::StorageResult RunOnEngine(Engine& engine, const cluster::StorageAction& action) {
  using Kind = cluster::StorageAction::Kind;
  cluster::StorageResult result;
  switch (action.kind) {
    case Kind::kApply:
      Into(engine.Apply(action.key, action.version), &result, [](const ApplyResult&) {});
      break;
    case Kind::kRead:
      Into(engine.Get(action.key), &result,
           [&](std::optional<Version> v) { result.version = std::move(v); });
      break;
    case Kind::kPutHint:
      Into(engine.PutHint(action.target, action.key, action.version), &result,
           [&](HintPut put) { result.over_budget = put == HintPut::kOverBudget; });
      break;
    case Kind::kScanHints: {
      auto end = engine.ScanHints(action.target, action.key, action.limit_bytes,
                                  [&](std::string_view key, const Version& version) {
                                    result.hints.push_back({std::string(key), version});
                                    return true;
                                  });
      Into(std::move(end), &result, [&](const HintScanEnd& e) { result.more = !e.exhausted; });
      break;
    }
    case Kind::kDeleteHint:
      Into(engine.DeleteHintIfSame(action.target, action.key, action.version), &result,
           [](bool) {});
      break;
    case Kind::kHintTargets:
      for (const HintTargetBytes& t : engine.HintTargets()) result.targets.push_back(t.target);
      break;
    case Kind::kAaeHashes:
      Into(engine.AaeSpanHashes(action.spans), &result,
           [&](std::vector<uint64_t> hashes) { result.hashes = std::move(hashes); });
      break;
    case Kind::kAaeDigests: {
      // The spans in order; the cursor's span resumes after it, earlier ones are done.
      const Token from = action.key.empty() ? 0 : TokenOf(action.key);
      for (const TokenSpan& span : action.spans) {
        if (!action.key.empty() && span.last < from) continue;
        const std::string_view after = action.key.empty() || !span.Contains(from)
                                           ? std::string_view()
                                           : std::string_view(action.key);
        auto more = engine.AaeSpanDigests(
            span, after, action.limit - result.digests.size(),
            [&](std::string_view key, Hlc timestamp, NodeId writer, bool tombstone) {
              result.digests.push_back({std::string(key), timestamp, writer, tombstone});
              return true;
            });
        if (!more.ok()) {
          result.status = more.status();
          break;
        }
        if (*more || result.digests.size() == action.limit) {
          result.more = *more || &span != &action.spans.back();
          break;
        }
      }
      break;
    }
    case Kind::kStreamScan: {
      // As kAaeDigests: the spans in order, the cursor's span resumed after it.
      const Token from = action.key.empty() ? 0 : TokenOf(action.key);
      uint64_t bytes = 0;
      bool full = false;
      for (const TokenSpan& span : action.spans) {
        if (!action.key.empty() && span.last < from) continue;
        if (full) {
          result.more = true;
          break;
        }
        const std::string_view after = action.key.empty() || !span.Contains(from)
                                           ? std::string_view()
                                           : std::string_view(action.key);
        Status s = engine.ScanSpan(span, after, [&](std::string_view key, const Version& v) {
          if (full) {
            result.more = true;
            return false;
          }
          bytes += key.size() + v.value.size();
          result.hints.push_back({std::string(key), v});
          full = bytes >= action.limit_bytes || result.hints.size() >= kStreamPageKeysMax;
          return true;
        });
        if (!s.ok()) {
          result.status = s;
          break;
        }
        if (result.more) break;
      }
      break;
    }
    case Kind::kApplyBatch:
      for (const cluster::KeyVersion& kv : action.batch) {
        Result<ApplyResult> r = engine.Apply(kv.key, kv.version);
        if (!r.ok()) {
          result.status = r.status();
          break;
        }
      }
      break;
  }
  return result;
}

}  // namespace causeway
