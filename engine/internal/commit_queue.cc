#include "engine/internal/commit_queue.h"

#include <future>
#include <string>
#include <utility>

#include "base/assert.h"
#include "base/limits.h"
#include "engine/internal/coding.h"

namespace causeway::internal {
namespace {

// A WriteBatch's representation (the WAL record format, db/write_batch.cc): an 8-byte sequence
// number and a 4-byte little-endian count, then the records. Batches are merged by concatenating
// their records under one header (what RocksDB's WriteBatchInternal::Append does; that header is
// not installed).
constexpr size_t kBatchHeaderBytes = 12;
constexpr size_t kBatchCountOffset = 8;

}  // namespace

CommitQueue::CommitQueue(Hooks hooks) : hooks_(std::move(hooks)) {
  CW_ASSERT(hooks_.db != nullptr && hooks_.write_options.sync, "commit queue needs a synced DB");
  leader_ = std::thread([this] { RunLeader(); });
}

CommitQueue::~CommitQueue() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  leader_.join();
}

Status CommitQueue::Submit(rocksdb::WriteBatch batch, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    CW_ASSERT(!stop_, "Submit after the commit queue stopped");
    if (queue_.size() >= kCommitQueueWritesMax) {
      return Status::Overloaded("commit queue full (" + std::to_string(kCommitQueueWritesMax) +
                                " writes waiting for a sync)");
    }
    queue_.push_back(Entry{std::move(batch), std::move(done)});
  }
  cv_.notify_one();
  return Status::Ok();
}

Status CommitQueue::Commit(rocksdb::WriteBatch batch) {
  std::promise<Status> outcome;
  std::future<Status> ready = outcome.get_future();
  if (Status s = Submit(std::move(batch), [&outcome](const Status& st) { outcome.set_value(st); });
      !s.ok()) {
    return s;
  }
  return ready.get();
}

void CommitQueue::Drain() {
  // FIFO: an empty batch completes after everything queued before it.
  Status s = Commit(rocksdb::WriteBatch());
  if (s.code() == ErrorCode::kOverloaded) {
    // Full: the leader is working through it; wait for room rather than give up the barrier.
    while (s.code() == ErrorCode::kOverloaded) {
      std::this_thread::yield();
      s = Commit(rocksdb::WriteBatch());
    }
  }
  s.IgnoreError();  // a barrier: the earlier writes' outcomes went to their own waiters
}

CommitQueue::Stats CommitQueue::stats() const {
  return {.writes = writes_.load(std::memory_order_relaxed),
          .syncs = syncs_.load(std::memory_order_relaxed),
          .largest_group = largest_group_.load(std::memory_order_relaxed)};
}

void CommitQueue::RunLeader() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything queued was written
    // Everything waiting, within the group limits; the first write always goes.
    std::deque<Entry> group;
    size_t bytes = 0;
    while (!queue_.empty() && group.size() < kCommitGroupWritesMax) {
      const size_t next = queue_.front().batch.GetDataSize();
      if (!group.empty() && bytes + next > kCommitGroupBytesMax) break;
      bytes += next;
      group.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    const Status status = WriteGroup(group);
    for (Entry& e : group) e.done(status);
    lock.lock();
  }
}

Status CommitQueue::WriteGroup(std::deque<Entry>& group) {
  uint64_t writes = 0;
  size_t record_bytes = 0;
  Entry* only = nullptr;
  for (Entry& e : group) {
    if (e.batch.Count() == 0) continue;
    ++writes;
    only = &e;
    record_bytes += e.batch.GetDataSize() - kBatchHeaderBytes;
  }
  if (writes == 0) return Status::Ok();  // barriers only
  if (Status s = hooks_.check_writable(); !s.ok()) return s;
  rocksdb::Status written;
  if (writes == 1) {
    written = hooks_.db->Write(hooks_.write_options, &only->batch);
  } else {
    std::string rep(kBatchHeaderBytes, '\0');
    rep.reserve(kBatchHeaderBytes + record_bytes);
    uint32_t count = 0;
    for (Entry& e : group) {
      if (e.batch.Count() == 0) continue;
      count += e.batch.Count();
      rep.append(e.batch.Data(), kBatchHeaderBytes, std::string::npos);
    }
    std::string count_bytes;
    PutFixed32Le(&count_bytes, count);
    rep.replace(kBatchCountOffset, count_bytes.size(), count_bytes);
    rocksdb::WriteBatch merged(std::move(rep));
    written = hooks_.db->Write(hooks_.write_options, &merged);
  }
  syncs_.fetch_add(1, std::memory_order_relaxed);
  writes_.fetch_add(writes, std::memory_order_relaxed);
  uint64_t largest = largest_group_.load(std::memory_order_relaxed);
  while (largest < writes &&
         !largest_group_.compare_exchange_weak(largest, writes, std::memory_order_relaxed)) {
  }
  return hooks_.check_write(written);
}

}  // namespace causeway::internal
