// NodeHost: bulk ingestion, the replica's side of `causeway import` (rpc/internal/node_host.h,
// Ingest; docs/design.md, "Bulk import and LWW"). Chunks are written and files ingested on the
// storage pool, never on the loop.
#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>

#include "rpc/internal/node_host.h"

namespace causeway::rpc {

namespace {
uint64_t WallMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}
}  // namespace

kj::Promise<Result<uint64_t>> NodeHost::Ingest(uint64_t session, uint64_t offset, std::string data,
                                               bool last) {
  if (stopping_) return Result<uint64_t>(Status::Unavailable("the node is stopping"));
  if (data.size() > kIngestChunkBytesMax) {
    return Result<uint64_t>(Status::InvalidArgument("ingestion chunk over kIngestChunkBytesMax"));
  }
  ++ingests_running_;
  auto paf = kj::newPromiseAndFulfiller<Result<uint64_t>>();
  auto fulfiller =
      std::make_shared<kj::Own<kj::PromiseFulfiller<Result<uint64_t>>>>(kj::mv(paf.fulfiller));
  auto outcome = std::make_shared<std::optional<Result<IngestResult>>>();
  storage_->RunTask(
      [engine = engine_, staging = staging_.get(), session, offset, data = std::move(data), last,
       outcome] {
        if (Status s = staging->Append(session, offset, data, WallMs()); !s.ok()) {
          outcome->emplace(s);
          return;
        }
        if (!last) {
          outcome->emplace(IngestResult{});
          return;
        }
        Result<std::string> path = staging->Path(session);
        if (!path.ok()) {
          outcome->emplace(path.status());
          return;
        }
        outcome->emplace(engine->IngestFile(*path));
        staging->Remove(session);
      },
      [this, outcome, fulfiller, session, last] {
        --ingests_running_;
        Result<uint64_t> r = Status::Internal("ingestion cancelled");
        if (outcome->has_value()) {
          if ((*outcome)->ok()) {
            r = (**outcome)->entries;
            if (last) {
              log_->info("event=ingested session={:016x} entries={} bytes={} segments={}", session,
                         (**outcome)->entries, (**outcome)->bytes, (**outcome)->segments);
            }
          } else {
            r = (*outcome)->status();
            log_->warn("event=ingest_failed session={:016x} error=\"{}\"", session,
                       r.status().ToString());
          }
        }
        if ((*fulfiller)->isWaiting()) (*fulfiller)->fulfill(std::move(r));
      });
  return kj::mv(paf.promise);
}

void NodeHost::AbortIngest(uint64_t session) {
  storage_->RunTask([staging = staging_.get(), session] { staging->Remove(session); }, [] {});
}

}  // namespace causeway::rpc
