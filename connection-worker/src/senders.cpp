#include "senders.hpp"

#include <algorithm>
#include <utility>

#include "wa/ipc/codec.hpp"
#include "wa/ipc/messages.hpp"
#include "wa/log.hpp"

namespace wa::connection {

namespace msg = ipc::msg;

SenderPool::SenderPool(uv_loop_t* loop, ipc::LoopBridge& bridge, int max_senders, int idle_ms, Hooks hooks)
    : loop_(loop), bridge_(bridge), max_(max_senders), idle_ms_(idle_ms), hooks_(std::move(hooks)) {}

SenderPool::~SenderPool() { fail_all("instance_down", "the connection worker is stopping"); }

Status SenderPool::listen(const std::string& url) {
  auto sock = ipc::open_socket(ipc::Protocol::rep);
  if (!sock) return Unexpected<Error>{sock.error()};
  (void)ipc::set_size(*sock, NNG_OPT_RECVMAXSZ, 4u << 20);
  auto srv = ipc::RepServer::listen(bridge_, std::move(*sock), url,
                                    [this](std::shared_ptr<ipc::PendingRequest> r) { on_request(std::move(r)); });
  if (!srv) return Unexpected<Error>{srv.error()};
  server_ = std::move(*srv);
  return {};
}

void SenderPool::tell(const std::shared_ptr<ipc::PendingRequest>& req, const json& m) {
  auto bytes = ipc::to_cbor(m);
  req->reply(bytes);
}

void SenderPool::await_sender(const std::string& name, Conversation& c) {
  if (silence_ms_ == 0 || !hooks_.kill_sender) return;
  if (!c.silence) c.silence = std::make_unique<ipc::Timer>(loop_);
  c.silence->start(silence_ms_, [this, name] {
    auto it = convs_.find(name);
    if (it == convs_.end() || it->second.pid == 0) return;
    // Stopped, deadlocked or spinning: it holds a slot and maybe a job
    // forever. Killed, it is a crashed sender (sender_crashed, slot freed).
    WA_WARN("a sender (pid %d) did not come back for %llu ms: asking for its kill", it->second.pid,
            static_cast<unsigned long long>(silence_ms_));
    hooks_.kill_sender(name, it->second.pid);
  });
}

void SenderPool::submit(std::string conversation, json payload, std::function<void(json)> done) {
  Job job{next_job_++, conversation, std::move(payload), std::move(done)};
  convs_[conversation].queue.push_back(std::move(job));
  if (queue_timeout_ms_ > 0 && !expiry_) {
    expiry_ = std::make_unique<ipc::Timer>(loop_);
    expiry_->start_repeat(std::clamp<uint64_t>(queue_timeout_ms_ / 4, 10, 1000), [this] { expire_queued(); });
  }
  pump(conversation);
}

void SenderPool::expire_queued() {
  const auto limit = std::chrono::milliseconds(queue_timeout_ms_);
  const auto now = std::chrono::steady_clock::now();
  const json reply = ipc::error_reply(
      "timeout", "not sent: no sender took it within " + std::to_string(queue_timeout_ms_) + " ms (senders.queue_timeout_ms)");
  for (auto it = convs_.begin(); it != convs_.end();) {
    Conversation& c = it->second;
    // The queue is in arrival order: only a prefix can be late.
    while (!c.queue.empty() && now - c.queue.front().queued_at >= limit) {
      Job j = std::move(c.queue.front());
      c.queue.pop_front();
      j.done(reply);
    }
    if (c.state == SenderState::none && c.queue.empty() && !c.in_flight) {
      it = convs_.erase(it);
    } else {
      ++it;
    }
  }
}

bool SenderPool::submit_retry(const std::string& conversation, const std::string& message_id,
                              const std::string& device, std::vector<uint8_t> receipt) {
  constexpr size_t kRetryMemory = 4096;
  const std::string key = message_id + "|" + device;
  auto [it, fresh] = retry_rounds_.try_emplace(key, 0);
  if (++it->second > kMaxRetryRounds) {
    WA_WARN("retry receipt ignored: %d rounds already answered", kMaxRetryRounds);
    return false;
  }
  if (fresh) {
    retry_order_.push_back(key);
    if (retry_order_.size() > kRetryMemory) {
      retry_rounds_.erase(retry_order_.front());
      retry_order_.pop_front();
    }
  }
  json payload{{"kind", "retry"}, {"receipt", json::binary(std::move(receipt))}};
  submit(conversation, std::move(payload), [](json reply) {
    if (reply.value("ok", false)) {
      WA_INFO("retry receipt answered with a re-send");
    } else {
      WA_WARN("retry receipt not answered: %s", reply.value("error", json::object()).value("code", "").c_str());
    }
  });
  return true;
}

void SenderPool::want_sender(const std::string& name, Conversation& c) {
  if (c.state != SenderState::none) return;
  if (live_ < static_cast<size_t>(max_)) {
    c.state = SenderState::requested;
    ++live_;
    hooks_.request_sender(name);
    return;
  }
  if (std::find(waiting_for_slot_.begin(), waiting_for_slot_.end(), name) == waiting_for_slot_.end())
    waiting_for_slot_.push_back(name);
  // At the cap, an idle sender gives its slot to a waiting conversation.
  for (auto& [other, oc] : convs_) {
    if (oc.state == SenderState::alive && oc.waiting && oc.queue.empty() && !oc.in_flight) {
      oc.state = SenderState::exiting;
      if (oc.idle) oc.idle->stop();
      tell(std::exchange(oc.waiting, nullptr), {{msg::kOp, msg::kExit}});
      await_sender(other, oc);
      break;
    }
  }
}

void SenderPool::pump(const std::string& name) {
  auto it = convs_.find(name);
  if (it == convs_.end()) return;
  Conversation& c = it->second;
  if (c.state == SenderState::none && (!c.queue.empty() || c.in_flight)) {
    want_sender(name, c);
    return;
  }
  if (c.state != SenderState::alive || !c.waiting) return;
  if (!c.in_flight && !c.queue.empty()) {
    c.in_flight = std::move(c.queue.front());
    c.queue.pop_front();
    if (c.idle) c.idle->stop();
    tell(std::exchange(c.waiting, nullptr),
         {{msg::kOp, msg::kJob}, {"job", c.in_flight->id}, {"payload", c.in_flight->payload}});
    await_sender(name, c);
    return;
  }
  if (c.in_flight) return;
  // Nothing to do: give the slot away if someone waits, else idle out.
  if (!waiting_for_slot_.empty()) {
    c.state = SenderState::exiting;
    tell(std::exchange(c.waiting, nullptr), {{msg::kOp, msg::kExit}});
    await_sender(name, c);
    return;
  }
  if (!c.idle) c.idle = std::make_unique<ipc::Timer>(loop_);
  c.idle->start(static_cast<uint64_t>(idle_ms_), [this, name] {
    auto i = convs_.find(name);
    if (i == convs_.end()) return;
    Conversation& cc = i->second;
    if (cc.state == SenderState::alive && cc.waiting && cc.queue.empty() && !cc.in_flight) {
      cc.state = SenderState::exiting;
      tell(std::exchange(cc.waiting, nullptr), {{msg::kOp, msg::kExit}});
      await_sender(name, cc);
    }
  });
}

void SenderPool::on_request(std::shared_ptr<ipc::PendingRequest> req) {
  auto m = ipc::link::decode_from_sender(req->body());
  if (!m) {
    tell(req, {{msg::kOp, msg::kError}, {"code", "bad_message"}, {"message", m.error().message}});
    return;
  }
  const std::string& op = m->op;
  const std::string name = m->conversation;
  auto it = convs_.find(name);
  if (it == convs_.end() || it->second.state == SenderState::none) {
    // A sender we did not ask for (or already written off): send it away.
    tell(req, {{msg::kOp, msg::kExit}});
    return;
  }
  Conversation& c = it->second;
  // Its sender came back: the ball is on our side until we answer.
  c.heard = true;
  if (c.silence) c.silence->stop();
  if (op == msg::kQuery) {
    hooks_.query(*m, [this, req, name, pid = c.pid](json answer) {
      tell(req, answer);
      auto i = convs_.find(name);
      if (i != convs_.end() && i->second.pid == pid && i->second.state != SenderState::none)
        await_sender(name, i->second);
    });
    return;
  }
  if (op == msg::kDone) {
    std::optional<Job> j;
    if (c.in_flight && c.in_flight->id == m->job) j = std::exchange(c.in_flight, std::nullopt);
    if (m->relay) {
      // The job's message leaves now and its ack answers the job (and
      // issues a due token). Only a job still in flight may send anything:
      // one already answered (failed when the connection went) keeps its
      // stanza and its token unsent.
      if (j && hooks_.relay)
        hooks_.relay(*m, std::move(j->done));
      else if (j)
        j->done(ipc::error_reply("send_failed", "nobody here relays a sender's message"));
    } else {
      // A send that left without its ack names the message: the client can
      // look for it instead of sending again.
      if (j)
        j->done(m->ok ? ipc::ok_reply(m->result)
                      : ipc::error_reply(m->code, m->message, m->id.empty() ? json() : json{{"id", m->id}}));
      if (!m->issue_token.empty() && hooks_.issue_token) hooks_.issue_token(m->issue_token);
    }
  } else if (op != msg::kNext) {
    tell(req, {{msg::kOp, msg::kError}, {"code", "bad_message"}, {"message", "unknown op"}});
    return;
  }
  // "next" and "done" both park the sender until there is work for it.
  if (c.state == SenderState::requested) {
    c.state = SenderState::alive;  // its hello raced the supervisor's notice
    c.pid = static_cast<pid_t>(m->pid);
  }
  if (c.state != SenderState::alive) {
    tell(req, {{msg::kOp, msg::kExit}});
    await_sender(name, c);
    return;
  }
  c.waiting = std::move(req);
  pump(name);
}

void SenderPool::on_sender_started(const std::string& conversation, pid_t pid) {
  auto it = convs_.find(conversation);
  if (it == convs_.end()) return;
  if (it->second.state == SenderState::requested) it->second.state = SenderState::alive;
  it->second.pid = pid;
  // Forked: it owes us its first `next` (unless that raced ahead of this notice).
  if (!it->second.heard) await_sender(conversation, it->second);
}

void SenderPool::release_slot() {
  if (live_ > 0) --live_;
  while (!waiting_for_slot_.empty() && live_ < static_cast<size_t>(max_)) {
    std::string next = waiting_for_slot_.front();
    waiting_for_slot_.pop_front();
    auto it = convs_.find(next);
    if (it != convs_.end() && it->second.state == SenderState::none &&
        (!it->second.queue.empty() || it->second.in_flight))
      want_sender(next, it->second);
  }
}

void SenderPool::fail_queue(Conversation& c, const std::string& code, const std::string& message) {
  json reply = ipc::error_reply(code, message);
  if (c.in_flight) {
    auto j = std::move(*c.in_flight);
    c.in_flight.reset();
    j.done(reply);
  }
  auto q = std::exchange(c.queue, {});
  for (auto& j : q) j.done(reply);
}

void SenderPool::on_sender_refused(const std::string& conversation, const std::string& code,
                                   const std::string& message) {
  auto it = convs_.find(conversation);
  if (it == convs_.end()) return;
  Conversation& c = it->second;
  if (c.state != SenderState::requested) return;
  c.state = SenderState::none;
  if (live_ > 0) --live_;
  if (code == "sender_cap") {
    waiting_for_slot_.push_back(conversation);
    return;
  }
  WA_WARN("no sender for a conversation: %s", message.c_str());
  fail_queue(c, code == "instance_down" ? "instance_down" : "sender_failed", message);
  convs_.erase(it);
}

void SenderPool::on_sender_exited(const std::string& conversation, pid_t pid, bool abnormal) {
  auto it = convs_.find(conversation);
  if (it == convs_.end()) return;
  Conversation& c = it->second;
  if (c.pid != 0 && pid != 0 && c.pid != pid) return;  // an older sender of this conversation
  c.state = SenderState::none;
  c.pid = 0;
  c.heard = false;
  c.waiting.reset();
  if (c.idle) c.idle->stop();
  if (c.silence) c.silence->stop();
  if (c.in_flight || abnormal) {
    // The sender died mid-pipeline (or crashed): nothing it held can be
    // trusted, so every send of this conversation fails now, not later.
    if (abnormal || c.in_flight) fail_queue(c, "sender_crashed", "the sender process died");
  }
  bool more = !c.queue.empty();
  if (!more) convs_.erase(it);
  release_slot();
  if (more) pump(conversation);
}

void SenderPool::fail_all(const std::string& code, const std::string& message) {
  for (auto& [name, c] : convs_) {
    fail_queue(c, code, message);
    if (c.waiting) tell(std::exchange(c.waiting, nullptr), {{msg::kOp, msg::kExit}});
  }
  waiting_for_slot_.clear();
}

}  // namespace wa::connection
