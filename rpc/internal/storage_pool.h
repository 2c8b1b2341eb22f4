// StoragePool: the server's StorageRunner (cluster/ports.h) -- engine work for the node driver.
//
// Without a per-write fsync (`periodic`, `none`) an engine call is memtable work plus a page-cache
// WAL append, cheaper than a hop to another thread (a futex wake, an eventfd write, a loop
// wake-up and RocksDB write-group contention between pool threads), so it runs inline on the loop
// thread and completes from inside Run() (the driver queues that completion). `always` waits for
// fsync: an Apply the engine can group-commit (Engine::AppliesAsync) is queued from the loop
// thread and its completion comes back from the engine's commit thread through a uv_async
// (so one fsync covers every write waiting, not one per pool thread); the rest of `always`'s
// work, and meta and clock-ceiling stores (always synced), run on libuv's thread pool and
// complete on the loop.
//
// Loop-thread only. Attach() the driver before the first Run(); Detach() at teardown drops later
// completions; the pool must outlive its work on the thread pool (WaitIdle()).
#pragma once

#include <uv.h>

#include <cstddef>
#include <functional>
#include <string>

#include "cluster/driver.h"
#include "cluster/ports.h"
#include "engine/engine.h"

namespace spdlog {
class logger;
}

namespace causeway::rpc {

class StoragePool final : public cluster::StorageRunner {
 public:
  StoragePool(uv_loop_t* loop, Engine* engine, spdlog::logger* log);
  ~StoragePool() override;
  StoragePool(const StoragePool&) = delete;
  StoragePool& operator=(const StoragePool&) = delete;

  void Attach(cluster::NodeDriver* driver) { driver_ = driver; }
  void Detach() { driver_ = nullptr; }

  void Run(cluster::StorageAction action) override;
  void StoreMeta(std::string name, std::string value) override;
  void SetTombstoneWatermarks(std::vector<SpanWatermark> marks) override;
  void StoreHlcCeiling(uint64_t ceiling_ms) override;
  // The host's own long engine work (a cleanup): `work` runs on libuv's thread pool and may touch
  // only the engine and what it captured; `done` runs on the loop afterwards, even after
  // Detach() (the host outlives WaitIdle()).
  void RunTask(std::function<void()> work, std::function<void()> done);

  // Work on libuv's thread pool not yet back on the loop.
  size_t in_flight() const { return in_flight_; }
  // Runs the loop until every piece of pool work came back (teardown).
  void WaitIdle();

 private:
  struct Work;
  void Queue(Work* w);
  static void DoWork(uv_work_t* req);
  static void OnWorkDone(uv_work_t* req, int status);
  struct Committed;  // group-committed applies back from the engine's commit thread
  static void OnCommitted(uv_async_t* handle);
  void RunGroupCommitted(const cluster::StorageAction& action);

  uv_loop_t* loop_;
  Engine* engine_;
  spdlog::logger* log_;
  cluster::NodeDriver* driver_ = nullptr;
  size_t in_flight_ = 0;
  Committed* committed_ = nullptr;  // owned; freed by its handle's close callback
};

}  // namespace causeway::rpc
