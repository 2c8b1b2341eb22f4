// CommitQueue: group commit for SyncMode::kAlways (docs/design.md, "Group commit").
//
// Writers hand a WriteBatch to the queue instead of each calling DB::Write(sync=true). One leader
// thread, owned by the queue, takes everything queued (at most kCommitGroupWritesMax writes and
// kCommitGroupBytesMax bytes; a single larger write goes alone), writes it as ONE merged batch
// with sync=true, and then completes every write of the group with the group's Status. So one
// fsync covers every write that was waiting for it, however many threads or callbacks issued
// them, as etcd's Raft log and RocksDB's own write groups do -- but without a blocked thread
// per waiting write: Submit() returns at once and the completion runs on the leader thread.
//
// Order: writes are applied in Submit order (one FIFO, groups written one after another), so two
// writes of one key are never reordered. A group is atomic (one RocksDB batch): a crash keeps all
// of it or none, and a write is completed only after the sync that covers it returned.
//
// Errors: check_writable() is asked before each group (a fail-stopped engine writes nothing and
// every waiter gets the fail-stop); a failed write hands the mapped error (check_write, which
// also fail-stops) to every waiter of the group. A full queue refuses with kOverloaded.
//
// Thread-safe: any thread may Submit/Commit/Drain. Completions run on the leader thread and must
// be short (they delay the next group). The destructor writes what is queued, then joins.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "base/status.h"

namespace causeway::internal {

class CommitQueue {
 public:
  using Done = std::function<void(const Status&)>;
  struct Hooks {
    rocksdb::DB* db = nullptr;
    rocksdb::WriteOptions write_options;  // sync=true
    std::function<Status()> check_writable;
    std::function<Status(const rocksdb::Status&)> check_write;
  };
  struct Stats {
    uint64_t writes = 0;         // non-empty writes completed through the queue
    uint64_t syncs = 0;          // synced RocksDB writes (groups) made for them
    uint64_t largest_group = 0;  // most writes one sync covered
  };

  explicit CommitQueue(Hooks hooks);
  ~CommitQueue();
  CommitQueue(const CommitQueue&) = delete;
  CommitQueue& operator=(const CommitQueue&) = delete;

  // Queues `batch`; `done` runs on the leader thread once the sync covering it returned (or the
  // group failed). kOverloaded (nothing queued, `done` never runs) when kCommitQueueWritesMax
  // writes are waiting. An empty batch writes nothing and completes after every earlier write.
  [[nodiscard]] Status Submit(rocksdb::WriteBatch batch, Done done);
  // Submit, then wait for the outcome.
  [[nodiscard]] Status Commit(rocksdb::WriteBatch batch);
  // Returns once every write submitted before the call is completed.
  void Drain();

  Stats stats() const;

 private:
  struct Entry {
    rocksdb::WriteBatch batch;
    Done done;
  };
  void RunLeader();
  Status WriteGroup(std::deque<Entry>& group);

  const Hooks hooks_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;  // GUARDED_BY(mu_)
  bool stop_ = false;        // GUARDED_BY(mu_)
  std::atomic<uint64_t> writes_{0}, syncs_{0}, largest_group_{0};
  std::thread leader_;  // last: started once everything above is constructed
};

}  // namespace causeway::internal
