// Connection: one RESP2 client connection on the node's loop (docs/design.md, "RESP gateway").
//
// One connection is one causal session (ClientState). Reads feed the parser; every complete
// command the buffer holds is parsed (up to kRespPipelineInFlightMax pending commands) and then
// dispatched in order (pipelining), except that a command touching a key that an earlier
// command still in flight touches waits for it -- and so does every command after it, so each
// command sees the effects of the ones before it, as in Redis. Reads of one key wait behind
// reads of it too: two concurrent reads could return versions out of order (monotonic reads).
//
// Absorption (docs/design.md, "Write and read absorption"): when the command at the head of the
// queue is dispatched, the run of ADJACENT commands after it that are the same absorbable
// command on the same key (AbsorbableAs: plain `SET k v`, or `GET k`) is dispatched with it as
// ONE command: a run of SETs writes the last value once, a run of GETs reads once; every
// command of the run gets the reply of that one write or read (+OK, the value, or the error),
// each in its own place. Anything else (options, MSET, DEL, MGET, another key or command in
// between) ends a run. Since everything the buffer holds is parsed before dispatching, a
// pipeline of N SETs of one key that arrives in one read is one write.
//
// Replies are put back in command order and coalesced: all the replies ready in one event-loop
// turn go out in one write (kj::evalLast). While kRespPipelineInFlightMax commands are pending
// (parsed, in flight or answered but not yet written out) or kRespOutputBytesMax of replies wait
// for the socket, nothing more is parsed or read (back-pressure); nothing is read either while
// a parsed command waits, so the parsed commands are at most what one buffer held.
//
// A protocol error is answered "-ERR Protocol error: ..." after the replies to the commands
// before it, then the connection closes (after dropping what the client still sends, bounded,
// so that the kernel does not reset the connection before the client read the error); QUIT
// closes after its +OK, and the commands parsed after it are dropped. EOF or a failed write
// closes at once: the commands in flight are cancelled (their promises destroyed; the node
// finishes or times out what it started, and nobody else notices). A password set, the parser
// runs with the pre-AUTH limits until AUTH succeeds, and parses one command at a time until
// then (AUTH lifts the limits for the commands after it).
//
// Loop-thread only. `on_close` is called once, when the connection wants to be destroyed; the
// owner destroys it in a later turn, never from inside its callbacks.
#pragma once

#include <kj/async-io.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "rpc/resp/commands.h"
#include "rpc/resp/parser.h"

namespace causeway::rpc::resp {

class Connection final : private kj::TaskSet::ErrorHandler {
 public:
  // `view` is borrowed and outlives the connection.
  Connection(const GatewayView& view, kj::Own<kj::AsyncIoStream> stream, uint64_t id,
             std::function<void(uint64_t id)> on_close);
  ~Connection();

  // Starts reading. With a non-empty `refusal` the connection only answers it and closes (the
  // node's connection limit).
  void Start(const std::string& refusal = {});
  // Nothing in flight, no reply waiting and nothing read for `idle_ms`.
  bool Idle(uint64_t now_ms, uint64_t idle_ms) const;
  uint64_t id() const { return client_.id; }

 private:
  // A parsed command not yet dispatched.
  struct Parsed {
    Args args;
    std::vector<std::string> keys;
    Absorbable absorbable = Absorbable::kNone;
  };
  // A dispatched command. A run dispatched as one has its keys and `run` in its first slot.
  struct Slot {
    bool done = false;
    std::string reply;
    size_t run = 1;                 // commands answered by this slot's command (absorption)
    std::vector<std::string> keys;  // held busy until done
  };

  void taskFailed(kj::Exception&& exception) override;
  void AfterCommand();
  void ReadMore();
  void OnRead(size_t n);
  void Pump();
  bool ParseAhead();
  bool DispatchReady();
  bool Blocked() const;
  void DispatchHead();
  void Complete(uint64_t seq, std::string reply);
  void Emit(std::string_view reply);
  void ScheduleFlush();
  void Flush();
  void Drain(size_t dropped);
  void Close();

  const GatewayView& view_;
  kj::Own<kj::AsyncIoStream> stream_;
  std::function<void(uint64_t)> on_close_;
  ClientState client_;
  Parser parser_;
  kj::Array<kj::byte> read_buf_;
  bool reading_ = false;
  bool closing_ = false;            // Close() called: nothing more happens
  bool close_after_flush_ = false;  // QUIT or a protocol error: close once the replies are out
  bool limits_lifted_ = false;      // the parser runs with the full limits (authenticated)
  bool eof_ = false;
  bool draining_ = false;  // replies out, write side shut: reading input only to drop it

  std::deque<Parsed> parsed_;  // in order; parsed_[0] is command head_seq_ + slots_.size()
  std::string parse_error_;    // the parser failed after parsed_: answered once they are out

  std::deque<Slot> slots_;  // slots_[0] is command head_seq_
  uint64_t head_seq_ = 0;
  std::unordered_map<std::string, size_t> busy_keys_;  // key -> pending commands touching it

  std::string out_;      // replies in order, not yet written
  std::string sending_;  // the write in progress
  bool writing_ = false;
  bool flush_scheduled_ = false;

  kj::TaskSet tasks_;  // declared last: destroyed (cancelling everything) first
};

}  // namespace causeway::rpc::resp
