// HttpListener: the node's internal HTTP endpoint (`serve --http-listen`, loopback by default) on
// the node's own event loop, with kj-http. It serves what `handler` answers for a GET or HEAD of
// a path (the query string is ignored); other methods get 405. The server wires /metrics,
// /livez and /readyz (rpc/server.cc; docs/operations.md, "Metrics and health").
//
// At most kHttpConnectionsMax connections are open; beyond that a new one is closed at once.
// kj-http's own header and pipeline timeouts bound a slow or idle client.
//
// Loop-thread only. Destroy before the KJ event loop.
#pragma once

#include <kj/async-io.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
}

namespace causeway::rpc {

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpListener {
 public:
  using Handler = std::function<HttpResponse(std::string_view path)>;

  // Takes ownership of `listen_fd` (bound, listening, non-blocking).
  HttpListener(kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, int listen_fd, Handler handler,
               spdlog::logger* log);
  ~HttpListener();

  // Stops accepting and closes open connections (teardown).
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace causeway::rpc
