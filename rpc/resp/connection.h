// Connection: one RESP2 client connection on the node's loop (docs/design.md, "RESP gateway").
//
// One connection is one causal session (ClientState). Reads feed the parser; every complete
// command found is dispatched at once, in order (pipelining), except that a command touching a
// key that an earlier command still in flight touches waits for it -- and so does every command
// after it, so each command sees the effects of the ones before it, as in Redis. Replies are put
// back in command order and coalesced: all the replies ready in one event-loop turn go out in
// one write (kj::evalLast). While more than kRespPipelineInFlightMax commands are pending or
// kRespOutputBytesMax of replies wait for the socket, nothing more is read (back-pressure).
//
// A protocol error is answered "-ERR Protocol error: ..." after the replies before it, then the
// connection closes (after dropping what the client still sends, bounded, so that the kernel
// does not reset the connection before the client read the error); QUIT closes after its +OK. EOF
// or a failed write closes at once: the commands in flight are cancelled (their promises destroyed;
// the node finishes or times out what it started, and nobody else notices). A password set, the
// parser runs with the pre-AUTH limits until AUTH succeeds.
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
  struct Slot {
    bool done = false;
    std::string reply;
    std::vector<std::string> keys;  // held busy until done
  };

  void taskFailed(kj::Exception&& exception) override;
  void ReadMore();
  void OnRead(size_t n);
  void Pump();
  bool Blocked() const;
  void Dispatch();
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
  bool eof_ = false;
  bool draining_ = false;  // replies out, write side shut: reading input only to drop it

  // Parsed, not yet dispatched (waiting for a busy key).
  bool have_next_ = false;
  Args next_;
  std::vector<std::string> next_keys_;

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
