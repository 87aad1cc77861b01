#include "deliverer.hpp"

#include <algorithm>
#include <chrono>

#include "delivery.hpp"
#include "wa/crypto_random.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/log.hpp"

namespace wa::webhooks {

using json = nlohmann::json;

namespace {

constexpr int kControlTimeoutMs = 15000;
// The supervisor did not answer (restarting, busy): not the receiver's
// failure, so not counted; tried again after this.
constexpr int64_t kControlRetryMs = 1000;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t seed() {
  uint64_t s = 0;
  for (char c : random_hex(8)) s = s * 31 + static_cast<unsigned char>(c);
  return s;
}

std::string error_code(const json& reply) {
  if (reply.value("ok", false)) return "";
  const json& e = reply.value("error", json::object());
  return e.is_object() ? e.value("code", "") : "";
}

}  // namespace

Deliverer::Deliverer(uv_loop_t* loop, ipc::LoopBridge& bridge, std::string run_dir, int scan_ms)
    : loop_(loop), bridge_(bridge), run_dir_(std::move(run_dir)), scan_ms_(scan_ms), rng_(seed()) {}

Deliverer::~Deliverer() {
  scan_timer_.reset();
  pairs_.clear();
  events_.reset();
  control_.reset();
  http_.reset();
}

Status Deliverer::start() {
  auto control = ipc::AsyncControlClient::connect(bridge_, ipc::control_url(run_dir_));
  if (!control) return Unexpected<Error>{control.error()};
  control_ = std::move(*control);
  // Every profile: an event is only the wake-up, the log is what is sent.
  auto sub = ipc::AsyncEventSubscriber::connect(bridge_, ipc::events_url(run_dir_), "",
                                                [this](const std::string& profile, json event) {
                                                  on_event(profile, event);
                                                });
  if (!sub) return Unexpected<Error>{sub.error()};
  events_ = std::move(*sub);
  http_ = std::make_unique<HttpClient>(loop_);
  // The periodic scan finds new and deleted webhooks, resumed pairs, and
  // events whose wake-up the PUB socket dropped.
  scan_timer_ = std::make_unique<ipc::Timer>(loop_);
  scan_timer_->start_repeat(static_cast<uint64_t>(scan_ms_), [this] { scan(); });
  scan();
  return {};
}

void Deliverer::leave_sockets_to_exit() {
  if (control_) control_->leave_socket_to_exit();
  if (events_) events_->leave_socket_to_exit();
}

bool Deliverer::live(const std::shared_ptr<Pair>& p) const {
  auto it = pairs_.find({p->webhook, p->profile});
  return it != pairs_.end() && it->second == p;
}

void Deliverer::scan() {
  if (scanning_) {
    scan_again_ = true;
    return;
  }
  scanning_ = true;
  const uint64_t id = ++scans_started_;
  control_->request({{"cmd", "webhook_list"}, {"secrets", true}}, kControlTimeoutMs, [this, id](Result<json> r) {
    scanning_ = false;
    if (!r || !r->value("ok", false)) {
      if (reachable_)
        WA_WARN("webhook_list failed: %s", r ? error_code(*r).c_str() : r.error().message.c_str());
      reachable_ = false;
    } else {
      if (!reachable_) WA_INFO("the supervisor answers again");
      reachable_ = true;
      apply_list((*r)["result"], id);
    }
    if (scan_again_) {
      scan_again_ = false;
      scan();
    }
  });
}

void Deliverer::apply_list(const json& result, uint64_t scan_id) {
  if (result.contains("delivery")) {
    auto d = contract::webhook_delivery_from_json(result["delivery"]);
    if (d) {
      policy_ = *d;
    } else {
      WA_WARN("webhook_list: %s (keeping the delivery settings in force)", d.error().message.c_str());
    }
  }
  std::map<std::string, Webhook> hooks;
  std::map<Key, std::shared_ptr<Pair>> pairs;
  std::vector<std::shared_ptr<Pair>> to_pump;
  for (const auto& w : result.value("webhooks", json::array())) {
    const std::string name = w.value("name", "");
    if (name.empty() || !w.contains("secret")) continue;
    Webhook hook{w.value("url", ""), w.value("secret", ""), {}};
    for (const auto& t : w.value("events", json::array()))
      if (t.is_string()) hook.events.push_back(t.get<std::string>());
    hooks[name] = std::move(hook);
    for (const auto& d : w.value("deliveries", json::array())) {
      const std::string profile = d.value("profile", "");
      if (profile.empty()) continue;
      Key key{name, profile};
      auto old = pairs_.find(key);
      if (!d.contains("cursor")) {  // the supervisor could not read it now: keep what we have
        if (old != pairs_.end()) pairs[key] = old->second;
        continue;
      }
      std::shared_ptr<Pair> p;
      if (old != pairs_.end()) {
        p = old->second;
      } else {
        p = std::make_shared<Pair>();
        p->webhook = name;
        p->profile = profile;
      }
      const bool fresh = old == pairs_.end();
      if (fresh || (!p->busy && p->changed_at_scan < scan_id)) {
        // The supervisor's cursor is the truth (it moved under a purge or a
        // re-created webhook too); an in-flight ack brings its own.
        p->cursor = d.value("cursor", int64_t{0});
        const bool paused = d.value("state", "") == "paused";
        if (p->paused && !paused) {
          WA_INFO("[%s] webhook %s resumed at %lld", profile.c_str(), name.c_str(), static_cast<long long>(p->cursor));
          p->failures = 0;
          p->first_failure_ms = 0;
          if (p->retry) p->retry->stop();
        }
        p->paused = paused;
      }
      pairs[key] = p;
      // Only pairs with something to read (or a head the supervisor could
      // not read): an idle pair costs the scan nothing more.
      if (fresh || !d.contains("head") || !d["head"].is_number_integer() || d["head"].get<int64_t>() > p->cursor)
        to_pump.push_back(p);
    }
  }
  webhooks_ = std::move(hooks);
  pairs_ = std::move(pairs);  // pairs no longer listed are dropped; their callbacks find them gone
  for (auto& p : to_pump) pump(p);
}

void Deliverer::on_event(const std::string& profile, const json& event) {
  const std::string type = event.value("type", "");
  bool known = false;
  for (auto& [key, p] : pairs_) {
    if (key.second != profile) continue;
    known = true;
    pump(p);
  }
  // Pause and resume change a pair's state; a new profile may be covered.
  if (type == "webhook_resumed" || type == "webhook_paused" || (!known && type == "instance_started")) scan();
}

void Deliverer::pump(const std::shared_ptr<Pair>& p) {
  if (!live(p) || p->paused) return;
  if (p->busy) {
    p->again = true;
    return;
  }
  if (p->retry && p->retry->active()) return;
  p->busy = true;
  p->again = false;
  std::weak_ptr<Pair> weak = p;
  if (p->page <= 0 || p->page > policy_.batch_max) p->page = policy_.batch_max;
  json req{{"cmd", "events"}, {"profile", p->profile}, {"since", p->cursor}, {"limit", p->page}};
  control_->request(req, kControlTimeoutMs, [this, weak](Result<json> r) {
    auto self = weak.lock();
    if (!self || !live(self)) return;
    if (!r || !r->value("ok", false)) {
      WA_DEBUG("[%s] events: %s", self->profile.c_str(), r ? error_code(*r).c_str() : r.error().message.c_str());
      // No answer at all may be a page too large to carry: a smaller one next time.
      if (!r) self->page = std::max(1, self->page / 2);
      self->busy = false;
      retry_later(self, kControlRetryMs);
      return;
    }
    std::vector<json> page;
    for (auto& e : (*r)["result"].value("events", json::array()))
      if (e.is_object() && e.value("seq", int64_t{0}) > self->cursor) page.push_back(std::move(e));
    if (page.empty()) return done(self);
    deliver(self, std::move(page));
  });
}

void Deliverer::deliver(const std::shared_ptr<Pair>& p, std::vector<json> page) {
  const int64_t last = page.back().value("seq", int64_t{0});
  auto hook = webhooks_.find(p->webhook);
  if (hook == webhooks_.end()) return done(p);
  std::vector<json> batch;
  for (auto& e : page)
    if (wants(hook->second.events, e)) batch.push_back(std::move(e));
  // Nothing this webhook takes: the cursor still moves past them.
  if (batch.empty()) return ack(p, last);
  const int64_t now_s = wall_ms() / 1000;
  Request req = build_request(p->webhook, hook->second.secret, p->profile, batch, now_s);
  std::weak_ptr<Pair> weak = p;
  WA_DEBUG("[%s] webhook %s: POST %lld-%lld (%zu events)", p->profile.c_str(), p->webhook.c_str(),
           static_cast<long long>(req.first_seq), static_cast<long long>(req.last_seq), batch.size());
  http_->post(hook->second.url, req.headers, std::move(req.body), policy_.timeout_ms, [this, weak, last](HttpResult res) {
    auto self = weak.lock();
    if (!self || !live(self)) return;
    if (res.status >= 200 && res.status < 300) {
      self->failures = 0;
      self->first_failure_ms = 0;
      return ack(self, last);
    }
    if (res.status == 413) self->page = std::max(1, self->page / 2);  // the receiver's size limit
    failed(self, res.status != 0 ? "HTTP " + std::to_string(res.status) : res.error);
  });
}

void Deliverer::ack(const std::shared_ptr<Pair>& p, int64_t seq) {
  std::weak_ptr<Pair> weak = p;
  json req{{"cmd", "webhook_ack"}, {"name", p->webhook}, {"profile", p->profile}, {"seq", seq}};
  control_->request(req, kControlTimeoutMs, [this, weak](Result<json> r) {
    auto self = weak.lock();
    if (!self || !live(self)) return;
    self->busy = false;
    if (!r || !r->value("ok", false)) {
      // Not acked: the batch goes out again (a duplicate, never a gap).
      const std::string code = r ? error_code(*r) : r.error().code;
      WA_WARN("[%s] webhook %s: ack failed: %s", self->profile.c_str(), self->webhook.c_str(), code.c_str());
      if (code == "unknown_webhook") scan();
      retry_later(self, kControlRetryMs);
      return;
    }
    self->cursor = std::max(self->cursor, (*r)["result"].value("cursor", self->cursor));
    self->page = std::min(policy_.batch_max, self->page * 2);
    self->changed_at_scan = scans_started_;
    pump(self);  // more may be waiting: the next page at once
  });
}

void Deliverer::failed(const std::shared_ptr<Pair>& p, const std::string& why) {
  const int64_t now = wall_ms();
  ++p->failures;
  if (p->first_failure_ms == 0) p->first_failure_ms = now;
  WA_WARN("[%s] webhook %s: delivery after %lld failed (%d in a row): %s", p->profile.c_str(), p->webhook.c_str(),
          static_cast<long long>(p->cursor), p->failures, why.c_str());
  const bool give_up =
      p->failures >= policy_.pause_after_failures || now - p->first_failure_ms >= policy_.pause_after_ms;
  if (!give_up) {
    p->busy = false;
    retry_later(p, backoff_ms(p->failures, policy_.backoff_min_ms, policy_.backoff_max_ms, rng_()));
    return;
  }
  std::weak_ptr<Pair> weak = p;
  json req{{"cmd", "webhook_pause"},
           {"name", p->webhook},
           {"profile", p->profile},
           {"error", why},
           {"failures", p->failures}};
  control_->request(req, kControlTimeoutMs, [this, weak](Result<json> r) {
    auto self = weak.lock();
    if (!self || !live(self)) return;
    self->busy = false;
    if (!r || !r->value("ok", false)) {
      retry_later(self, kControlRetryMs);  // delivering again is harmless; the pause is tried again after
      return;
    }
    WA_WARN("[%s] webhook %s paused at %lld", self->profile.c_str(), self->webhook.c_str(), static_cast<long long>(self->cursor));
    self->paused = true;
    self->changed_at_scan = scans_started_;
  });
}

void Deliverer::retry_later(const std::shared_ptr<Pair>& p, int64_t delay_ms) {
  if (!p->retry) p->retry = std::make_unique<ipc::Timer>(loop_);
  std::weak_ptr<Pair> weak = p;
  p->retry->start(static_cast<uint64_t>(delay_ms), [this, weak] {
    auto self = weak.lock();
    if (self) pump(self);
  });
}

void Deliverer::done(const std::shared_ptr<Pair>& p) {
  p->busy = false;
  if (p->again) pump(p);
}

}  // namespace wa::webhooks
