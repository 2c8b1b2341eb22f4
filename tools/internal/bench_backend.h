// How `causeway bench` talks to a store: natively (Cap'n Proto through causeway::Client) or
// over RESP2 (hiredis), so that one driver measures Causeway's RESP gateway and `redis-server`
// alike. A backend is one bench thread's connections and event loop.
//
// Not thread-safe: a backend belongs to the thread that made it (a Client owns its thread's KJ
// event loop; a RESP backend owns a libuv loop), so each bench thread makes its own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "rpc/client.h"

namespace causeway::tools {

struct BenchReply {
  Status status;
  bool found = false;  // reads: the key had a value
};
using BenchDone = std::function<void(const BenchReply&)>;

class BenchBackend {
 public:
  virtual ~BenchBackend() = default;
  // Start an operation; `done` runs on this thread, inside Wait() or WaitFor().
  virtual void StartRead(const std::string& key, BenchDone done) = 0;
  virtual void StartWrite(const std::string& key, const std::string& value, BenchDone done) = 0;
  virtual void StartPing(BenchDone done) = 0;
  // Runs the event loop until every started operation has finished.
  virtual void Wait() = 0;
  // Runs the event loop for `timeout_us`, finished or not.
  virtual void WaitFor(uint64_t timeout_us) = 0;
};

// Native: one Client over `options.endpoints` with options.connections connections.
// `sessions`: carry one session across calls (else each call starts a new one).
std::unique_ptr<BenchBackend> MakeNativeBackend(ClientOptions options, CallOptions read,
                                                CallOptions write, bool sessions);

// RESP2: `connections` hiredis connections spread round-robin over `endpoints` (host:port),
// each sent AUTH `password` first if it is not empty. Connects before returning.
Result<std::unique_ptr<BenchBackend>> MakeRespBackend(const std::vector<std::string>& endpoints,
                                                      int connections, const std::string& password,
                                                      uint64_t timeout_ms);

}  // namespace causeway::tools
