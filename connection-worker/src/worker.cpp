#include "worker.hpp"

#include <unistd.h>

#include "wa/ipc/addresses.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/ipc/messages.hpp"
#include "wa/log.hpp"

namespace wa::connection {

namespace msg = ipc::msg;

Worker::Worker(uv_loop_t* loop, std::string profile, std::string link_url)
    : loop_(loop), profile_(std::move(profile)), link_url_(std::move(link_url)), bridge_(loop) {}

Worker::~Worker() = default;

Status Worker::start() {
  auto link = ipc::PairLink::dial(bridge_, link_url_, [this](Bytes b) { on_link(std::move(b)); });
  if (!link) return Unexpected<Error>{link.error()};
  link_ = std::move(*link);
  to_supervisor({{msg::kType, msg::kHello}, {"pid", ::getpid()}});
  return {};
}

void Worker::shutdown() {
  if (senders_) senders_->fail_all("instance_down", "the connection worker is stopping");
  senders_.reset();
  link_.reset();
  bridge_.close();
  uv_stop(loop_);
}

void Worker::to_supervisor(const json& m) {
  if (link_) link_->send(ipc::to_cbor(m));
}

void Worker::on_link(Bytes body) {
  auto m = ipc::from_cbor(body);
  if (!m || !m->is_object() || !(*m)[msg::kType].is_string()) {
    WA_WARN("malformed message from the supervisor");
    return;
  }
  const std::string t = (*m)[msg::kType].get<std::string>();
  if (t == msg::kInit) {
    on_init(*m);
  } else if (t == msg::kRequest) {
    on_request(*m);
  } else if (!senders_) {
    return;
  } else if (t == msg::kSenderStarted) {
    senders_->on_sender_started(m->value("conversation", ""), m->value("pid", 0));
  } else if (t == msg::kSenderRefused) {
    senders_->on_sender_refused(m->value("conversation", ""), m->value("code", ""), m->value("message", ""));
  } else if (t == msg::kSenderExited) {
    bool abnormal = m->value("signal", 0) != 0 || m->value("exit_code", 0) != 0;
    senders_->on_sender_exited(m->value("conversation", ""), m->value("pid", 0), abnormal);
  }
}

void Worker::on_init(const json& m) {
  if (senders_) return;
  settings_ = m.value("settings", json::object());
  const json& s = settings_.value("senders", json::object());
  int max = s.value("max_per_instance", 8);
  int idle = s.value("idle_ms", 60000);
  std::string dir = m.value("instance_dir", "");
  SenderPool::Hooks hooks{
      [this](const std::string& conv) {
        to_supervisor({{msg::kType, msg::kSpawnSender}, {"conversation", conv}});
      },
      [this](const json& q, std::function<void(json)> reply) { answer_query(q, std::move(reply)); }};
  senders_ = std::make_unique<SenderPool>(loop_, bridge_, max, idle, std::move(hooks));
  ::unlink((dir + "/senders.ipc").c_str());
  if (auto st = senders_->listen(ipc::senders_url(dir)); !st) {
    WA_ERROR("cannot serve senders: %s", st.error().message.c_str());
    std::exit(1);
  }
  to_supervisor({{msg::kType, msg::kReady}});
}

void Worker::on_request(const json& m) {
  uint64_t rid = m.value("rid", uint64_t{0});
  auto reply = [this, rid](json r) { to_supervisor({{msg::kType, msg::kReply}, {"rid", rid}, {"reply", r}}); };
  std::string cmd = m.value("cmd", "");
  if (!senders_) {
    reply(ipc::error_reply("instance_down", "the connection worker is not initialised"));
    return;
  }
  if (cmd == "send_text") {
    json payload{{"kind", "text"}, {"to", m.value("to", "")}, {"text", m.value("text", "")}};
    if (m.contains("quoted_id")) payload["quoted_id"] = m["quoted_id"];
    std::string conv = payload["to"].get<std::string>();
    senders_->submit(conv, std::move(payload), reply);
    return;
  }
  reply(ipc::error_reply("unknown_command", "the connection worker does not know '" + cmd + "'"));
}

void Worker::answer_query(const json& q, std::function<void(json)> reply) {
  (void)q;
  if (!connected_) {
    reply({{msg::kOp, msg::kError}, {"code", "not_connected"}, {"message", "the account is not connected"}});
    return;
  }
  reply({{msg::kOp, msg::kError}, {"code", "unsupported"}, {"message", "query not supported"}});
}

}  // namespace wa::connection
