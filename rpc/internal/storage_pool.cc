#include "rpc/internal/storage_pool.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <variant>

#include "base/assert.h"
#include "rpc/engine_ports.h"

namespace causeway::rpc {

// One piece of pool work: an engine operation or a meta store, and its outcome.
struct StoragePool::Work {
  struct Meta {
    std::string name, value;
    Status status;
  };
  struct Ceiling {
    uint64_t ms = 0;
    Status status;
  };
  struct Task {
    std::function<void()> work, done;
  };
  uv_work_t req{};
  StoragePool* pool = nullptr;
  std::variant<cluster::StorageAction, Meta, Ceiling, Task> what;
  cluster::StorageResult result;
};

StoragePool::~StoragePool() { CW_ASSERT(in_flight_ == 0, "storage pool destroyed with work out"); }

void StoragePool::Run(cluster::StorageAction action) {
  CW_ASSERT(driver_ != nullptr, "storage work before Attach()");
  if (engine_->sync_mode() != SyncMode::kAlways) {
    cluster::StorageResult result = RunOnEngine(*engine_, action);
    driver_->OnStorageDone(action.op_id, std::move(result));
    return;
  }
  Queue(new Work{{}, this, std::move(action), {}});
}

// Engine::StoreMeta syncs the WAL: on the pool, never on the loop.
void StoragePool::StoreMeta(std::string name, std::string value) {
  Queue(new Work{{}, this, Work::Meta{std::move(name), std::move(value), {}}, {}});
}

void StoragePool::StoreHlcCeiling(uint64_t ceiling_ms) {
  Queue(new Work{{}, this, Work::Ceiling{ceiling_ms, {}}, {}});
}

void StoragePool::RunTask(std::function<void()> work, std::function<void()> done) {
  Queue(new Work{{}, this, Work::Task{std::move(work), std::move(done)}, {}});
}

void StoragePool::Queue(Work* w) {
  w->req.data = w;
  ++in_flight_;
  uv_queue_work(loop_, &w->req, &DoWork, &OnWorkDone);
}

// On a libuv pool thread: touches only the engine (thread-safe) and the work item.
void StoragePool::DoWork(uv_work_t* req) {
  auto* w = static_cast<Work*>(req->data);
  Engine& engine = *w->pool->engine_;
  if (auto* meta = std::get_if<Work::Meta>(&w->what)) {
    meta->status = engine.StoreMeta(meta->name, meta->value);
  } else if (auto* ceiling = std::get_if<Work::Ceiling>(&w->what)) {
    ceiling->status = engine.StoreHlcCeilingMs(ceiling->ms);
  } else if (auto* task = std::get_if<Work::Task>(&w->what)) {
    task->work();
  } else {
    w->result = RunOnEngine(engine, std::get<cluster::StorageAction>(w->what));
  }
}

void StoragePool::SetTombstoneWatermarks(std::vector<SpanWatermark> marks) {
  engine_->SetTombstoneWatermarks(std::move(marks));
}

void StoragePool::OnWorkDone(uv_work_t* req, int status) {
  std::unique_ptr<Work> w(static_cast<Work*>(req->data));
  StoragePool* pool = w->pool;
  --pool->in_flight_;
  if (auto* meta = std::get_if<Work::Meta>(&w->what)) {
    if (status != 0) meta->status = Status::Internal("meta store cancelled");
    if (!meta->status.ok()) {
      pool->log_->warn("event=persist_failed name={} error=\"{}\"", meta->name,
                       meta->status.ToString());
    }
    if (pool->driver_ != nullptr) pool->driver_->OnMetaStored(meta->name, meta->status);
    return;
  }
  if (auto* ceiling = std::get_if<Work::Ceiling>(&w->what)) {
    if (status != 0) ceiling->status = Status::Internal("ceiling store cancelled");
    if (!ceiling->status.ok()) {
      pool->log_->warn("event=clock_ceiling_store_failed error=\"{}\"", ceiling->status.ToString());
    }
    if (pool->driver_ != nullptr) pool->driver_->OnCeilingStored(ceiling->ms, ceiling->status);
    return;
  }
  if (auto* task = std::get_if<Work::Task>(&w->what)) {
    task->done();  // a cancelled task (status != 0) never ran its work: done says what it has
    return;
  }
  if (pool->driver_ == nullptr) return;
  if (status != 0) w->result.status = Status::Internal("storage work cancelled");
  pool->driver_->OnStorageDone(std::get<cluster::StorageAction>(w->what).op_id,
                               std::move(w->result));
}

void StoragePool::WaitIdle() {
  while (in_flight_ > 0) uv_run(loop_, UV_RUN_ONCE);
}

}  // namespace causeway::rpc
