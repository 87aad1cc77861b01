#include "client.hpp"

#include <chrono>

#include "client_payload.hpp"
#include "pair.hpp"
#include "wa/binary/jid.hpp"
#include "wa/fs.hpp"
#include "wa/ipc/messages.hpp"
#include "wa/log.hpp"
#include "wa/signal/keys.hpp"
#include "wa/store/sqlite_store.hpp"

namespace wa::connection {

using json = nlohmann::json;
using binary::Node;

namespace {

constexpr const char* kServer = "@s.whatsapp.net";
// The terminate hook runs from the loop, not from inside this object's
// close handling (the worker flushes its link, then tears everything down).
constexpr uint64_t kExitDeferMs = 0;

Bytes be(uint32_t v, size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[n - 1 - i] = static_cast<uint8_t>(v >> (8 * i));
  return out;
}

Node bytes_node(std::string tag, ByteView b) { return Node(std::move(tag), {}, Bytes(b.begin(), b.end())); }

}  // namespace

Client::Client(uv_loop_t* loop, std::string profile, ClientSettings settings, Hooks hooks)
    : loop_(loop), profile_(std::move(profile)), settings_(std::move(settings)), hooks_(std::move(hooks)), iq_(loop),
      keepalive_(
          loop, settings_.ping_min_ms, settings_.ping_max_ms, settings_.ping_deadline_ms,
          [this](uint64_t deadline, std::function<void(bool)> answered) {
            Node ping("iq", {{"to", kServer}, {"type", "get"}, {"xmlns", "w:p"}}, binary::Children{Node("ping")});
            query(std::move(ping), [answered](Result<Node> r) {
              answered(r.has_value() || r.error().code.rfind("rejected:", 0) == 0);
            }, deadline);
          },
          [this] { drop({CloseAction::reconnect_backoff, "keepalive_timeout"}); }),
      reconnect_timer_(loop), connect_timer_(loop), qr_timer_(loop), reaper_(loop), exit_timer_(loop) {}

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
  auto st = store::open_sqlite(dir + "/store.db");
  if (!st) return Unexpected<Error>{st.error()};
  store_ = std::move(*st);
  auto creds = load_or_create_credentials(*store_);
  if (!creds) return Unexpected<Error>{creds.error()};
  creds_ = std::move(*creds);
  if (auto ri = store_->get_credential(store::cred::routing_info); ri && *ri && (*ri)->size() <= kMaxRoutingInfo)
    routing_info_ = std::move(**ri);
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
  qr_timer_.stop();
  bury_connection();
  iq_.fail_all(Error{"not_connected", "the connection is stopping"});
  for (auto& w : std::exchange(pair_code_waiters_, {})) w(fail("not_connected", "the connection is stopping"));
}

