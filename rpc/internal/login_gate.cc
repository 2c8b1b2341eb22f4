#include "rpc/internal/login_gate.h"

#include "base/limits.h"

namespace causeway::rpc {

struct LoginGate::Work {
  uv_work_t req{};
  LoginGate* gate = nullptr;
  std::shared_ptr<const Users> users;
  std::string name;
  std::string password;
  Result<Role> result = Status::Internal("login not run");
  kj::Own<kj::PromiseFulfiller<Result<Role>>> fulfiller;
};

LoginGate::LoginGate(uv_loop_t* loop, std::shared_ptr<const Users> users)
    : loop_(loop), users_(std::move(users)) {}

LoginGate::~LoginGate() {
  Close();
  WaitIdle();
}

kj::Promise<Result<Role>> LoginGate::Authenticate(std::string name, std::string password) {
  if (closed_) return Result<Role>(Status::Unavailable("the node is stopping"));
  if (queue_.size() >= kLoginQueueMax) {
    return Result<Role>(Status::Overloaded("too many logins in progress; retry shortly"));
  }
  auto paf = kj::newPromiseAndFulfiller<Result<Role>>();
  auto work = std::make_unique<Work>();
  work->gate = this;
  work->users = users_;
  work->name = std::move(name);
  work->password = std::move(password);
  work->fulfiller = kj::mv(paf.fulfiller);
  queue_.push_back(std::move(work));
  StartQueued();
  return kj::mv(paf.promise);
}

void LoginGate::StartQueued() {
  while (!closed_ && in_flight_ < kLoginKdfInFlightMax && !queue_.empty()) {
    Work* w = queue_.front().release();
    queue_.pop_front();
    w->req.data = w;
    ++in_flight_;
    uv_queue_work(
        loop_, &w->req,
        [](uv_work_t* req) {
          auto* w = static_cast<Work*>(req->data);
          w->result = w->users->Authenticate(w->name, w->password);
        },
        [](uv_work_t* req, int /*status*/) {
          std::unique_ptr<Work> w(static_cast<Work*>(req->data));
          LoginGate* gate = w->gate;
          --gate->in_flight_;
          if (!gate->closed_) w->fulfiller->fulfill(std::move(w->result));
          gate->StartQueued();
        });
  }
}

void LoginGate::Close() {
  closed_ = true;
  queue_.clear();
}

void LoginGate::WaitIdle() {
  while (in_flight_ > 0) uv_run(loop_, UV_RUN_ONCE);
}

}  // namespace causeway::rpc
