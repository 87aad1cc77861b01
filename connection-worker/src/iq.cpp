#include "iq.hpp"

#include "wa/crypto/crypto.hpp"

namespace wa::connection {

IqTracker::IqTracker(uv_loop_t* loop) : loop_(loop) { reset_prefix(); }

IqTracker::~IqTracker() { fail_all(Error{"not_connected", "the connection is gone"}); }

void IqTracker::reset_prefix() {
  uint8_t r[4];
  crypto::random_bytes(r);
  unsigned a = (unsigned{r[0]} << 8) | r[1];
  unsigned b = (unsigned{r[2]} << 8) | r[3];
  prefix_ = std::to_string(a) + "." + std::to_string(b) + "-";
  counter_ = 0;
}

std::string IqTracker::next_id() { return prefix_ + std::to_string(++counter_); }

void IqTracker::expect(const std::string& id, uint64_t timeout_ms, Handler handler, bool raw_errors) {
  Waiter w{std::move(handler), raw_errors, std::make_unique<ipc::Timer>(loop_)};
  w.timer->start(timeout_ms, [this, id] { finish(id, fail("timeout", "no answer from the server in time")); });
  auto [it, inserted] = waiters_.insert_or_assign(id, std::move(w));
  (void)it;
  (void)inserted;
}

bool IqTracker::resolve(const binary::Node& node) {
  if (node.tag != "iq" && node.tag != "ack") return false;
  auto id = node.attr("id");
  if (!id) return false;
  auto it = waiters_.find(std::string(*id));
  if (it == waiters_.end()) return false;
  std::string key = it->first;
  if (node.tag == "ack" && node.has_attr("error")) {
    finish(key, fail("rejected:" + std::string(node.attr_or("error", "")), "the server refused the stanza"));
    return true;
  }
  if (node.tag == "iq" && node.attr_or("type", "") == "error" && !it->second.raw_errors) {
    std::string code = "unknown", text;
    if (const binary::Node* e = node.child("error")) {
      code = std::string(e->attr_or("code", "unknown"));
      text = std::string(e->attr_or("text", ""));
    }
    finish(key, fail("rejected:" + code, text.empty() ? "the server refused the request" : text));
    return true;
  }
  std::string_view type = node.attr_or("type", "");
  if (node.tag == "iq" && type != "result" && type != "error") return false;  // a request reusing the id
  finish(key, node);
  return true;
}

void IqTracker::finish(const std::string& id, Result<binary::Node> r) {
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  Waiter w = std::move(it->second);
  waiters_.erase(it);
  w.timer->stop();
  // The handler may start new requests or fail_all(): the waiter is already out.
  w.handler(std::move(r));
}

void IqTracker::fail_all(const Error& error) {
  auto all = std::exchange(waiters_, {});
  for (auto& [id, w] : all) {
    w.timer->stop();
    w.handler(Unexpected<Error>{error});
  }
}

}  // namespace wa::connection
