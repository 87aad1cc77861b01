#include "supervisor.hpp"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "control.hpp"
#include "wa/fs.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/child.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/log.hpp"

namespace wa::supervisor {

Supervisor::Supervisor(Config config) : config_(std::move(config)), bin_dir_(ipc::self_dir()) {
  uv_loop_init(&loop_);
}

Supervisor::~Supervisor() {
  instances_.clear();
  control_.reset();
  events_.reset();
  if (bridge_) bridge_->close();
  // Let libuv finish closing every handle, then release the loop.
  uv_walk(&loop_, [](uv_handle_t* h, void*) {
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  }, nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

int Supervisor::run() {
  if (auto st = ipc::check_run_dir(config_.run_dir); !st) {
    WA_ERROR("%s", st.error().message.c_str());
    return 78;
  }
  for (const auto* dir : {&config_.run_dir, &config_.data_dir}) {
    if (auto st = fs::ensure_private_dir(*dir); !st) {
      WA_ERROR("%s", st.error().message.c_str());
      return 73;
    }
  }
  auto lock = fs::lock_file(config_.run_dir + "/supervisor.lock");
  if (!lock) {
    WA_ERROR("another wa-supervisor is using %s (%s)", config_.run_dir.c_str(), lock.error().message.c_str());
    return 75;
  }
  lock_fd_ = *lock;
  // Stale socket files from a supervisor that was killed: we hold the lock,
  // so nobody else can be serving them.
  ::unlink((config_.run_dir + "/control.ipc").c_str());
  ::unlink((config_.run_dir + "/events.ipc").c_str());

  bridge_ = std::make_unique<ipc::LoopBridge>(&loop_);
  auto pub = ipc::Publisher::listen(ipc::events_url(config_.run_dir));
  if (!pub) {
    WA_ERROR("%s", pub.error().message.c_str());
    return 71;
  }
  events_ = std::make_unique<EventBus>(std::move(*pub), config_.data_dir);

  auto sock = ipc::open_socket(ipc::Protocol::rep);
  if (!sock) {
    WA_ERROR("%s", sock.error().message.c_str());
    return 71;
  }
  // Requests a little over the application limit still reach us and get a
  // clear too_large; NNG drops anything larger with that client's pipe
  // (wactl refuses those before sending). A small limit keeps what one
  // oversized request can make us allocate small.
  (void)ipc::set_size(*sock, NNG_OPT_RECVMAXSZ, ipc::kControlTransportMax);
  auto control = ipc::RepServer::listen(*bridge_, std::move(*sock), ipc::control_url(config_.run_dir),
                                        [this](std::shared_ptr<ipc::PendingRequest> r) { on_request(std::move(r)); });
  if (!control) {
    WA_ERROR("%s", control.error().message.c_str());
    return 71;
  }
  control_ = std::move(*control);

  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  sigterm_.data = sigint_.data = this;
  auto on_signal = [](uv_signal_t* h, int signum) {
    auto* self = static_cast<Supervisor*>(h->data);
    WA_INFO("signal %d: shutting down", signum);
    self->begin_shutdown(nullptr);
  };
  uv_signal_start(&sigterm_, on_signal, SIGTERM);
  uv_signal_start(&sigint_, on_signal, SIGINT);

  for (const auto& ic : config_.instances) {
    Instance& inst = add_instance(ic.profile, ic.autostart);
    if (ic.autostart) {
      if (auto st = inst.start(); !st) WA_ERROR("[%s] %s", ic.profile.c_str(), st.error().message.c_str());
    }
  }
  WA_INFO("serving %s with %zu instances", config_.run_dir.c_str(), instances_.size());
  sd_notify(0, "READY=1");
  uv_run(&loop_, UV_RUN_DEFAULT);
  return 0;
}

Instance* Supervisor::find(const std::string& profile) {
  for (auto& i : instances_)
    if (i->profile() == profile) return i.get();
  return nullptr;
}

Instance& Supervisor::add_instance(const std::string& profile, bool autostart) {
  Environment env{&loop_, bridge_.get(), events_.get(), &config_, bin_dir_};
  instances_.push_back(std::make_unique<Instance>(env, profile, autostart));
  return *instances_.back();
}

void Supervisor::on_request(std::shared_ptr<ipc::PendingRequest> req) {
  auto reply = [req](json r) {
    std::string text = ipc::dump_json(r);
    req->reply(as_bytes(text));
  };
  if (req->body().size() > kMaxRequestBytes) {
    reply(ipc::error_reply("too_large", "request is larger than " + std::to_string(kMaxRequestBytes) + " bytes"));
    return;
  }
  auto parsed = ipc::parse_json_text(req->body());
  if (!parsed) {
    reply(ipc::error_reply(parsed.error().code, parsed.error().message));
    return;
  }
  dispatch(*parsed, reply, req);
}

void Supervisor::dispatch(const json& req, ReplyFn reply, std::shared_ptr<ipc::PendingRequest> pending) {
  auto cmd = validate_request(req);
  if (!cmd) {
    reply(ipc::error_reply(cmd.error().code, cmd.error().message));
    return;
  }
  const std::string& c = *cmd;
  if (c == "ping") {
    reply(ipc::ok_reply({{"pong", true}, {"pid", ::getpid()}}));
    return;
  }
  if (c == "status") {
    json list = json::array();
    std::string only = req.value("profile", "");
    for (auto& i : instances_)
      if (only.empty() || i->profile() == only) list.push_back(i->status());
    if (!only.empty() && list.empty()) {
      reply(ipc::error_reply("unknown_profile", "no profile '" + only + "'"));
      return;
    }
    reply(ipc::ok_reply({{"instances", list}}));
    return;
  }
  if (c == "shutdown") {
    begin_shutdown(std::move(pending));
    return;
  }
  if (shutting_down_) {
    reply(ipc::error_reply("shutting_down", "the supervisor is shutting down"));
    return;
  }
  const std::string profile = req["profile"].get<std::string>();
  Instance* inst = find(profile);
  if (inst == nullptr) {
    if (c == "start" && req.value("create", false)) {
      inst = &add_instance(profile, false);
    } else {
      reply(ipc::error_reply("unknown_profile", "no profile '" + profile + "'"));
      return;
    }
  }
  if (c == "events") {
    // Read from the log on disk: works whether or not the instance runs.
    auto r = events_->replay(profile, req["since"].get<int64_t>(), req.value("limit", size_t{500}));
    if (!r) {
      reply(ipc::error_reply(r.error().code, r.error().message));
    } else {
      reply(ipc::ok_reply(std::move(*r)));
    }
    return;
  }
  if (c == "start") {
    if (auto st = inst->start(); !st) {
      reply(ipc::error_reply(st.error().code, st.error().message));
    } else {
      reply(ipc::ok_reply(inst->status()));
    }
  } else if (c == "stop") {
    inst->stop([inst, reply] { reply(ipc::ok_reply(inst->status())); });
  } else if (c == "restart") {
    inst->stop([this, inst, reply] {
      if (shutting_down_) {
        reply(ipc::error_reply("shutting_down", "the supervisor is shutting down"));
        return;
      }
      if (auto st = inst->start(); !st) {
        reply(ipc::error_reply(st.error().code, st.error().message));
      } else {
        reply(ipc::ok_reply(inst->status()));
      }
    });
  } else if (c == "send_text") {
    json args{{"to", req["to"]}, {"text", req["text"]}};
    if (req.contains("quoted_id")) args["quoted_id"] = req["quoted_id"];
    if (req.contains("quoted_sender")) args["quoted_sender"] = req["quoted_sender"];
    inst->route("send_text", std::move(args), req.value("client_id", ""), reply);
  } else if (c == "pair_code") {
    // Phone-number pairing: the worker validates the digits and answers
    // with the code once the server has accepted it.
    inst->route("pair_code", json{{"phone", req["phone"]}}, "", reply);
  } else if (c == "group_create" || c == "group_info" || c == "group_add" || c == "group_remove" || c == "read" ||
             c == "typing") {
    // Validated above; the connection worker runs them on the account's socket.
    json args = req;
    args.erase("cmd");
    args.erase("profile");
    inst->route(c, std::move(args), "", reply);
  }
}

void Supervisor::begin_shutdown(std::shared_ptr<ipc::PendingRequest> pending) {
  if (pending) shutdown_waiters_.push_back(std::move(pending));
  if (shutting_down_) return;
  shutting_down_ = true;
  sd_notify(0, "STOPPING=1");
  auto remaining = std::make_shared<size_t>(instances_.size());
  if (*remaining == 0) {
    finish_shutdown();
    return;
  }
  for (auto& i : instances_) {
    i->stop([this, remaining] {
      if (--*remaining == 0) finish_shutdown();
    });
  }
}

void Supervisor::finish_shutdown() {
  WA_INFO("all instances stopped");
  auto waiters = std::exchange(shutdown_waiters_, {});
  if (waiters.empty()) {
    uv_stop(&loop_);
    return;
  }
  // Stop the loop only once every shutdown reply has left the socket.
  auto remaining = std::make_shared<size_t>(waiters.size());
  std::string text = ipc::dump_json(ipc::ok_reply({{"stopped", true}}));
  for (auto& w : waiters) {
    w->reply(as_bytes(text), [this, remaining] {
      if (--*remaining == 0) uv_stop(&loop_);
    });
  }
}

}  // namespace wa::supervisor