void Client::connect() {
  if (phase_ == Phase::stopped) return;
  ++gen_;
  ++attempt_;
  uint64_t gen = gen_;
  phase_ = Phase::connecting;
  qr_refs_.clear();
  qr_shown_ = false;
  pair_code_sent_ = false;
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
  session_ = std::make_unique<NoiseSession>(creds_.noise, policy, std::move(payload), routing_info_, std::move(cb));
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
  const std::string& tag = node.tag;
  if (tag == "stream:error") {
    drop(classify_stream_error(node));
    return;
  }
  if (tag == "xmlstreamend") {
    drop({CloseAction::reconnect_backoff, "stream_end"});
    return;
  }
  if (tag == "failure") {
    drop(classify_failure(node));
    return;
  }
  if (tag == "success") {
    on_success(node);
    return;
  }
  if (iq_.resolve(node)) return;
  if (tag == "iq") {
    std::string_view type = node.attr_or("type", "");
    if (type == "set" && node.child("pair-device") != nullptr) return on_pair_device(node);
    if (type == "set" && node.child("pair-success") != nullptr) return on_pair_success(node);
    if (type == "get" && node.attr_or("xmlns", "") == "urn:xmpp:ping") {
      (void)send_node(Node("iq", {{"to", kServer}, {"type", "result"}, {"id", std::string(node.attr_or("id", ""))}}));
      return;
    }
  }
  if (tag == "ib") {
    // edge_routing: kept for the "ED" prefix of the next intro (Baileys does
    // the same); offline_preview / offline / dirty belong to the receive path.
    if (const Node* er = node.child("edge_routing")) {
      const Node* ri = er->child("routing_info");
      if (ri != nullptr && ri->bytes() != nullptr && !ri->bytes()->empty() && ri->bytes()->size() <= kMaxRoutingInfo) {
        routing_info_ = *ri->bytes();
        if (auto st = store_->put_credential(store::cred::routing_info, routing_info_); !st)
          WA_WARN("cannot store routing info: %s", st.error().message.c_str());
      }
      return;
    }
    if (node.child("offline_preview") != nullptr) {
      // The server holds the offline queue until asked; like Baileys we take
      // it in batches of kOfflineBatch (the server sends the next batch once
      // this one is answered, so a long queue never floods the receive path).
      Node batch("offline_batch", {{"count", std::to_string(kOfflineBatch)}});
      (void)send_node(Node("ib", {}, binary::Children{std::move(batch)}));
      return;
    }
    if (on_stanza) on_stanza(node);
    return;
  }
  if (tag == "notification") {
    std::string_view type = node.attr_or("type", "");
    if (type == "link_code_companion_reg") return on_link_code_notification(node);
    if (type == "encrypt" && node.child("count") != nullptr && node.attr_or("from", "") == kServer)
      return on_encrypt_notification(node);
  }
  if (on_stanza) {
    on_stanza(node);
    return;
  }
  if (tag == "notification") ack(node);
}

void Client::ack(const Node& node) {
  Node a("ack", {{"id", std::string(node.attr_or("id", ""))},
                 {"to", std::string(node.attr_or("from", kServer))},
                 {"class", node.tag}});
  if (auto type = node.attr("type")) a.set_attr("type", std::string(*type));
  if (auto p = node.attr("participant")) a.set_attr("participant", std::string(*p));
  (void)send_node(a);
}

// ---- registration / pairing ----

void Client::on_pair_device(const Node& node) {
  (void)send_node(Node("iq", {{"to", kServer}, {"type", "result"}, {"id", std::string(node.attr_or("id", ""))}}));
  if (creds_.registered()) return;
  connect_timer_.stop();
  phase_ = Phase::pairing;
  for (auto& r : pair_device_refs(node)) qr_refs_.push_back(std::move(r));
  if (pair_code_ && !pair_code_sent_) send_pair_code_hello();
  // With a pairing code on the way the QR codes are still shown: whichever
  // the user completes first wins.
  show_next_qr();
}

void Client::show_next_qr() {
  if (phase_ != Phase::pairing) return;
  if (qr_refs_.empty()) {
    drop({CloseAction::reconnect_backoff, "qr_refs_exhausted"});
    return;
  }
  std::string ref = std::move(qr_refs_.front());
  qr_refs_.pop_front();
  uint64_t ttl = qr_shown_ ? kNextQrMs : kFirstQrMs;
  qr_shown_ = true;
  emit({{"type", "qr"}, {"qr", make_qr_string(ref, creds_, companion_platform_id(settings_))}, {"ttl_ms", ttl}});
  uint64_t gen = gen_;
  qr_timer_.start(ttl, [this, gen] {
    if (gen == gen_) show_next_qr();
  });
}

void Client::on_pair_success(const Node& node) {
  qr_timer_.stop();
  auto ok = verify_pair_success(node, creds_);
  if (!ok) {
    WA_WARN("pairing refused: %s", ok.error().message.c_str());
    (void)send_node(pair_error_reply(node.attr_or("id", ""), ok.error()));
    drop({CloseAction::reconnect_backoff, "pair_" + ok.error().code});
    return;
  }
  // Persist before answering: once the phone has our signature the link
  // exists, and losing it to a crash would orphan the device.
  if (auto st = save_pairing(*store_, ok->identity, creds_.adv_secret); !st) {
    WA_ERROR("cannot store the pairing: %s", st.error().message.c_str());
    (void)send_node(pair_error_reply(node.attr_or("id", ""), Error{"pair_malformed", "internal"}));
    drop({CloseAction::reconnect_backoff, "store_failed"});
    return;
  }
  creds_.jid = ok->identity.jid;
  creds_.lid = ok->identity.lid;
  creds_.platform = ok->identity.platform;
  creds_.account = ok->identity.account;
  pair_code_.reset();
  for (auto& w : std::exchange(pair_code_waiters_, {})) w(fail("already_paired", "paired by QR code"));
  WA_INFO("paired as device %s", creds_.jid.c_str());
  emit({{"type", "paired"}, {"jid", creds_.jid}, {"lid", creds_.lid}, {"platform", creds_.platform}});
  (void)send_node(ok->reply);
  // The server now ends the stream with 515 and we log in.
}

