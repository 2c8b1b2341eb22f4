#include "rpc/resp/connection.h"

#include "base/assert.h"
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
  if (client_.authenticated) client_.role = Role::kAdmin;
  limits_lifted_ = client_.authenticated;
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
  return slots_.empty() && parsed_.empty() && !writing_ && out_.empty() && s.in_flight == 0 &&
         now_ms - s.last_activity_ms >= idle_ms;
}

void Connection::taskFailed(kj::Exception&&) { Close(); }

bool Connection::Blocked() const {
  return slots_.size() + parsed_.size() >= kRespPipelineInFlightMax ||
         out_.size() + sending_.size() >= kRespOutputBytesMax;
}

// Reads only when the parser has handed out every complete command it holds and all of them
// were dispatched (so the buffer stays one partial command plus one read, and the parsed
// commands at most what it held) and the pipeline has room.
void Connection::ReadMore() {
  if (reading_ || closing_ || close_after_flush_ || eof_ || !parsed_.empty() ||
      !parse_error_.empty() || Blocked()) {
    return;
  }
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

// Parse everything first, then dispatch: a run of absorbable commands is then seen whole.
void Connection::Pump() {
  while (!closing_ && !close_after_flush_) {
    const bool parsed = ParseAhead();
    const bool dispatched = DispatchReady();
    if (!parsed && !dispatched) break;
  }
  if (closing_ || close_after_flush_ || parse_error_.empty() || !parsed_.empty()) return;
  // The protocol error, after the replies to every command before it.
  Slot& slot = slots_.emplace_back();
  AppendError(&slot.reply, "ERR " + parse_error_);
  close_after_flush_ = true;
  Complete(head_seq_ + slots_.size() - 1, std::move(slot.reply));
}

// Parses what the buffer holds into parsed_; whether anything was parsed. Before AUTH, one
// command at a time, and only once the one before it answered: an AUTH's check may take a while
// (off the loop), and once it succeeded the parser's limits are lifted for the commands after it.
bool Connection::ParseAhead() {
  bool any = false;
  while (parse_error_.empty() && !Blocked() &&
         (client_.authenticated || (parsed_.empty() && slots_.empty()))) {
    Args args;
    const Parser::Outcome o = parser_.Next(&args);
    if (o == Parser::Outcome::kNeedMore) break;
    if (o == Parser::Outcome::kError) {
      parse_error_ = parser_.error();
      CW_ASSERT(!parse_error_.empty(), "a parser error has a message");
      break;
    }
    Parsed& p = parsed_.emplace_back();
    p.args = std::move(args);
    if (const CommandSpec* spec = FindCommand(p.args[0])) KeysOf(*spec, p.args, &p.keys);
    p.absorbable = AbsorbableAs(p.args);
    any = true;
  }
  return any;
}

// Dispatches from the head of parsed_ until a command must wait for a busy key; whether
// anything was dispatched.
bool Connection::DispatchReady() {
  bool any = false;
  while (!closing_ && !close_after_flush_ && !parsed_.empty()) {
    for (const std::string& key : parsed_.front().keys) {
      if (busy_keys_.count(key) != 0) return any;  // resumed by Complete()
    }
    DispatchHead();
    any = true;
  }
  return any;
}

// Dispatches parsed_[0] together with the adjacent commands it absorbs: one slot each, one
// command run (for a SET run, the last one: its value is the one that stays).
void Connection::DispatchHead() {
  size_t run = 1;
  while (run < parsed_.size() && Absorbs(parsed_[0].args, parsed_[0].absorbable, parsed_[run].args,
                                         parsed_[run].absorbable)) {
    ++run;
  }
  const uint64_t seq = head_seq_ + slots_.size();
  for (size_t i = 0; i < run; ++i) slots_.emplace_back();
  Slot& slot = slots_[seq - head_seq_];
  slot.run = run;
  slot.keys = std::move(parsed_[0].keys);
  for (const std::string& key : slot.keys) ++busy_keys_[key];
  Args args = std::move(parsed_[run - 1].args);
  if (run > 1) {
    uint64_t& counter = parsed_[0].absorbable == Absorbable::kPlainSet ? view_.absorbed->sets
                                                                       : view_.absorbed->gets;
    counter += run - 1;
  }
  parsed_.erase(parsed_.begin(), parsed_.begin() + static_cast<ptrdiff_t>(run));
  kj::Promise<std::string> reply = Execute(view_, client_, std::move(args));
  AfterCommand();
  tasks_.add(reply.then([this, seq](std::string r) {
    AfterCommand();  // an AUTH answers later: it may authenticate, or close after failures
    Complete(seq, std::move(r));
  }));
}

// What a command may have changed in the connection's state: QUIT (or too many failed logins)
// closes once the reply is out; the first successful AUTH lifts the pre-AUTH parser limits.
void Connection::AfterCommand() {
  if (client_.quit && !close_after_flush_) {
    close_after_flush_ = true;
    parsed_.clear();  // after QUIT nothing runs
    parse_error_.clear();
  }
  if (client_.authenticated && !limits_lifted_) {
    limits_lifted_ = true;
    parser_.set_limits(ParserLimits{});
  }
}

void Connection::Complete(uint64_t seq, std::string reply) {
  if (closing_) return;
  const size_t first = seq - head_seq_;
  Slot& slot = slots_[first];
  CW_ASSERT(!slot.done && first + slot.run <= slots_.size(),
            "a slot completes once, its run in slots_");
  for (size_t i = 1; i < slot.run; ++i) {
    slots_[first + i].done = true;
    slots_[first + i].reply = reply;
  }
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
