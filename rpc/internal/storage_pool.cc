#include "rpc/internal/storage_pool.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <utility>
#include <variant>
#include <vector>

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

// Applies completed by the engine's commit thread, handed to the loop. The handle is unref'd
// (it never keeps the loop alive) and closed by the pool's destructor, whose owner runs the
// loop once more afterwards (rpc/server.cc), which frees this.
struct StoragePool::Committed {
  uv_async_t handle{};
  StoragePool* pool = nullptr;
  std::mutex mu;
  std::vector<std::pair<uint64_t, Status>> done;  // GUARDED_BY(mu)
};

StoragePool::StoragePool(uv_loop_t* loop, Engine* engine, spdlog::logger* log)
    : loop_(loop), engine_(engine), log_(log) {
  if (engine_->sync_mode() != SyncMode::kAlways) return;
  committed_ = new Committed;
  committed_->pool = this;
  committed_->handle.data = committed_;
  uv_async_init(loop_, &committed_->handle, &OnCommitted);
  uv_unref(reinterpret_cast<uv_handle_t*>(&committed_->handle));
}

StoragePool::~StoragePool() {
  CW_ASSERT(in_flight_ == 0, "storage pool destroyed with work out");
  if (committed_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(&committed_->handle), [](uv_handle_t* h) {
      delete static_cast<Committed*>(h->data);  // NOLINT(cppcoreguidelines-owning-memory)
    });
  }
}

void StoragePool::Run(cluster::StorageAction action) {
  CW_ASSERT(driver_ != nullptr, "storage work before Attach()");
  if (engine_->sync_mode() != SyncMode::kAlways) {
    cluster::StorageResult result = RunOnEngine(*engine_, action);
    driver_->OnStorageDone(action.op_id, std::move(result));
    return;
  }
  if (action.kind == cluster::StorageAction::Kind::kApply &&
      engine_->AppliesAsync(action.version)) {
    return RunGroupCommitted(action);
  }
  Queue(new Work{{}, this, std::move(action), {}});
}

// The completion may come from the commit thread or (an error found before queueing) from
// inside this call: either way it goes through the async handle, so the driver always hears
// of it later, from the loop.
void StoragePool::RunGroupCommitted(const cluster::StorageAction& action) {
  ++in_flight_;
  Committed* c = committed_;
  const uint64_t op_id = action.op_id;
  engine_->ApplyAsync(action.key, action.version, [c, op_id](const Result<ApplyResult>& r) {
    {
      std::lock_guard<std::mutex> lock(c->mu);
      c->done.emplace_back(op_id, r.ok() ? Status::Ok() : r.status());
    }
    uv_async_send(&c->handle);
  });
}

void StoragePool::OnCommitted(uv_async_t* handle) {
  auto* c = static_cast<Committed*>(handle->data);
  std::vector<std::pair<uint64_t, Status>> done;
  {
    std::lock_guard<std::mutex> lock(c->mu);
    done.swap(c->done);
  }
  StoragePool* pool = c->pool;
  for (auto& [op_id, status] : done) {
    --pool->in_flight_;
    if (pool->driver_ == nullptr) continue;
    cluster::StorageResult result;
    result.status = std::move(status);
    pool->driver_->OnStorageDone(op_id, std::move(result));
  }
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
  // The async handle is unref'd: while waiting for group commits it must keep the loop polling.
  auto* handle =
      committed_ != nullptr ? reinterpret_cast<uv_handle_t*>(&committed_->handle) : nullptr;
  if (handle != nullptr) uv_ref(handle);
  while (in_flight_ > 0) uv_run(loop_, UV_RUN_ONCE);
  if (handle != nullptr) uv_unref(handle);
}

}  // namespace causeway::rpc