void Client::request_pair_code(const std::string& phone, std::function<void(Result<std::string>)> done) {
  if (creds_.registered()) return done(fail("already_paired", "this profile is already linked to an account"));
  if (phase_ == Phase::stopped) return done(fail("not_connected", "the connection is stopping"));
  auto req = new_pair_code_request(phone);
  if (!req) return done(Unexpected<Error>{req.error()});
  pair_code_ = std::move(*req);
  pair_code_waiters_.push_back(std::move(done));
  pair_code_sent_ = false;
  if (phase_ == Phase::pairing) send_pair_code_hello();
  // Otherwise it goes out when the server offers pairing (pair-device).
}

void Client::send_pair_code_hello() {
  if (!pair_code_) return;
  pair_code_sent_ = true;
  std::string id = iq_.next_id();
  Node hello = companion_hello_iq(*pair_code_, creds_, settings_, id);
  std::string code = pair_code_->code;
  iq_.expect(id, settings_.iq_timeout_ms, [this, code](Result<Node> r) {
    auto waiters = std::exchange(pair_code_waiters_, {});
    if (!r) {
      for (auto& w : waiters) w(Unexpected<Error>{r.error()});
      return;
    }
    emit({{"type", "pairing_code"}, {"code", code}});
    for (auto& w : waiters) w(code);
  });
  if (auto st = send_node(hello); !st) iq_.fail_one(id, st.error());
}

void Client::on_link_code_notification(const Node& node) {
  ack(node);
  if (!pair_code_ || creds_.registered()) return;
  auto finish = companion_finish(node, *pair_code_, creds_);
  if (!finish) {
    WA_WARN("code pairing refused: %s", finish.error().message.c_str());
    return;
  }
  // The pair-success that follows is authenticated with the derived secret.
  secure_wipe(creds_.adv_secret);
  creds_.adv_secret = std::move(finish->adv_secret);
  Node iq("iq", {{"to", kServer}, {"type", "set"}, {"xmlns", "md"}}, binary::Children{std::move(finish->content)});
  query(std::move(iq), [](Result<Node> r) {
    if (!r) WA_WARN("companion_finish was not accepted: %s", r.error().code.c_str());
  });
}

// ---- login ----

void Client::on_success(const Node& node) {
  if (!creds_.registered()) {
    drop({CloseAction::reconnect_backoff, "unexpected_success"});
    return;
  }
  connect_timer_.stop();
  phase_ = Phase::logging_in;
  if (auto lid = node.attr("lid"); lid && !lid->empty() && creds_.lid != *lid) {
    creds_.lid = std::string(*lid);
    (void)store_->put_credential(store::cred::own_lid, as_bytes(creds_.lid));
  }
  keepalive_.start();
  check_prekeys();
}

void Client::check_prekeys() {
  Node count("iq", {{"to", kServer}, {"type", "get"}, {"xmlns", "encrypt"}}, binary::Children{Node("count")});
  query(std::move(count), [this](Result<Node> r) {
    if (!r) {
      if (r.error().code == "not_connected") return;
      drop({CloseAction::reconnect_backoff, "prekey_count_" + r.error().code});
      return;
    }
    size_t on_server = 0;
    if (const Node* c = r->child("count")) on_server = std::strtoul(std::string(c->attr_or("value", "0")).c_str(), nullptr, 10);
    auto uploaded = store_->count_prekeys(true);
    size_t want = 0;
    if (uploaded && *uploaded == 0 && on_server == 0) {
      want = kInitialPreKeys;
    } else if (on_server <= kPreKeyLowWater) {
      want = kPreKeyRefill;
    }
    if (want == 0) return set_passive_active();
    upload_prekeys(want, [this] { set_passive_active(); });
  });
}

