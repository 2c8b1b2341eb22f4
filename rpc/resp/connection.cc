#include "rpc/resp/connection.h"

#include "base/limits.h"
#include "rpc/resp/reply.h"

namespace causeway::rpc::resp {

Connection::Connection(const GatewayView& view, kj::Own<kj::AsyncIoStream> stream, uint64_t id,
                       std::function<void(uint64_t)> on_close)
    : view_(view),
      stream_(kj::mv(stream)),
      on_close_(std::move(on_close)),
      parser_(view.options.auth_required() ? ParserLimits::PreAuth() : ParserLimits{}),
      tasks_(*this) {
  client_.id = id;
  client_.stats = std::make_shared<ConnStats>();
  client_.stats->last_activity_ms = MonotonicMs();
  client_.authenticated = !view.options.auth_required();
}

Connection::~Connection() = default;

void Connection::Start(const std::string& refusal) {
  if (refusal.empty()) {
    ReadMore();
    return;
  }
  std::string reply;
  AppendError(&reply, refusal);
  Emit(reply);
  close_after_flush_ = true;
  ScheduleFlush();
}

bool Connection::Idle(uint64_t now_ms, uint64_t idle_ms) const {
  const ConnStats& s = *client_.stats;
  return slots_.empty() && !writing_ && out_.empty() && s.in_flight == 0 &&
         now_ms - s.last_activity_ms >= idle_ms;
}

void Connection::taskFailed(kj::Exception&&) { Close(); }

bool Connection::Blocked() const {
  return slots_.size() >= kRespPipelineInFlightMax ||
         out_.size() + sending_.size() >= kRespOutputBytesMax;
}

// Reads only when the parser has consumed every complete command it holds (so the buffer stays
// one partial command plus one read) and the pipeline has room.
void Connection::ReadMore() {
  if (reading_ || closing_ || close_after_flush_ || eof_ || have_next_ || Blocked()) return;
  reading_ = true;
  if (read_buf_.size() == 0) read_buf_ = kj::heapArray<kj::byte>(kRespReadChunkBytes);
  tasks_.add(stream_->tryRead(read_buf_.begin(), 1, read_buf_.size()).then([this](size_t n) {
    OnRead(n);
  }));
}

void Connection::OnRead(size_t n) {
  reading_ = false;
  if (closing_) return;
  if (n == 0) {  // EOF: as Redis, the connection goes with whatever it had in flight
    eof_ = true;
    Close();
    return;
  }
  client_.stats->last_activity_ms = MonotonicMs();
  parser_.Feed(std::string_view(reinterpret_cast<const char*>(read_buf_.begin()), n));
  Pump();
  ReadMore();
}

void Connection::Pump() {
  while (!closing_ && !close_after_flush_) {
    if (!have_next_) {
      if (Blocked()) return;
      const Parser::Outcome o = parser_.Next(&next_);
      if (o == Parser::Outcome::kNeedMore) return;
      if (o == Parser::Outcome::kError) {
        Slot slot;
        slot.done = true;
        AppendError(&slot.reply, "ERR " + parser_.error());
        slots_.push_back(std::move(slot));
        close_after_flush_ = true;
        Complete(head_seq_ + slots_.size() - 1, std::move(slots_.back().reply));
        return;
      }
      have_next_ = true;
      if (const CommandSpec* spec = FindCommand(next_[0])) {
        KeysOf(*spec, next_, &next_keys_);
      } else {
        next_keys_.clear();
      }
    }
    for (const std::string& key : next_keys_) {
      if (busy_keys_.count(key) != 0) return;  // resumed by Complete()
    }
    Dispatch();
  }
}

void Connection::Dispatch() {
  have_next_ = false;
  const uint64_t seq = head_seq_ + slots_.size();
  Slot& slot = slots_.emplace_back();
  slot.keys = std::move(next_keys_);
  next_keys_.clear();
  for (const std::string& key : slot.keys) ++busy_keys_[key];
  const bool was_authenticated = client_.authenticated;
  kj::Promise<std::string> reply = Execute(view_, client_, std::move(next_));
  next_.clear();
  if (client_.quit) close_after_flush_ = true;
  if (!was_authenticated && client_.authenticated) parser_.set_limits(ParserLimits{});
  tasks_.add(reply.then([this, seq](std::string r) { Complete(seq, std::move(r)); }));
}

void Connection::Complete(uint64_t seq, std::string reply) {
  if (closing_) return;
  Slot& slot = slots_[seq - head_seq_];
  slot.done = true;
  slot.reply = std::move(reply);
  for (const std::string& key : slot.keys) {
    auto it = busy_keys_.find(key);
    if (it != busy_keys_.end() && --it->second == 0) busy_keys_.erase(it);
  }
  slot.keys.clear();
  while (!slots_.empty() && slots_.front().done) {
    Emit(slots_.front().reply);
    slots_.pop_front();
    ++head_seq_;
  }
  ScheduleFlush();
  Pump();
  ReadMore();
}

void Connection::Emit(std::string_view reply) { out_.append(reply); }

// One write per event-loop turn: evalLast runs once everything else queued has run, so every
// reply completed in this turn is in out_ by then.
void Connection::ScheduleFlush() {
  if (flush_scheduled_ || closing_) return;
  flush_scheduled_ = true;
  tasks_.add(kj::evalLast([this] {
    flush_scheduled_ = false;
    Flush();
  }));
}

void Connection::Flush() {
  if (closing_ || writing_) return;
  if (out_.empty()) {
    if (close_after_flush_ && slots_.empty() && !draining_) {
      stream_->shutdownWrite();
      draining_ = true;
      Drain(0);
    }
    return;
  }
  writing_ = true;
  sending_.swap(out_);
  out_.clear();
  tasks_.add(stream_->write(sending_.data(), sending_.size()).then([this] {
    writing_ = false;
    sending_.clear();
    if (closing_) return;
    Flush();
    Pump();
    ReadMore();
  }));
}

// Closing a socket with unread input makes the kernel send a reset, which may destroy our last
// reply (the protocol error) before the client reads it. So after shutdownWrite the input is read
// and dropped until EOF, at most kRespBufferBytesMax (or until the idle sweep), then closed.
void Connection::Drain(size_t dropped) {
  if (closing_) return;
  if (dropped >= kRespBufferBytesMax) {
    Close();
    return;
  }
  if (read_buf_.size() == 0) read_buf_ = kj::heapArray<kj::byte>(kRespReadChunkBytes);
  tasks_.add(
      stream_->tryRead(read_buf_.begin(), 1, read_buf_.size()).then([this, dropped](size_t n) {
        if (n == 0) {
          Close();
        } else {
          Drain(dropped + n);
        }
      }));
}

void Connection::Close() {
  if (closing_) return;
  closing_ = true;
  on_close_(client_.id);
}

}  // namespace causeway::rpc::resp
