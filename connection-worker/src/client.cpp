#include "client.hpp"

#include <chrono>

#include "client_payload.hpp"
#include "wa/store/open.hpp"
#include "wa/fs.hpp"
#include "wa/ipc/messages.hpp"
#include "wa/log.hpp"
#include "wa/store/sqlite_store.hpp"

namespace wa::connection {

using json = nlohmann::json;
using binary::Node;

namespace {

// The terminate hook runs from the loop, not from inside this object's
// close handling (the worker flushes its link, then tears everything down).
constexpr uint64_t kExitDeferMs = 0;

}  // namespace

Client::Client(uv_loop_t* loop, std::string profile, ClientSettings settings, Hooks hooks)
    : loop_(loop), profile_(std::move(profile)), settings_(std::move(settings)), hooks_(std::move(hooks)), iq_(loop),
      keepalive_(
          loop, settings_.ping_min_ms, settings_.ping_max_ms, settings_.ping_deadline_ms,
          [this](uint64_t deadline, std::function<void(bool)> answered) {
            Node ping("iq", {{"to", kServerJid}, {"type", "get"}, {"xmlns", "w:p"}}, binary::Children{Node("ping")});
            query(std::move(ping), [answered](Result<Node> r) {
              answered(r.has_value() || r.error().code.rfind("rejected:", 0) == 0);
            }, deadline);
          },
          [this] { drop({CloseAction::reconnect_backoff, "keepalive_timeout"}); }),
      reconnect_timer_(loop), connect_timer_(loop), reaper_(loop), exit_timer_(loop), pairing_(loop) {
  register_handlers();
}

Client::~Client() {
  phase_ = Phase::stopped;
  keepalive_.stop();
  iq_.fail_all(Error{"not_connected", "the connection worker is stopping"});
  ws_.reset();
  session_.reset();
  dead_ws_.clear();
  dead_sessions_.clear();
  ws_ctx_.reset();
}

void Client::emit(json ev) {
  if (hooks_.event) hooks_.event(std::move(ev));
}

void Client::emit_closed(const std::string& reason, std::optional<uint64_t> retry_ms) {
  json ev{{"type", "connection"}, {"state", "closed"}, {"reason", reason}};
  if (retry_ms) {
    ev["retry"] = true;
    ev["retry_in_ms"] = *retry_ms;
  } else {
    ev["retry"] = false;
  }
  emit(std::move(ev));
}

uint64_t Client::iq_timeout(uint64_t requested) const { return requested > 0 ? requested : settings_.iq_timeout_ms; }

Status Client::start() {
  if (settings_.data_dir.empty()) return fail("bad_settings", "no data_dir in the worker settings");
  std::string dir = settings_.data_dir + "/" + profile_;
  WA_TRY(fs::ensure_private_dir(settings_.data_dir));
  WA_TRY(fs::ensure_private_dir(dir));
  auto st = store::open(settings_.store);
  if (!st) return Unexpected<Error>{st.error()};
  store_ = std::move(*st);
  auto creds = load_or_create_credentials(*store_);
  if (!creds) return Unexpected<Error>{creds.error()};
  creds_ = std::move(*creds);
  routing_.load(*store_);
  auto ctx = WsContext::create(loop_, settings_.url.rfind("wss://", 0) == 0);
  if (!ctx) return Unexpected<Error>{ctx.error()};
  ws_ctx_ = std::move(*ctx);
  connect();
  return {};
}

void Client::stop() {
  if (phase_ == Phase::stopped) return;
  phase_ = Phase::stopped;
  keepalive_.stop();
  reconnect_timer_.stop();
  connect_timer_.stop();
  pairing_.qr_timer.stop();
  bury_connection();
  iq_.fail_all(Error{"not_connected", "the connection is stopping"});
  fail_pair_code_waiters(Error{"not_connected", "the connection is stopping"});
}

void Client::connect() {
  if (phase_ == Phase::stopped) return;
  ++gen_;
  ++attempt_;
  uint64_t gen = gen_;
  phase_ = Phase::connecting;
  pairing_.qr_refs.clear();
  pairing_.qr_shown = false;
  pairing_.code_sent = false;
  iq_.reset_prefix();
  uv_update_time(loop_);
  connect_started_ms_ = uv_now(loop_);
  emit({{"type", "connection"}, {"state", "connecting"}, {"attempt", attempt_}, {"retry", retrying_}});
  WsConnection::Callbacks cb;
  cb.on_open = [this, gen] { on_ws_open(gen); };
  cb.on_data = [this, gen](ByteView d) { on_ws_data(gen, d); };
  cb.on_closed = [this, gen](const Error& e) { on_ws_closed(gen, e); };
  auto ws = WsConnection::connect(*ws_ctx_, settings_.url, std::move(cb));
  if (!ws) {
    WA_WARN("cannot connect: %s", ws.error().message.c_str());
    drop({CloseAction::reconnect_backoff, "connect_failed"});
    return;
  }
  ws_ = std::move(*ws);
  connect_timer_.start(settings_.connect_timeout_ms, [this, gen] {
    if (gen != gen_) return;
    WA_WARN("no login answer within %llu ms", static_cast<unsigned long long>(settings_.connect_timeout_ms));
    drop({CloseAction::reconnect_backoff, "connect_timeout"});
  });
}

void Client::on_ws_open(uint64_t gen) {
  if (gen != gen_ || phase_ != Phase::connecting) return;
  Bytes payload;
  if (creds_.registered()) {
    auto p = login_payload(settings_, creds_);
    if (!p) {
      WA_ERROR("cannot build the login payload: %s", p.error().message.c_str());
      drop({CloseAction::reconnect_backoff, "bad_credentials"});
      return;
    }
    payload = std::move(*p);
  } else {
    payload = registration_payload(settings_, creds_);
  }
  noise::CertPolicy policy{settings_.root_public, noise::kWaRootSerial};
  NoiseSession::Callbacks cb;
  cb.write = [this, gen](Bytes b) {
    if (gen == gen_ && ws_) ws_->send(std::move(b));
  };
  cb.on_open = [] {};
  cb.on_node = [this, gen](Node n) { on_node(gen, std::move(n)); };
  cb.on_fail = [this, gen](const Error& e) { on_session_fail(gen, e); };
  session_ = std::make_unique<NoiseSession>(creds_.noise, policy, std::move(payload), routing_.bytes(), std::move(cb));
  phase_ = Phase::handshaking;
  if (auto st = session_->start(); !st) on_session_fail(gen, st.error());
}

void Client::on_ws_data(uint64_t gen, ByteView data) {
  if (gen != gen_ || !session_) return;
  session_->feed(data);
}

void Client::on_ws_closed(uint64_t gen, const Error& e) {
  if (gen != gen_) return;
  WA_INFO("socket closed: %s", e.message.c_str());
  drop({CloseAction::reconnect_backoff, e.code == "connect_failed" ? "connect_failed" : "connection_lost"});
}

void Client::on_session_fail(uint64_t gen, const Error& e) {
  if (gen != gen_) return;
  // Certificate errors name the check that failed: an operator pointing a
  // worker at a server under another root sees "cert_untrusted_root".
  WA_WARN("connection refused by the client: %s (%s)", e.code.c_str(), e.message.c_str());
  std::string reason = e.code.rfind("cert_", 0) == 0 ? e.code : "bad_stream:" + e.code;
  drop({CloseAction::reconnect_backoff, reason});
}

void Client::on_node(uint64_t gen, Node node) {
  if (gen != gen_ || phase_ == Phase::stopped) return;
  // Answers to our own requests, by id; then the table.
  if (iq_.resolve(node)) return;
  if (stanzas_.dispatch(node)) return;
  // Nobody took it: a notification is still acked (the server resends an
  // unacked one); anything else is ignored.
  if (node.tag == "notification") ack(node);
}

// The client's own rows of the stanza table; the worker adds the receive
// path's (Worker::on_init). Each handler returns true when it took the
// stanza, false to pass it on (see dispatch.hpp).
void Client::register_handlers() {
  auto always = [this](void (Client::*fn)(const Node&)) {
    return [this, fn](const Node& n) {
      (this->*fn)(n);
      return true;
    };
  };
  // connect: the ends of a stream, through the close policy.
  auto ends = [this](CloseDecision (*classify)(const Node&)) {
    return [this, classify](const Node& n) {
      drop(classify(n));
      return true;
    };
  };
  stanzas_.on("stream:error", ends(&classify_stream_error));
  stanzas_.on("failure", ends(&classify_failure));
  stanzas_.on("xmlstreamend", ends([](const Node&) { return CloseDecision{CloseAction::reconnect_backoff, "stream_end"}; }));
  // login, pairing, keepalive.
  stanzas_.on("success", always(&Client::on_success));
  stanzas_.on("iq", [this](const Node& n) { return on_pair_iq(n); });
  stanzas_.on("iq", [this](const Node& n) {
    if (n.attr_or("type", "") != "get" || n.attr_or("xmlns", "") != "urn:xmpp:ping") return false;
    (void)send_node(Node("iq", {{"to", kServerJid}, {"type", "result"}, {"id", std::string(n.attr_or("id", ""))}}));
    return true;
  });
  stanzas_.on_notification("link_code_companion_reg", always(&Client::on_link_code_notification));
  // prekeys: the server's count of ours ran low.
  stanzas_.on_notification("encrypt", [this](const Node& n) { return on_encrypt_notification(n); });
  // routing info and the offline queue; any other <ib> passes on.
  stanzas_.on("ib", [this](const Node& n) { return routing_.on_ib(n); });
  stanzas_.on("ib", [this](const Node& n) { return on_offline_preview(n); });
}

void Client::ack(const Node& node) {
  Node a("ack", {{"id", std::string(node.attr_or("id", ""))},
                 {"to", std::string(node.attr_or("from", kServerJid))},
                 {"class", node.tag}});
  if (auto type = node.attr("type")) a.set_attr("type", std::string(*type));
  if (auto p = node.attr("participant")) a.set_attr("participant", std::string(*p));
  (void)send_node(a);
}

// ---- requests ----

void Client::query(Node iq, IqTracker::Handler handler, uint64_t timeout_ms, bool raw_errors) {
  if (!session_ || !session_->open() || phase_ == Phase::stopped) {
    handler(fail("not_connected", "the account is not connected"));
    return;
  }
  std::string id(iq.attr_or("id", ""));
  if (id.empty()) {
    id = iq_.next_id();
    iq.set_attr("id", id);
  }
  iq_.expect(id, iq_timeout(timeout_ms), std::move(handler), raw_errors);
  if (auto st = send_node(iq); !st) iq_.fail_one(id, st.error());
}

void Client::relay(Node stanza, IqTracker::Handler handler, uint64_t timeout_ms) {
  std::string id(stanza.attr_or("id", ""));
  if (!session_ || !session_->open() || phase_ != Phase::open) {
    handler(fail("not_connected", "the account is not connected"));
    return;
  }
  if (id.empty()) {
    handler(fail("bad_request", "the stanza has no id"));
    return;
  }
  iq_.expect(id, iq_timeout(timeout_ms), std::move(handler));
  if (auto st = send_node(stanza); !st) iq_.fail_one(id, st.error());
}

Status Client::send_node(const Node& node) {
  if (!session_) return fail("not_connected", "the account is not connected");
  return session_->send(node);
}

// ---- closing ----

void Client::bury_connection() {
  connect_timer_.stop();
  pairing_.qr_timer.stop();
  keepalive_.stop();
  ++gen_;  // silences every callback of the old connection
  if (ws_) {
    ws_->close();
    dead_ws_.push_back(std::move(ws_));
  }
  if (session_) dead_sessions_.push_back(std::move(session_));
  reaper_.start(0, [this] {
    dead_ws_.clear();
    dead_sessions_.clear();
  });
}

void Client::drop(CloseDecision d) {
  if (phase_ == Phase::stopped) return;
  bool was_open = phase_ == Phase::open;
  bury_connection();
  iq_.fail_all(Error{"not_connected", "the connection was lost (" + d.reason + ")"});
  WA_INFO("connection ended: %s -> %s", d.reason.c_str(), to_string(d.action));
  switch (d.action) {
    case CloseAction::reconnect_now:
      emit_closed(d.reason, 0);
      schedule_reconnect(0, d.reason);
      return;
    case CloseAction::reconnect_backoff: {
      uint64_t delay = backoff_.next_ms();
      emit_closed(d.reason, delay);
      schedule_reconnect(delay, d.reason);
      return;
    }
    case CloseAction::logged_out: {
      if (!logout_reason_.empty()) d.reason = logout_reason_;
      phase_ = Phase::stopped;
      if (auto st = forget_credentials(*store_); !st)
        WA_ERROR("cannot remove the credentials: %s", st.error().message.c_str());
      // The Signal state belongs to the unlinked identity: no use to a new
      // pairing, and keys of a device that no longer exists.
      if (auto st = store::wipe_signal(settings_.store); !st)
        WA_ERROR("cannot remove the Signal state: %s", st.error().message.c_str());
      emit_closed(d.reason, std::nullopt);
      emit({{"type", "logged_out"}, {"reason", d.reason}});
      break;
    }
    case CloseAction::replaced:
      phase_ = Phase::stopped;
      emit_closed(d.reason, std::nullopt);
      emit({{"type", "replaced"}});
      break;
    case CloseAction::client_outdated:
      phase_ = Phase::stopped;
      emit_closed(d.reason, std::nullopt);
      emit({{"type", "client_outdated"},
            {"version", std::to_string(settings_.version[0]) + "." + std::to_string(settings_.version[1]) + "." +
                            std::to_string(settings_.version[2])}});
      break;
  }
  (void)was_open;
  fail_pair_code_waiters(Error{"not_connected", "the connection ended"});
  // The account stays down: the worker exits with kExitNoRestart once the
  // events above have left on the supervisor link.
  exit_timer_.start(kExitDeferMs, [this] {
    if (hooks_.terminate) hooks_.terminate(ipc::msg::kExitNoRestart);
  });
}

uint64_t Client::store_failed(const std::string& code) {
  if (phase_ == Phase::stopped) return 0;
  bury_connection();
  iq_.fail_all(Error{"not_connected", "the connection was closed: the store failed (" + code + ")"});
  uint64_t delay = store_backoff_.next_ms();
  WA_WARN("store failed (%s): connection closed, reconnecting in %llu ms", code.c_str(),
          static_cast<unsigned long long>(delay));
  emit_closed("store_unavailable", delay);
  schedule_reconnect(delay, "store_unavailable");
  return delay;
}

void Client::schedule_reconnect(uint64_t delay_ms, const std::string& reason) {
  phase_ = Phase::idle;
  retrying_ = true;
  ++reconnects_;
  WA_INFO("reconnecting in %llu ms (%s)", static_cast<unsigned long long>(delay_ms), reason.c_str());
  reconnect_timer_.start(delay_ms, [this] { connect(); });
}

}  // namespace wa::connection