void Client::upload_prekeys(size_t count, std::function<void()> then) {
  // Keys generated before a crash but never uploaded go first.
  auto pending = store_->prekeys_not_uploaded(count);
  if (!pending) {
    WA_ERROR("prekeys: %s", pending.error().message.c_str());
    return then();
  }
  std::vector<store::PreKey> keys = std::move(*pending);
  if (keys.size() < count) {
    auto fresh = signal::generate_and_store_prekeys(*store_, count - keys.size());
    if (!fresh) {
      WA_ERROR("cannot generate prekeys: %s", fresh.error().message.c_str());
      return then();
    }
    for (auto& k : *fresh) keys.push_back(std::move(k));
  }
  binary::Children list;
  std::vector<uint32_t> ids;
  list.reserve(keys.size());
  for (auto& k : keys) {
    list.emplace_back("key", binary::Attrs{}, binary::Children{bytes_node("id", be(k.id, 3)), bytes_node("value", k.pub)});
    ids.push_back(k.id);
    secure_wipe(k.priv);
  }
  const auto& spk = creds_.signed_prekey;
  Node skey("skey", {}, binary::Children{bytes_node("id", be(spk.id, 3)), bytes_node("value", spk.pub),
                                        bytes_node("signature", spk.signature)});
  Node iq("iq", {{"to", kServer}, {"type", "set"}, {"xmlns", "encrypt"}},
          binary::Children{bytes_node("registration", be(creds_.registration_id, 4)), bytes_node("type", Bytes{5}),
                           bytes_node("identity", creds_.identity.pub), Node("list", {}, std::move(list)), std::move(skey)});
  query(std::move(iq), [this, ids = std::move(ids), then = std::move(then)](Result<Node> r) {
    if (!r) {
      if (r.error().code == "not_connected") return;
      if (r.error().code == "timeout") return drop({CloseAction::reconnect_backoff, "prekey_upload_timeout"});
      WA_WARN("prekey upload refused: %s", r.error().code.c_str());
      return then();
    }
    if (auto st = store_->mark_prekeys_uploaded(ids); !st) WA_ERROR("prekeys: %s", st.error().message.c_str());
    WA_INFO("uploaded %zu prekeys", ids.size());
    then();
  });
}

void Client::on_encrypt_notification(const Node& node) {
  ack(node);
  if (phase_ != Phase::open) return;
  size_t n = std::strtoul(std::string(node.child("count")->attr_or("value", "0")).c_str(), nullptr, 10);
  if (n <= kPreKeyLowWater) upload_prekeys(kPreKeyRefill, [] {});
}

void Client::set_passive_active() {
  Node iq("iq", {{"to", kServer}, {"type", "set"}, {"xmlns", "passive"}}, binary::Children{Node("active")});
  query(std::move(iq), [this](Result<Node> r) {
    if (!r) {
      if (r.error().code == "not_connected") return;
      if (r.error().code == "timeout") return drop({CloseAction::reconnect_backoff, "passive_timeout"});
      WA_WARN("passive active refused: %s", r.error().code.c_str());
    }
    become_open();
  });
}

void Client::become_open() {
  if (phase_ != Phase::logging_in) return;
  phase_ = Phase::open;
  backoff_.reset();
  retrying_ = false;
  attempt_ = 0;
  uv_update_time(loop_);
  uint64_t took = uv_now(loop_) - connect_started_ms_;
  WA_INFO("logged in (%llu ms after connecting)", static_cast<unsigned long long>(took));
  // connect_ms: socket + handshake + login + prekey check + passive, as the
  // worker measured it (the benchmark's number).
  emit({{"type", "connection"}, {"state", "open"}, {"jid", creds_.jid}, {"lid", creds_.lid}, {"connect_ms", took}});
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
  qr_timer_.stop();
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
      phase_ = Phase::stopped;
      if (auto st = forget_credentials(*store_); !st)
        WA_ERROR("cannot remove the credentials: %s", st.error().message.c_str());
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
  for (auto& w : std::exchange(pair_code_waiters_, {})) w(fail("not_connected", "the connection ended"));
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
