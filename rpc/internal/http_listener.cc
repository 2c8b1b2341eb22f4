#include "rpc/internal/http_listener.h"

#include <kj/compat/http.h>
#include <spdlog/spdlog.h>

#include "base/limits.h"

namespace causeway::rpc {
namespace {

class Service final : public kj::HttpService {
 public:
  Service(const kj::HttpHeaderTable& table, HttpListener::Handler handler)
      : table_(table), handler_(std::move(handler)) {}

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url, const kj::HttpHeaders&,
                            kj::AsyncInputStream&, Response& response) override {
    HttpResponse r;
    if (method != kj::HttpMethod::GET && method != kj::HttpMethod::HEAD) {
      r.status = 405;
      r.body = "only GET and HEAD\n";
    } else {
      std::string_view path(url.cStr(), url.size());
      path = path.substr(0, path.find('?'));
      r = handler_(path);
    }
    kj::HttpHeaders headers(table_);
    headers.set(kj::HttpHeaderId::CONTENT_TYPE, kj::heapString(r.content_type));
    auto body = kj::heap<std::string>(std::move(r.body));
    auto stream = response.send(r.status, StatusText(r.status), headers, body->size());
    if (method == kj::HttpMethod::HEAD || body->empty()) return kj::READY_NOW;
    auto write = stream->write(body->data(), body->size());
    return write.attach(kj::mv(stream), kj::mv(body));
  }

 private:
  static kj::StringPtr StatusText(unsigned status) {
    switch (status) {
      case 200:
        return "OK";
      case 404:
        return "Not Found";
      case 405:
        return "Method Not Allowed";
      case 503:
        return "Service Unavailable";
      default:
        return "Error";
    }
  }
  const kj::HttpHeaderTable& table_;
  HttpListener::Handler handler_;
};

class LogErrors final : public kj::TaskSet::ErrorHandler {
 public:
  explicit LogErrors(spdlog::logger* log) : log_(log) {}
  void taskFailed(kj::Exception&& e) override {
    log_->debug("event=http_connection_failed error=\"{}\"", e.getDescription().cStr());
  }

 private:
  spdlog::logger* log_;
};

}  // namespace

struct HttpListener::Impl {
  kj::Timer& timer;
  spdlog::logger* log;
  kj::HttpHeaderTable table;
  Service service;
  kj::HttpServer server;
  kj::Own<kj::ConnectionReceiver> receiver;
  LogErrors errors;
  kj::Own<kj::TaskSet> tasks;
  kj::Promise<void> accept_loop = nullptr;
  size_t open = 0;

  Impl(kj::LowLevelAsyncIoProvider& io, kj::Timer& t, int fd, Handler handler, spdlog::logger* l)
      : timer(t),
        log(l),
        service(table, std::move(handler)),
        server(t, table, service),
        receiver(io.wrapListenSocketFd(fd,
                                       kj::LowLevelAsyncIoProvider::NetworkFilter::getAllAllowed(),
                                       kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                                           kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                                           kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK)),
        errors(l),
        tasks(kj::heap<kj::TaskSet>(errors)) {}

  kj::Promise<void> AcceptLoop() {
    return receiver->accept().then(
        [this](kj::Own<kj::AsyncIoStream> stream) {
          if (open >= kHttpConnectionsMax) {
            log->warn("event=http_connection_refused reason=too_many_connections max={}",
                      kHttpConnectionsMax);
          } else {
            ++open;
            tasks->add(server.listenHttp(kj::mv(stream)).attach(kj::defer([this] { --open; })));
          }
          return AcceptLoop();
        },
        [this](kj::Exception&& e) {
          log->warn("event=http_accept_failed error=\"{}\"", e.getDescription().cStr());
          return timer.afterDelay(100 * kj::MILLISECONDS).then([this] { return AcceptLoop(); });
        });
  }
};

HttpListener::HttpListener(kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, int listen_fd,
                           Handler handler, spdlog::logger* log)
    : impl_(std::make_unique<Impl>(io, timer, listen_fd, std::move(handler), log)) {
  impl_->accept_loop = impl_->AcceptLoop().eagerlyEvaluate(nullptr);
}

HttpListener::~HttpListener() { Close(); }

void HttpListener::Close() {
  if (!impl_) return;
  impl_->accept_loop = nullptr;
  impl_->receiver = nullptr;
  impl_->tasks = nullptr;
  impl_.reset();
}

}  // namespace causeway::rpc
